//! Queueing irq_work: locally (`irq_work_queue`) and on another CPU (`irq_work_queue_on`).

use super::{claim, IrqWork, IRQ_WORK_LAZY};
use crate::cpu::CpuId;
use crate::platform::Ipi;
use crate::softirq::BhWarning;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `irq_work_queue`: queues `work` on this CPU. `Ok(false)` if it was already
    /// pending (it will run once for both requests). No lock, no allocation: safe from
    /// NMI and from a signal landing anywhere. Off the machine: `WrongContext`.
    #[inline]
    pub fn irq_work_queue(&self, work: &IrqWork) -> Result<bool, IrqError> {
        let _pin = self.pin_cpu();
        let cpu = self.raw_this_cpu().ok_or(IrqError::WrongContext("irq_work_queue off-cpu"))?;
        let Some(old) = claim(&work.0.get().flags) else { return Ok(false) };
        // Stay on this CPU between choosing the list and raising its interrupt. A plain
        // count add (no resched on the way out) keeps this NMI-safe and cheap.
        cpu.preempt_count_add(crate::cpu::preempt::PREEMPT_OFFSET);
        self.irq_work_enqueue_local(cpu.id(), work, old & IRQ_WORK_LAZY != 0);
        cpu.preempt_count_sub(crate::cpu::preempt::PREEMPT_OFFSET);
        Ok(true)
    }

    #[inline]
    fn irq_work_enqueue_local(&self, cpu: CpuId, work: &IrqWork, lazy: bool) {
        let lists = &self.irq_work.cpus[cpu];
        if work.is_threaded() {
            // The interrupt wakes irq_work/N; only the first item needs to raise it.
            // SAFETY: the caller's successful claim proves the item is on no list.
            if unsafe { lists.threaded.push(work.0.as_ptr()) } {
                self.arch_irq_work_raise(cpu);
            }
            return;
        }
        // Lazy work waits for the tick: an idle CPU keeps its tick while it has some
        // (`irq_work_needs_cpu`). The first raised item raises the self-interrupt.
        let list = if lazy { &lists.lazy } else { &lists.raised };
        // SAFETY: the caller's successful claim set PENDING, and an item with PENDING
        // clear is on no list and in no undrained chain.
        let first = unsafe { list.push(work.0.as_ptr()) };
        if first && !lazy {
            self.arch_irq_work_raise(cpu);
        }
    }

    /// `arch_irq_work_raise`: the self-interrupt, through the platform.
    pub(crate) fn arch_irq_work_raise(&self, cpu: CpuId) {
        if self.platform().send_ipi(cpu, Ipi::IrqWork).is_err() {
            self.irq_work.arch_has_interrupt.store(false, Ordering::Relaxed);
        }
    }

    /// `irq_work_queue_on`: queues `work` on `cpu`, interrupting it. `Ok(false)` if
    /// already pending. An offline `cpu` is `CpuOffline` and a remote queue from NMI is
    /// `WrongContext` (the cross-CPU path is not NMI-safe in Linux either); in both
    /// cases the item is left untouched.
    pub fn irq_work_queue_on(&self, work: &IrqWork, cpu: CpuId) -> Result<bool, IrqError> {
        let target = self.cpu(cpu)?;
        if !target.online() {
            self.softirq.warn(BhWarning::IrqWorkOfflineCpu);
            return Err(IrqError::CpuOffline(cpu.0));
        }
        // Pinned throughout, as Linux's preempt_disable: local or remote is decided
        // for the CPU the caller stays on.
        let _pin = self.pin_cpu();
        let here = self.raw_this_cpu();
        if here.map(|c| c.id()) == Some(cpu) {
            return self.irq_work_queue(work);
        }
        if here.is_some_and(|c| c.in_nmi()) {
            self.softirq.warn(BhWarning::IrqWorkRemoteFromNmi);
            return Err(IrqError::WrongContext("irq_work_queue_on a remote cpu from NMI"));
        }
        if claim(&work.0.get().flags).is_none() {
            return Ok(false);
        }
        // Remote items run from the target's interrupt even when LAZY, as Linux's
        // call-single-queue path does.
        let lists = &self.irq_work.cpus[cpu];
        let list = if work.is_threaded() { &lists.threaded } else { &lists.raised };
        // SAFETY: the claim above proves the item is on no list.
        if unsafe { list.push(work.0.as_ptr()) } {
            self.arch_irq_work_raise(cpu);
        }
        Ok(true)
    }
}

impl IrqSystem {
    /// Moves the offline CPU `dead`'s queued irq_work to this CPU and interrupts this
    /// CPU for it (Linux flushes them on the dying CPU; a dead CPU here runs nothing).
    pub fn irq_work_takeover(&self, dead: CpuId) -> Result<(), IrqError> {
        let here = self.current_cpu().ok_or(IrqError::WrongContext("takeover off-cpu"))?;
        if self.cpu(dead)?.online() {
            return Err(IrqError::Busy("cpu is still online"));
        }
        if dead == here {
            return Ok(());
        }
        let (from, to) = (&self.irq_work.cpus[dead], &self.irq_work.cpus[here]);
        let mut raise = false;
        for w in from.raised.take_all().chain(from.lazy.take_all()) {
            // SAFETY: just handed out by the dead CPU's chain.
            raise |= unsafe { to.raised.push(w) };
        }
        for w in from.threaded.take_all() {
            // SAFETY: just handed out by the dead CPU's chain.
            raise |= unsafe { to.threaded.push(w) };
        }
        if raise {
            self.arch_irq_work_raise(here);
        }
        Ok(())
    }
}
