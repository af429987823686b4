//! `CpuState`: the per-CPU words every context rule reads — preempt count, soft irq mask.

use crate::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use core::sync::atomic::{compiler_fence, Ordering};
use crossbeam_utils::CachePadded;

use super::{preempt, CpuId};

/// The saved soft-mask state returned by `local_irq_save`; pass it back to restore.
#[must_use = "restore the saved interrupt state with local_irq_restore"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrqFlags {
    pub(crate) was_disabled: bool,
    /// The CPU whose mask was saved. With interrupts masked nothing can migrate the
    /// caller, so restore can use it without asking the platform again; paths that
    /// switch threads in between restore with [`IrqFlags::anywhere`].
    pub(crate) cpu: u32,
}

/// `IrqFlags::cpu` when the restoring CPU must be looked up.
pub(crate) const ANY_CPU: u32 = u32::MAX;
/// `IrqFlags::cpu` of a lock taken in hard-irq context: nothing to restore.
const UNTOUCHED: u32 = u32::MAX - 1;

impl IrqFlags {
    /// Flags meaning "interrupts enabled", restored on whatever CPU the caller is on.
    pub(crate) const fn enabled() -> Self {
        IrqFlags { was_disabled: false, cpu: ANY_CPU }
    }

    /// Flags of a lock taken with interrupts already masked: restoring does nothing.
    pub(crate) const fn untouched() -> Self {
        IrqFlags { was_disabled: true, cpu: UNTOUCHED }
    }

    /// True for [`IrqFlags::untouched`].
    #[inline]
    pub(crate) const fn is_untouched(&self) -> bool {
        self.cpu == UNTOUCHED
    }

    /// The same state, restored on the caller's current CPU (after a switch).
    pub(crate) const fn anywhere(self) -> Self {
        IrqFlags { was_disabled: self.was_disabled, cpu: ANY_CPU }
    }

    /// True if interrupts were disabled when the flags were saved.
    pub fn irqs_disabled(&self) -> bool {
        self.was_disabled
    }
}

/// The per-CPU context words.
///
/// # Invariants
///
/// Only the thread running on this CPU writes `preempt_count` and `irqs_disabled`
/// (interrupt handlers run on that same thread), so `Relaxed` accesses suffice and
/// cost what plain loads and stores cost. `irq_deferred` is set by the runtime's
/// interrupt entry on that thread when the soft mask held an interrupt off.
pub struct CpuState {
    id: CpuId,
    preempt_count: AtomicU32,
    irqs_disabled: AtomicBool,
    irq_deferred: AtomicBool,
    need_resched: AtomicBool,
    /// Read by every CPU that picks a target (`first_online`, `online_mask`, a
    /// remote `queue_work_on`), written only by hotplug: on a line of its own, so
    /// that those reads never take away the line this CPU writes at every
    /// interrupt mask (the `cpu_online_mask` of Linux is a separate bitmap too).
    online: CachePadded<AtomicBool>,
}

impl CpuState {
    /// A fresh CPU: task context, interrupts enabled, offline until the runtime says so.
    pub fn new(id: CpuId) -> Self {
        CpuState {
            id,
            preempt_count: AtomicU32::new(0),
            irqs_disabled: AtomicBool::new(false),
            irq_deferred: AtomicBool::new(false),
            need_resched: AtomicBool::new(false),
            online: CachePadded::new(AtomicBool::new(false)),
        }
    }

    /// This CPU's number.
    #[inline]
    pub fn id(&self) -> CpuId {
        self.id
    }

    /// The raw preempt count.
    #[inline]
    pub fn preempt_count(&self) -> u32 {
        self.preempt_count.load(Relaxed)
    }

    /// Adds `val` to the preempt count (the `__preempt_count_add` primitive).
    #[inline]
    pub fn preempt_count_add(&self, val: u32) {
        let pc = self.preempt_count.load(Relaxed);
        self.preempt_count.store(pc.wrapping_add(val), Relaxed);
        compiler_fence(Ordering::SeqCst);
    }

    /// Subtracts `val` from the preempt count.
    #[inline]
    pub fn preempt_count_sub(&self, val: u32) {
        compiler_fence(Ordering::SeqCst);
        let pc = self.preempt_count.load(Relaxed);
        debug_assert!(pc >= val, "preempt count underflow: {pc:#x} - {val:#x}");
        self.preempt_count.store(pc.wrapping_sub(val), Relaxed);
    }

    /// Replaces the preempt count (context switch restores the next thread's value).
    #[inline]
    pub fn set_preempt_count(&self, val: u32) {
        self.preempt_count.store(val, Relaxed);
    }

    /// True if the soft interrupt mask is set.
    #[inline]
    pub fn irqs_disabled(&self) -> bool {
        self.irqs_disabled.load(Relaxed)
    }

    /// Sets the soft mask and returns the previous state (no replay handling).
    #[inline]
    pub fn irq_save_raw(&self) -> IrqFlags {
        let was = self.irqs_disabled.load(Relaxed);
        self.irqs_disabled.store(true, Relaxed);
        compiler_fence(Ordering::SeqCst);
        IrqFlags { was_disabled: was, cpu: self.id.0 }
    }

    /// Restores the soft mask; returns true if interrupts became enabled while one
    /// was deferred, i.e. the caller must ask the platform to replay.
    #[inline]
    pub fn irq_restore_raw(&self, flags: IrqFlags) -> bool {
        compiler_fence(Ordering::SeqCst);
        self.irqs_disabled.store(flags.was_disabled, Relaxed);
        compiler_fence(Ordering::SeqCst);
        !flags.was_disabled && self.irq_deferred.load(Relaxed)
    }

    /// Marks that an interrupt arrived while masked (called by the runtime's entry).
    #[inline]
    pub fn set_irq_deferred(&self, v: bool) {
        self.irq_deferred.store(v, Relaxed);
    }

    /// True if an interrupt is waiting for the mask to be lifted.
    #[inline]
    pub fn irq_deferred(&self) -> bool {
        self.irq_deferred.load(Relaxed)
    }

    /// Requests a reschedule at the next preemption point.
    #[inline]
    pub fn set_need_resched(&self, v: bool) {
        self.need_resched.store(v, Relaxed);
    }

    /// True if the scheduler asked for a reschedule on this CPU.
    #[inline]
    pub fn need_resched(&self) -> bool {
        self.need_resched.load(Relaxed)
    }

    /// True if the CPU is online.
    #[inline]
    pub fn online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Marks the CPU online or offline (runtime and hotplug only).
    pub fn set_online(&self, v: bool) {
        self.online.store(v, Ordering::Release);
    }

    /// `in_hardirq()` for this CPU.
    #[inline]
    pub fn in_hardirq(&self) -> bool {
        preempt::in_hardirq(self.preempt_count())
    }
    /// `in_softirq()` (serving or bh-disabled) for this CPU.
    #[inline]
    pub fn in_softirq(&self) -> bool {
        preempt::in_softirq(self.preempt_count())
    }
    /// `in_serving_softirq()` for this CPU.
    #[inline]
    pub fn in_serving_softirq(&self) -> bool {
        preempt::in_serving_softirq(self.preempt_count())
    }
    /// `in_nmi()` for this CPU.
    #[inline]
    pub fn in_nmi(&self) -> bool {
        preempt::in_nmi(self.preempt_count())
    }
    /// `in_interrupt()` for this CPU.
    #[inline]
    pub fn in_interrupt(&self) -> bool {
        preempt::in_interrupt(self.preempt_count())
    }
    /// `in_task()` for this CPU.
    #[inline]
    pub fn in_task(&self) -> bool {
        preempt::in_task(self.preempt_count())
    }
    /// `in_atomic()`: preempt count non-zero or interrupts disabled.
    #[inline]
    pub fn in_atomic(&self) -> bool {
        preempt::in_atomic(self.preempt_count()) || self.irqs_disabled()
    }
}
