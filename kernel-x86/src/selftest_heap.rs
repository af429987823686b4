//! Self-test of the kernel heap: random allocations of mixed sizes and alignments.
//!
//! Each block is filled with its own tag and checked before it is freed, so two live
//! blocks that overlap are caught; once everything is freed the free list must hold
//! exactly the bytes and the number of blocks it held before (frees coalesce). The
//! sequence comes from a fixed-seed xorshift, so every boot runs the same one.

use alloc::alloc::{alloc, dealloc, Layout};
use alloc::vec::Vec;

use crate::heap;
use crate::selftest::check;

const STEPS: u32 = 4_000;
const MAX_LIVE: usize = 256;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Checks every byte of a live block still holds its tag, then frees it.
fn verify_and_free(p: *mut u8, layout: Layout, tag: u8) -> bool {
    // SAFETY: `p` is a live allocation of `layout` made by `run`, filled with `tag`.
    let intact = unsafe { core::slice::from_raw_parts(p, layout.size()) }.iter().all(|&b| b == tag);
    // SAFETY: same allocation, freed exactly once.
    unsafe { dealloc(p, layout) };
    intact
}

/// Runs the allocation storm and checks the heap came back whole.
pub fn run() {
    let mut live: Vec<(*mut u8, Layout, u8)> = Vec::with_capacity(MAX_LIVE);
    let (free_before, blocks_before) = heap::stats();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut allocs) = (true, 0u32);
    for step in 0..STEPS {
        let r = rng.next();
        if live.len() < MAX_LIVE && (!r.is_multiple_of(3) || live.is_empty()) {
            let size = 1 + (r >> 8) as usize % 2048;
            let align = 1usize << ((r >> 24) % 8);
            let Ok(layout) = Layout::from_size_align(size, align) else { continue };
            // SAFETY: non-zero size.
            let p = unsafe { alloc(layout) };
            if p.is_null() || !(p as usize).is_multiple_of(align) {
                ok = false;
                break;
            }
            let tag = step as u8;
            // SAFETY: `p` is a fresh allocation of `size` bytes.
            unsafe { core::ptr::write_bytes(p, tag, size) };
            live.push((p, layout, tag));
            allocs += 1;
        } else {
            let (p, layout, tag) = live.swap_remove((r >> 8) as usize % live.len());
            ok &= verify_and_free(p, layout, tag);
        }
    }
    for (p, layout, tag) in live.drain(..) {
        ok &= verify_and_free(p, layout, tag);
    }
    let (free_after, blocks_after) = heap::stats();
    check(
        ok && free_after == free_before && blocks_after == blocks_before,
        format_args!(
            "heap: {allocs} random allocations intact; {free_after}/{free_before} bytes and \
             {blocks_after}/{blocks_before} free blocks after freeing all"
        ),
    );
}
