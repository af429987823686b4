//! `irq_work/N`: the per-CPU FIFO thread that runs threaded irq_work items (PREEMPT_RT).
//!
//! Its body is a loop around [`IrqSystem::irq_work_thread_run_once`], which tests on a
//! platform without threads call directly.

use alloc::format;
use alloc::sync::Arc;

use super::{run_claimed, IrqWorkFn};
use crate::cpu::{CpuId, Task};
use crate::sched::{KthreadSpec, Policy, ThreadState};
use crate::sync::atomic::{fence, Ordering};
use crate::{IrqError, IrqSystem};

/// `irq_work/N` runs at SCHED_FIFO 1, as Linux's `irq_workd` does.
const IRQ_WORKD_PRIO: u8 = 1;

impl IrqSystem {
    /// Creates and starts `irq_work/N` on every CPU. The runtime calls this once after
    /// boot; again is `Busy`. Fails on a platform that runs no threads.
    pub fn start_irq_work_threads(self: &Arc<Self>) -> Result<(), IrqError> {
        for (cpu, _) in self.irq_work.cpus.iter() {
            if self.irq_work.cpus[cpu].thread.lock_irqsave(self).is_some() {
                return Err(IrqError::Busy("irq_work threads already started"));
            }
            let sys = self.clone();
            let spec = KthreadSpec::bound(format!("irq_work/{}", cpu.0), cpu)
                .policy(Policy::Fifo(IRQ_WORKD_PRIO));
            let t = self.spawn_kthread(spec, move |task| sys.irq_workd(cpu, task))?;
            t.set_percpu_smpboot();
            *self.irq_work.cpus[cpu].thread.lock_irqsave(self) = Some(t);
        }
        Ok(())
    }

    fn irq_workd(&self, cpu: CpuId, task: &Task) {
        let Some(me) = self.current_thread() else { return };
        loop {
            if me.should_stop() {
                return;
            }
            if matches!(self.irq_work_thread_run_once(cpu, task), Ok(true)) {
                continue;
            }
            me.set_state(ThreadState::Sleeping);
            // Pairs with the fence in wake_irq_workd: no lost wake-up.
            fence(Ordering::SeqCst);
            if !self.irq_work.cpus[cpu].threaded.is_empty() || me.should_stop() {
                me.set_state(ThreadState::Runnable);
                continue;
            }
            self.schedule();
        }
    }

    /// One round of `irq_work/N` on `cpu`: runs its queued threaded items in task
    /// context. Returns whether there were any. Must run on `cpu`, not in interrupt.
    pub fn irq_work_thread_run_once(&self, cpu: CpuId, task: &Task) -> Result<bool, IrqError> {
        // Unchecked: irq_work/N is bound to its CPU; a caller elsewhere is refused.
        let state = self.raw_this_cpu().ok_or(IrqError::WrongContext("irq_work/N off-cpu"))?;
        if state.id() != cpu {
            return Err(IrqError::WrongContext("irq_work/N runs on its own cpu"));
        }
        if !state.in_task() {
            return Err(IrqError::WrongContext("irq_work/N in interrupt context"));
        }
        Ok(self.irq_work_run_threaded(cpu, task))
    }

    /// Runs `cpu`'s threaded list (newest first); true if it held anything.
    pub(crate) fn irq_work_run_threaded(&self, cpu: CpuId, task: &Task) -> bool {
        let list = &self.irq_work.cpus[cpu].threaded;
        if list.is_empty() {
            return false;
        }
        for item in list.take_all() {
            run_claimed(item, |work| {
                if let IrqWorkFn::Thread(f) = &work.0.get().func {
                    f(self, work, task);
                }
            });
        }
        true
    }

    /// `wake_irq_workd`: counts the request and wakes `cpu`'s thread if it exists.
    pub(crate) fn wake_irq_workd(&self, cpu: CpuId) {
        let per = &self.irq_work.cpus[cpu];
        per.thread_wakeups.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let t = per.thread.lock_irqsave(self).clone();
        if let Some(t) = t {
            if t.state() != ThreadState::Runnable {
                self.wake_up_process(&t);
            }
        }
    }

    /// How many times `cpu`'s `irq_work/N` was asked to run; 0 for a bad CPU.
    pub fn irq_work_thread_wakeups(&self, cpu: CpuId) -> u64 {
        self.irq_work.cpus.get(cpu).map_or(0, |c| c.thread_wakeups.load(Ordering::Relaxed))
    }
}
