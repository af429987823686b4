//! The kernel heap: an address-ordered first-fit free list over a static region.
//!
//! Free blocks hold their own `{size, next}` header; freeing coalesces with both
//! neighbours. Sizes and addresses are multiples of 16, so every remainder is either
//! empty or large enough for a header. The lock masks hardware interrupts, so an
//! interrupt on the same CPU can never spin on a lock its own CPU holds.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{hw_irq_restore, hw_irq_save};

/// Heap size: ample for per-CPU state of 8 CPUs and the test's allocations.
const HEAP_SIZE: usize = 8 << 20;
const UNIT: usize = 16;

#[repr(C, align(4096))]
struct Region([u8; HEAP_SIZE]);

static mut REGION: Region = Region([0; HEAP_SIZE]);

struct Node {
    size: usize,
    next: *mut Node,
}

/// The `#[global_allocator]`.
pub struct KernelHeap {
    lock: AtomicBool,
    head: core::cell::UnsafeCell<*mut Node>,
}

// SAFETY: `head` and the list are only touched with `lock` held.
unsafe impl Sync for KernelHeap {}

#[global_allocator]
static HEAP: KernelHeap =
    KernelHeap { lock: AtomicBool::new(false), head: core::cell::UnsafeCell::new(ptr::null_mut()) };

const fn round_up(v: usize, a: usize) -> usize {
    (v + a - 1) & !(a - 1)
}

/// Hands the static region to the allocator. Called once, first thing in `kmain`.
pub fn init() {
    // SAFETY: called once on the bootstrap CPU before any allocation; REGION is used
    // by nothing else.
    unsafe {
        let base = ptr::addr_of_mut!(REGION) as *mut Node;
        base.write(Node { size: HEAP_SIZE, next: ptr::null_mut() });
        *HEAP.head.get() = base;
    }
}

impl KernelHeap {
    fn with_lock<R>(&self, f: impl FnOnce(&mut *mut Node) -> R) -> R {
        let was = hw_irq_save();
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the list head.
        let r = f(unsafe { &mut *self.head.get() });
        self.lock.store(false, Ordering::Release);
        hw_irq_restore(was);
        r
    }
}

/// Inserts `[addr, addr+size)` in address order, merging with adjacent free blocks.
///
/// # Safety
/// The range must be unused heap memory, 16-aligned, size a non-zero multiple of 16.
unsafe fn insert_free(head: &mut *mut Node, addr: usize, size: usize) {
    let mut prev: *mut Node = ptr::null_mut();
    let mut cur = *head;
    // SAFETY: every node on the list is a valid free block (list invariant).
    unsafe {
        while !cur.is_null() && (cur as usize) < addr {
            prev = cur;
            cur = (*cur).next;
        }
        let node = addr as *mut Node;
        node.write(Node { size, next: cur });
        if !cur.is_null() && addr + size == cur as usize {
            (*node).size += (*cur).size;
            (*node).next = (*cur).next;
        }
        if prev.is_null() {
            *head = node;
        } else if prev as usize + (*prev).size == addr {
            (*prev).size += (*node).size;
            (*prev).next = (*node).next;
        } else {
            (*prev).next = node;
        }
    }
}

// SAFETY: blocks handed out are disjoint ranges of REGION that are off the free list
// until `dealloc` returns them; alignment is honoured by construction.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = round_up(layout.size().max(1), UNIT);
        let align = layout.align().max(UNIT);
        self.with_lock(|head| {
            let mut prev: *mut *mut Node = head;
            // SAFETY: list invariant as in `insert_free`; remainders go back through it.
            unsafe {
                let mut cur = *prev;
                while !cur.is_null() {
                    let start = cur as usize;
                    let end = start + (*cur).size;
                    let a = round_up(start, align);
                    if a + size <= end {
                        *prev = (*cur).next;
                        if a > start {
                            insert_free(head, start, a - start);
                        }
                        if end > a + size {
                            insert_free(head, a + size, end - (a + size));
                        }
                        return a as *mut u8;
                    }
                    prev = ptr::addr_of_mut!((*cur).next);
                    cur = *prev;
                }
            }
            ptr::null_mut()
        })
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let size = round_up(layout.size().max(1), UNIT);
        // SAFETY: `p` came from `alloc` with this layout, so it is an in-use block of
        // `size` bytes.
        self.with_lock(|head| unsafe { insert_free(head, p as usize, size) });
    }
}

/// Free bytes and number of free blocks (a fully coalesced heap has few blocks).
pub fn stats() -> (usize, usize) {
    HEAP.with_lock(|head| {
        let (mut bytes, mut blocks) = (0, 0);
        let mut cur = *head;
        while !cur.is_null() {
            // SAFETY: list invariant (see `insert_free`).
            unsafe {
                bytes += (*cur).size;
                cur = (*cur).next;
            }
            blocks += 1;
        }
        (bytes, blocks)
    })
}
