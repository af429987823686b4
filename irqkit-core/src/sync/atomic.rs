//! Atomics shim: `core::sync::atomic` normally, loom's atomics under `cfg(loom)`.

#[cfg(loom)]
pub use loom::sync::atomic::{
    fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
    AtomicUsize, Ordering,
};

#[cfg(not(loom))]
pub use core::sync::atomic::{
    fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
    AtomicUsize, Ordering,
};

/// Spins before a spin-wait starts yielding the host thread (hosted builds only).
#[cfg(all(feature = "std", not(loom)))]
const SPINS_BEFORE_YIELD: u32 = 64;

/// Backoff for a spin-wait loop: pauses, and — in hosted builds (feature `std`) — once
/// the wait is long, yields the host thread. A virtual CPU's lock holder may have been
/// descheduled by the host, as a vCPU is by a hypervisor; spinning on would only burn
/// the time it needs to run (Linux's paravirt spinlocks answer the same problem).
#[derive(Debug, Default)]
pub struct SpinWait {
    spins: u32,
}

impl SpinWait {
    /// A fresh wait.
    pub const fn new() -> Self {
        SpinWait { spins: 0 }
    }

    /// One step of waiting.
    #[inline]
    pub fn spin(&mut self) {
        #[cfg(all(feature = "std", not(loom)))]
        if self.spins >= SPINS_BEFORE_YIELD {
            std::thread::yield_now();
            return;
        }
        self.spins = self.spins.saturating_add(1);
        spin_hint();
    }
}

/// Spin-wait hint: a CPU pause normally, a loom yield under the model checker.
#[inline]
pub fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
