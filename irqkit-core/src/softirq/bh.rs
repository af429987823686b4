//! Bottom-half disabling: `local_bh_disable`/`local_bh_enable` and `spin_lock_bh`.
//!
//! A bh-disabled section adds `SOFTIRQ_DISABLE_OFFSET` (0x200) to the preempt count,
//! so `in_interrupt()` is true inside it and neither `irq_exit` nor a raise runs
//! softirqs there; the outermost enable runs what became pending, in task context.

use core::ops::{Deref, DerefMut};

use super::BhWarning;
use crate::cpu::preempt::{
    in_interrupt, softirq_count, PREEMPT_OFFSET, SOFTIRQ_DISABLE_OFFSET, SOFTIRQ_OFFSET,
};
use crate::sync::{SpinLock, SpinLockGuard};
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `local_bh_disable`: softirqs do not run on this CPU until the matching enable.
    #[inline]
    pub fn local_bh_disable(&self) {
        let _pin = self.pin_cpu();
        if let Some(cpu) = self.raw_this_cpu() {
            cpu.preempt_count_add(SOFTIRQ_DISABLE_OFFSET);
        }
    }

    /// `local_bh_enable`: leaves a bh-disabled section; the outermost one runs pending
    /// softirqs. From hard-interrupt context Linux WARNs: irqkit counts the warning,
    /// still balances the count (without running softirqs) and returns `WrongContext`.
    /// Without a matching disable it changes nothing and returns `InvalidArgument`.
    pub fn local_bh_enable(&self) -> Result<(), IrqError> {
        // Unchecked: a balanced caller is inside its section, so it cannot move; an
        // unbalanced one only reads the count and is refused.
        let cpu = self.raw_this_cpu().ok_or(IrqError::WrongContext("local_bh_enable off-cpu"))?;
        let pc = cpu.preempt_count();
        if softirq_count(pc) < SOFTIRQ_DISABLE_OFFSET {
            self.softirq.warn(BhWarning::BhEnableUnbalanced);
            return Err(IrqError::InvalidArgument("local_bh_enable without local_bh_disable"));
        }
        if cpu.in_hardirq() {
            self.softirq.warn(BhWarning::BhEnableInHardirq);
            cpu.preempt_count_sub(SOFTIRQ_DISABLE_OFFSET);
            return Err(IrqError::WrongContext("local_bh_enable in hardirq"));
        }
        // Keep preemption disabled while the pending work runs, as Linux does.
        let held = pc - (SOFTIRQ_DISABLE_OFFSET - PREEMPT_OFFSET);
        let per = &self.softirq.cpus[cpu.id()];
        if per.any_pending() && !in_interrupt(held) && !cpu.irqs_disabled() {
            // Work is waiting: go straight from "bh disabled" to "serving, preemption
            // off" with one update of the count (a store, not two load-modify-stores
            // through memory). Masked first, so an interrupt waits for the restore
            // below and finds the section over, as after Linux's __local_bh_enable_ip.
            let flags = self.irq_save_on(cpu);
            cpu.set_preempt_count(held + SOFTIRQ_OFFSET);
            self.handle_softirqs_serving(cpu);
            cpu.preempt_count_sub(SOFTIRQ_OFFSET);
            self.irq_restore_on(cpu, flags);
        } else {
            cpu.preempt_count_sub(SOFTIRQ_DISABLE_OFFSET - PREEMPT_OFFSET);
            // Read after leaving the section: an interrupt that raised a vector
            // before the update above left it pending for us; one after ran it.
            let pending = per.any_pending();
            if cpu.irqs_disabled() {
                // Linux WARNs and would enable interrupts inside the caller's irq-off
                // section; irqkit leaves the work to ksoftirqd instead.
                self.softirq.warn(BhWarning::BhEnableIrqsDisabled);
                if pending && !cpu.in_interrupt() {
                    self.wakeup_softirqd(cpu.id());
                }
            } else if !cpu.in_interrupt() && pending {
                let flags = self.irq_save_on(cpu);
                self.handle_softirqs(cpu);
                self.irq_restore_on(cpu, flags);
            }
        }
        let resched = {
            // Preemptible after the update: pinned until the check has read it.
            let _pin = self.pin_cpu();
            cpu.preempt_count_sub(PREEMPT_OFFSET);
            cpu.need_resched() && cpu.preempt_count() == 0 && !cpu.irqs_disabled()
        };
        if resched {
            self.preempt_schedule();
        }
        Ok(())
    }

    /// `_local_bh_enable`: leaves the section without running pending softirqs.
    pub fn _local_bh_enable(&self) -> Result<(), IrqError> {
        // Unchecked, as in `local_bh_enable`.
        let cpu = self.raw_this_cpu().ok_or(IrqError::WrongContext("local_bh_enable off-cpu"))?;
        if softirq_count(cpu.preempt_count()) < SOFTIRQ_DISABLE_OFFSET {
            self.softirq.warn(BhWarning::BhEnableUnbalanced);
            return Err(IrqError::InvalidArgument("local_bh_enable without local_bh_disable"));
        }
        cpu.preempt_count_sub(SOFTIRQ_DISABLE_OFFSET);
        Ok(())
    }

    /// `spin_lock_bh`: disables bottom halves, then takes `lock`. For data shared with
    /// softirq context (never with hard interrupts: those need `SpinLockIrq`).
    pub fn spin_lock_bh<'a, T>(&'a self, lock: &'a SpinLock<T>) -> SpinLockBhGuard<'a, T> {
        self.local_bh_disable();
        SpinLockBhGuard { guard: Some(lock.lock()), sys: self }
    }
}

/// The guard of [`IrqSystem::spin_lock_bh`]: unlocks, then re-enables bottom halves
/// (running what became pending).
#[must_use = "the lock is released when the guard is dropped"]
pub struct SpinLockBhGuard<'a, T> {
    guard: Option<SpinLockGuard<'a, T>>,
    sys: &'a IrqSystem,
}

impl<T> Deref for SpinLockBhGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_deref().expect("guard is held until drop")
    }
}

impl<T> DerefMut for SpinLockBhGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().expect("guard is held until drop")
    }
}

impl<T> Drop for SpinLockBhGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // The section was opened by spin_lock_bh, so the enable is balanced; from
        // hardirq it is already counted as a warning.
        let _ = self.sys.local_bh_enable();
    }
}
