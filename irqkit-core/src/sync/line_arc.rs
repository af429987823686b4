//! [`LineArc`]: a shared, reference-counted value whose block starts on a cache line.
//!
//! `Arc<T>` puts its two counts in front of `T` in an allocation aligned only to 8
//! or 16 bytes, so a 56-byte block straddles two cache lines in most placements.
//! For a value that two CPUs hand back and forth — a work item, claimed by the
//! queueing CPU and released by the worker that runs it — each line it spans is
//! one more transfer each way. `LineArc` keeps one count (no weak handles) and
//! allocates the block aligned to [`LINE`], so a block of up to 64 bytes is always
//! one line, whatever the allocator's placement.

use alloc::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::sync::atomic::{fence, AtomicUsize, Ordering};

/// The cache line a block is aligned to (x86-64 and most arm64 cores).
pub const LINE: usize = 64;

/// Counts above this are refused: a count can never wrap to zero (as `Arc` does).
const MAX_REFS: usize = isize::MAX as usize;

#[repr(C)]
struct Block<T> {
    refs: AtomicUsize,
    value: T,
}

/// A shared `T` with one atomic count, its block aligned to a cache line.
pub struct LineArc<T> {
    ptr: NonNull<Block<T>>,
    _owns: PhantomData<Block<T>>,
}

// SAFETY: as `Arc<T>`: handles on other threads share `&T` and the last one drops
// the `T` wherever it is, so `T` must be both `Send` and `Sync`.
unsafe impl<T: Send + Sync> Send for LineArc<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for LineArc<T> {}

impl<T> LineArc<T> {
    /// The block's layout: `Block<T>` at cache-line alignment (its size unchanged).
    fn layout() -> Layout {
        // A valid alignment (a power of two) for any size that `Block<T>` has.
        Layout::new::<Block<T>>().align_to(LINE).expect("cache-line layout")
    }

    /// Moves `value` into a new block with a count of one.
    pub fn new(value: T) -> Self {
        let layout = Self::layout();
        // SAFETY: the layout has a non-zero size (the count alone is 8 bytes).
        let raw = unsafe { alloc(layout) }.cast::<Block<T>>();
        let Some(ptr) = NonNull::new(raw) else { handle_alloc_error(layout) };
        // SAFETY: freshly allocated for `Block<T>`, aligned, and not yet shared.
        unsafe { ptr.as_ptr().write(Block { refs: AtomicUsize::new(1), value }) };
        LineArc { ptr, _owns: PhantomData }
    }

    /// Bytes of a block: the count and the value (the allocation is aligned to
    /// [`LINE`] but not padded to it).
    pub const fn block_size() -> usize {
        core::mem::size_of::<Block<T>>()
    }

    /// The address of the value (stable for the life of the block).
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: the block is alive while `this` counts it.
        unsafe { core::ptr::addr_of!((*this.ptr.as_ptr()).value) }
    }

    /// True if both handles name the same block.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// A second handle on the same block that took no count: the caller must not
    /// let it drop (wrap it in `ManuallyDrop`), and must use it only while a
    /// counted handle keeps the block alive.
    ///
    /// # Safety
    ///
    /// Dropping the copy, or using it after the last counted handle went, is a
    /// use after free.
    pub unsafe fn uncounted_copy(this: &Self) -> Self {
        LineArc { ptr: this.ptr, _owns: PhantomData }
    }

    fn block(&self) -> &Block<T> {
        // SAFETY: the block is alive while this handle counts it (or, for an
        // uncounted copy, while its caller's counted handle does).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Clone for LineArc<T> {
    fn clone(&self) -> Self {
        // Relaxed, as `Arc`: a new handle is made from a live one, which keeps the
        // block alive across the increment; nothing is published by it.
        let old = self.block().refs.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFS {
            self.block().refs.fetch_sub(1, Ordering::Relaxed);
            panic!("LineArc count overflow");
        }
        LineArc { ptr: self.ptr, _owns: PhantomData }
    }
}

impl<T> Deref for LineArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.block().value
    }
}

impl<T> Drop for LineArc<T> {
    fn drop(&mut self) {
        // Release: every use of the value through this handle happens before the
        // drop of the value; the last handle's Acquire fence pairs with all of them.
        if self.block().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so this was the last handle: nobody else
        // can reach the block. It was allocated in `new` with this layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr().cast(), Self::layout());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use core::sync::atomic::AtomicU32;

    struct Dropped(Arc<AtomicU32>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_block_starts_on_a_cache_line() {
        let keep: alloc::vec::Vec<LineArc<[u8; 40]>> =
            (0..64).map(|_| LineArc::new([0; 40])).collect();
        for a in &keep {
            assert_eq!(LineArc::as_ptr(a) as usize % LINE, 8, "value right after the count");
        }
    }

    #[test]
    fn the_value_drops_once_with_the_last_handle() {
        let n = Arc::new(AtomicU32::new(0));
        let a = LineArc::new(Dropped(n.clone()));
        let b = a.clone();
        assert!(LineArc::ptr_eq(&a, &b));
        drop(a);
        assert_eq!(n.load(Ordering::Relaxed), 0);
        drop(b);
        assert_eq!(n.load(Ordering::Relaxed), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;

    /// The count's orderings: a value written through one handle before its drop
    /// is seen by whichever thread drops the last handle (and so drops the value).
    #[test]
    fn last_handle_sees_every_write_and_drops_once() {
        loom::model(|| {
            let seen = Arc::new(AtomicUsize::new(0));
            struct Cell(crate::sync::atomic::AtomicUsize, Arc<AtomicUsize>);
            impl Drop for Cell {
                fn drop(&mut self) {
                    let v = self.0.load(Ordering::Relaxed);
                    self.1.fetch_add(v + 1, Ordering::Relaxed);
                }
            }
            let a = LineArc::new(Cell(AtomicUsize::new(0), seen.clone()));
            let b = a.clone();
            let t = loom::thread::spawn(move || {
                b.0.store(1, Ordering::Relaxed);
                drop(b);
            });
            drop(a);
            t.join().unwrap();
            // Dropped exactly once (+1), after the other thread's write (+1).
            assert_eq!(seen.load(Ordering::Relaxed), 2);
        });
    }
}
