//! Running irq_work: from the irq_work interrupt, from the tick, and waiting for it.

use super::llist::Llist;
use super::{run_claimed, IrqWork, IrqWorkFn, IrqWorkInner, IRQ_WORK_BUSY};
use crate::cpu::{HardIrq, Task};
use crate::sync::atomic::{spin_hint, Ordering};
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `irq_work_run`: runs this CPU's raised list, then its lazy list. The runtime
    /// calls it from its `Ipi::IrqWork` handler (hard-interrupt context).
    pub fn irq_work_run(&self, hard: &HardIrq) {
        let Some(cpu) = self.current_cpu() else { return };
        let lists = &self.irq_work.cpus[cpu];
        self.irq_work_run_list(&lists.raised, hard);
        self.irq_work_run_list(&lists.lazy, hard);
        if !lists.threaded.is_empty() {
            self.wake_irq_workd(cpu);
        }
    }

    /// `irq_work_tick`: the tick's share — raised work if the self-interrupt is not
    /// available, and lazy work.
    pub fn irq_work_tick(&self, hard: &HardIrq) {
        let Some(cpu) = self.current_cpu() else { return };
        let lists = &self.irq_work.cpus[cpu];
        if !self.irq_work.arch_has_interrupt.load(Ordering::Relaxed) {
            self.irq_work_run_list(&lists.raised, hard);
        }
        self.irq_work_run_list(&lists.lazy, hard);
        if !lists.threaded.is_empty() {
            self.wake_irq_workd(cpu);
        }
    }

    /// `irq_work_needs_cpu`: true if this CPU has work that only its tick will run.
    pub fn irq_work_needs_cpu(&self) -> bool {
        let Some(cpu) = self.current_cpu() else { return false };
        let lists = &self.irq_work.cpus[cpu];
        !lists.lazy.is_empty()
            || (!lists.raised.is_empty()
                && !self.irq_work.arch_has_interrupt.load(Ordering::Relaxed))
    }

    /// Newest first, as the lock-less list hands them out.
    fn irq_work_run_list(&self, list: &Llist<IrqWorkInner>, hard: &HardIrq) {
        if list.is_empty() {
            return;
        }
        for item in list.take_all() {
            run_claimed(item, |work| {
                if let IrqWorkFn::Hard(f) = &work.0.get().func {
                    f(self, work, hard);
                }
            });
        }
    }

    /// `irq_work_sync`: returns once `work`'s callback is not running (it may be queued
    /// again right after). May sleep: needs task context.
    pub fn irq_work_sync(&self, work: &IrqWork, task: &Task) -> Result<(), IrqError> {
        self.might_sleep("irq_work_sync")?;
        while work.0.get().flags.load(Ordering::Acquire) & IRQ_WORK_BUSY as u64 != 0 {
            self.bh_wait_step(task);
        }
        Ok(())
    }

    /// One step of a sleeping wait for bottom-half progress: run what is pending here
    /// (a queued item may be ours), then let other threads run.
    pub(crate) fn bh_wait_step(&self, task: &Task) {
        self.do_softirq();
        // A hint: a caller moved meanwhile takes that CPU's items over, which the
        // list's lock-free take allows.
        if let Some(c) = self.current_cpu() {
            let lists = &self.irq_work.cpus[c];
            if !lists.threaded.is_empty() {
                // Task context already: threaded items may run right here.
                self.irq_work_run_threaded(c, task);
            }
            if !lists.raised.is_empty() || !lists.lazy.is_empty() {
                // Our own CPU's items run from its interrupt; take it now.
                let flags = self.local_irq_save();
                let hard = self.irq_enter();
                self.irq_work_run(&hard);
                self.irq_exit(hard);
                self.local_irq_restore(flags);
            }
        }
        if self.current_thread().is_some() {
            self.yield_now(task);
        } else {
            spin_hint();
        }
    }
}
