//! Pinned per-CPU accesses: what makes a thread preempted at interrupt exit free to
//! resume on another CPU.
//!
//! In a kernel, a per-CPU operation made while preemptible (`this_cpu_inc`,
//! `preempt_disable` on x86) is one instruction, so an interrupt lands before or
//! after it, never between finding the CPU and using it; the scheduler may then move
//! a thread preempted at interrupt exit (Linux's stopper does so at once when its
//! CPU goes down). irqkit's accesses take two steps, find the CPU's state and then
//! change it, so each step pair that a preemptible caller makes is marked with a
//! per-thread count ([`CpuPin`]): a thread preempted inside one resumes on its CPU
//! (`Thread::irq_preempted`), one preempted anywhere else may move. The count is a
//! thread-local, so it needs `std`; a platform moves such threads only if it asks
//! to ([`crate::Platform::moves_irq_preempted`]) and the count exists. Otherwise
//! every thread preempted at interrupt exit resumes on its CPU, and a mark costs
//! nothing.

#[cfg(any(test, feature = "testing", feature = "std"))]
use std::cell::Cell;

use crate::cpu::CpuState;
use crate::IrqSystem;

/// True if this build has the per-thread count, so that a thread preempted at
/// interrupt exit may move.
pub(crate) const PIN_MARKS: bool = cfg!(any(test, feature = "testing", feature = "std"));

#[cfg(any(test, feature = "testing", feature = "std"))]
std::thread_local! {
    /// Nesting depth of the calling thread's per-CPU accesses. A `const` Cell: one
    /// `%fs`-relative add, with no lazy registration, so a signal handler may touch it.
    static PIN: Cell<u32> = const { Cell::new(0) };
}

/// A per-CPU access in progress on the calling thread: until it drops, a preemption
/// at interrupt exit leaves the thread on its CPU. Marks nest; no other switch may
/// happen inside one (debug builds check). A runtime takes one where its own code
/// finds the CPU while preemptible (an interrupt prologue, a soft-mask helper); the
/// core takes them in its primitives.
#[must_use = "the access ends when the pin is dropped"]
pub struct CpuPin(());

impl CpuPin {
    /// Enters a per-CPU access on the calling thread.
    #[inline]
    pub fn new() -> CpuPin {
        #[cfg(any(test, feature = "testing", feature = "std"))]
        PIN.with(|c| c.set(c.get() + 1));
        CpuPin(())
    }

    /// True while the calling thread is inside a per-CPU access. Asked on the
    /// interrupted thread at interrupt exit, where it decides whether that thread
    /// may move.
    #[inline]
    pub fn held() -> bool {
        #[cfg(any(test, feature = "testing", feature = "std"))]
        return PIN.with(|c| c.get()) != 0;
        #[cfg(not(any(test, feature = "testing", feature = "std")))]
        return true;
    }
}

impl Default for CpuPin {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CpuPin {
    #[inline]
    fn drop(&mut self) {
        #[cfg(any(test, feature = "testing", feature = "std"))]
        PIN.with(|c| c.set(c.get() - 1));
    }
}

impl IrqSystem {
    /// Begins a per-CPU access made while the caller may be preempted (the state of
    /// `this_cpu` is found, then used): until the pin drops, preemption at interrupt
    /// exit leaves the caller on its CPU. Only an interrupt-exit switch may happen
    /// inside (debug builds check).
    #[inline]
    pub(crate) fn pin_cpu(&self) -> CpuPin {
        CpuPin::new()
    }

    /// Runs `f` on the caller's CPU state inside a pinned access, so that it sees one
    /// CPU's state whole (a context query from preemptible code); `None` off the
    /// machine.
    #[inline]
    pub(crate) fn with_this_cpu<R>(&self, f: impl FnOnce(&CpuState) -> R) -> Option<R> {
        let _pin = self.pin_cpu();
        self.raw_this_cpu().map(f)
    }

    /// True if a thread preempted at interrupt exit now must resume on this CPU:
    /// always unless the platform moves such threads, else only inside an access.
    #[inline]
    pub(crate) fn irq_preemption_pins(&self) -> bool {
        !self.moves_irq_preempted() || CpuPin::held()
    }

    /// `check_preemption_disabled` (lib/smp_processor_id.c): where threads
    /// preempted at interrupt exit may move, the caller of `this_cpu` must not be
    /// movable: preemption or interrupts disabled, or inside a pinned access.
    #[inline]
    pub(crate) fn this_cpu_allowed(&self, cs: &CpuState) -> bool {
        !self.moves_irq_preempted()
            || cs.preempt_count() != 0
            || cs.irqs_disabled()
            || CpuPin::held()
    }
}
