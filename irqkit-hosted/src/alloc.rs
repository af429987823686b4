//! The irq-safe global allocator: every allocation runs with the CPU's soft mask set.
//!
//! Interrupts are signals and may land anywhere, including inside `malloc`. A handler
//! that allocates would then deadlock on the arena lock its own thread holds. Masking
//! around each call makes allocation in interrupt context as safe as `GFP_ATOMIC`: an
//! interrupt that arrives mid-allocation is deferred to the end of it.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::thread_ctx;

/// `System` with the current virtual CPU's soft interrupt mask held around each call.
/// Threads that are not on a virtual CPU allocate directly.
pub struct IrqSafeAlloc;

// SAFETY: every method forwards to `System` with the same arguments; masking only
// changes when interrupts are taken, not what the allocator returns.
unsafe impl GlobalAlloc for IrqSafeAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we forward unchanged.
        thread_ctx::with_irqs_masked(|| unsafe { System.alloc(layout) })
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, `ptr` came from `System` through this allocator.
        thread_ctx::with_irqs_masked(|| unsafe { System.dealloc(ptr, layout) })
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        thread_ctx::with_irqs_masked(|| unsafe { System.alloc_zeroed(layout) })
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is forwarded unchanged.
        thread_ctx::with_irqs_masked(|| unsafe { System.realloc(ptr, layout, new_size) })
    }
}
