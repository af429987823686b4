//! Pinned per-CPU accesses: what makes a thread preempted at interrupt exit free to
//! resume on another CPU.
//!
//! In a kernel, a per-CPU operation made while preemptible (`this_cpu_inc`,
//! `preempt_disable` on x86) is one instruction, so an interrupt lands before or
//! after it, never between finding the CPU and using it; the scheduler may then move
//! a thread preempted at interrupt exit (Linux's stopper does so at once when its
//! CPU goes down). irqkit's accesses take two steps, find the CPU's state and then
//! change it, so a platform that moves such a thread brackets each step pair with a
//! per-thread mark ([`CpuPinOps`]): a thread preempted inside one resumes on its CPU
//! (`Thread::irq_preempted`), one preempted anywhere else may move. A platform
//! without the marks never moves it, as before.

use crate::cpu::CpuState;
use crate::IrqSystem;

/// A platform's per-thread mark of a per-CPU access in progress
/// ([`crate::Platform::cpu_pin_ops`]); marks nest.
#[derive(Clone, Copy, Debug)]
pub struct CpuPinOps {
    /// Enters a per-CPU access on the calling thread.
    pub enter: fn(),
    /// Leaves the access [`CpuPinOps::enter`] began.
    pub exit: fn(),
    /// True while the calling thread is inside an access. Asked on the interrupted
    /// thread at interrupt exit, where it tells whether that thread may move.
    pub held: fn() -> bool,
}

/// A per-CPU access in progress: the caller resumes on this CPU whatever preempts
/// it at interrupt exit. Leaves the access on drop.
#[must_use = "the access ends when the pin is dropped"]
pub(crate) struct CpuPin<'a>(&'a IrqSystem);

impl Drop for CpuPin<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(p) = self.0.pin_ops() {
            (p.exit)();
        }
    }
}

impl IrqSystem {
    /// Begins a per-CPU access made while the caller may be preempted (the state of
    /// `this_cpu` is found, then used): until the pin drops, preemption at interrupt
    /// exit leaves the caller on its CPU. A voluntary switch must not happen inside.
    #[inline]
    pub(crate) fn pin_cpu(&self) -> CpuPin<'_> {
        if let Some(p) = self.pin_ops() {
            (p.enter)();
        }
        CpuPin(self)
    }

    /// True if a thread preempted at interrupt exit now must resume on this CPU:
    /// always on a platform without pin marks, else only inside an access.
    #[inline]
    pub(crate) fn irq_preemption_pins(&self) -> bool {
        self.pin_ops().is_none_or(|p| (p.held)())
    }

    /// `check_preemption_disabled` (lib/smp_processor_id.c): on a platform that moves
    /// threads preempted at interrupt exit, the caller of `this_cpu` must not be
    /// movable: preemption or interrupts disabled, or inside a pinned access.
    #[inline]
    pub(crate) fn this_cpu_allowed(&self, cs: &CpuState) -> bool {
        match self.pin_ops() {
            None => true,
            Some(p) => cs.preempt_count() != 0 || cs.irqs_disabled() || (p.held)(),
        }
    }
}
