//! The softirq handling loop (`handle_softirqs`), `do_softirq` and the `irq_exit` hook.

use super::{BhWarning, MAX_SOFTIRQ_RESTART};
use crate::cpu::preempt::SOFTIRQ_OFFSET;
use crate::cpu::{CpuState, SoftIrq};
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

impl IrqSystem {
    /// `handle_softirqs`: runs this CPU's pending vectors. Entered and left with
    /// interrupts masked; each action runs with them enabled and SOFTIRQ_OFFSET held.
    ///
    /// Restarts while vectors are re-raised, at most [`MAX_SOFTIRQ_RESTART`] passes,
    /// within [`MAX_SOFTIRQ_TIME_NS`](super::MAX_SOFTIRQ_TIME_NS) (counted in jiffies) and while no reschedule is pending;
    /// leftover work wakes ksoftirqd.
    pub(crate) fn handle_softirqs(&self, cpu: &CpuState) {
        cpu.preempt_count_add(SOFTIRQ_OFFSET);
        self.handle_softirqs_serving(cpu);
        cpu.preempt_count_sub(SOFTIRQ_OFFSET);
    }

    /// The loop of [`IrqSystem::handle_softirqs`], for a caller that already added
    /// SOFTIRQ_OFFSET (and takes it off again).
    #[inline(always)]
    pub(crate) fn handle_softirqs_serving(&self, cpu: &CpuState) {
        let per = &self.softirq.cpus[cpu.id()];
        let start = self.jiffies();
        let mut restart = MAX_SOFTIRQ_RESTART;
        let token = SoftIrq::entered_on(cpu.id());
        loop {
            let mut pending = per.take_pending_irqoff();
            self.irq_restore_on(cpu, crate::cpu::IrqFlags::enabled());
            while pending != 0 {
                let nr = pending.trailing_zeros() as usize;
                pending &= pending - 1;
                // Only this CPU writes its counts (NMIs never serve softirqs): no RMW.
                let c = &per.counts[nr];
                c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                let before = cpu.preempt_count();
                match self.softirq.action(nr) {
                    Some(action) => action(self, &token),
                    None => self.softirq.warn(BhWarning::SoftirqNoAction),
                }
                if cpu.preempt_count() != before {
                    // "huh, entered softirq %u ... exited with %08x?": repair and go on.
                    self.softirq.warn(BhWarning::SoftirqPreemptLeak);
                    cpu.set_preempt_count(before);
                }
            }
            let _ = self.irq_save_on(cpu);
            if !per.any_pending() {
                break;
            }
            restart -= 1;
            let in_budget = self.jiffies().wrapping_sub(start) < self.softirq.budget_jiffies;
            if in_budget && !cpu.need_resched() && restart != 0 {
                continue;
            }
            per.handoffs.fetch_add(1, Ordering::Relaxed);
            self.wakeup_softirqd(cpu.id());
            break;
        }
    }

    /// `do_softirq`: runs pending softirqs now unless in interrupt context or with
    /// bottom halves disabled. Safe to call from task context at any time.
    pub fn do_softirq(&self) {
        let _pin = self.pin_cpu();
        let Some(cpu) = self.raw_this_cpu() else { return };
        if cpu.in_interrupt() {
            return;
        }
        let flags = self.irq_save_on(cpu);
        if self.softirq.cpus[cpu.id()].any_pending() {
            self.handle_softirqs(cpu);
        }
        self.irq_restore_on(cpu, flags);
    }

    /// The softirq half of `irq_exit`, called after HARDIRQ_OFFSET was dropped with
    /// interrupts still masked: run pending vectors unless still in interrupt context.
    #[inline]
    pub(crate) fn irq_exit_softirqs(&self, cpu: &CpuState) {
        let per = &self.softirq.cpus[cpu.id()];
        if cpu.in_interrupt() || !per.any_pending() {
            return;
        }
        if self.softirq.force_threads.load(Ordering::Relaxed)
            && per.has_ksoftirqd.load(Ordering::Relaxed)
        {
            self.wakeup_softirqd(cpu.id());
        } else {
            self.handle_softirqs(cpu);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::super::SoftirqCpu;
    use loom::sync::Arc;

    // The masked CPU takes its pending vectors with a plain load and store while an
    // NMI raises: no vector is lost, and one the take missed has a self-interrupt
    // coming for it.
    #[test]
    fn nmi_raise_racing_the_plain_take_is_never_lost() {
        loom::model(|| {
            let cpu = Arc::new(SoftirqCpu::new());
            cpu.or_pending_irqoff(1 << 1);
            let c2 = cpu.clone();
            let nmi = loom::thread::spawn(move || c2.or_pending_nmi(1 << 3));
            let mut seen = cpu.take_pending_irqoff();
            let ipi = nmi.join().unwrap();
            let left = cpu.take_pending_irqoff();
            assert!(left == 0 || ipi, "a raise nobody will handle");
            seen |= left;
            assert_eq!(seen, (1 << 1) | (1 << 3));
        });
    }
}
