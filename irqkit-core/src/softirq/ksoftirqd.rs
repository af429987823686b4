//! `ksoftirqd/N`: the per-CPU thread that takes over softirq work the loop gave up on.
//!
//! A normal-class thread, so a softirq flood competes fairly with tasks instead of
//! starving them. Its body is a loop around [`IrqSystem::ksoftirqd_run_once`], which
//! tests on a platform without threads call directly.

use alloc::format;
use alloc::sync::Arc;

use crate::cpu::{CpuId, Task};
use crate::sched::{KthreadSpec, ThreadState};
use crate::sync::atomic::{fence, Ordering};
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// Creates and starts `ksoftirqd/N` for every CPU. The runtime calls this once
    /// after boot; calling it again is `Busy`. Fails on a platform that runs no threads.
    pub fn start_ksoftirqd(self: &Arc<Self>) -> Result<(), IrqError> {
        for (cpu, _) in self.softirq.cpus.iter() {
            if self.softirq.cpus[cpu].ksoftirqd.lock_irqsave(self).is_some() {
                return Err(IrqError::Busy("ksoftirqd already started"));
            }
            let sys = self.clone();
            let spec = KthreadSpec::bound(format!("ksoftirqd/{}", cpu.0), cpu);
            let t = self.spawn_kthread(spec, move |task| sys.ksoftirqd_thread(cpu, task))?;
            t.set_percpu_smpboot();
            *self.softirq.cpus[cpu].ksoftirqd.lock_irqsave(self) = Some(t);
            self.softirq.cpus[cpu].has_ksoftirqd.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// The thread body (`smpboot_thread_fn` + `run_ksoftirqd`).
    fn ksoftirqd_thread(&self, cpu: CpuId, task: &Task) {
        let Some(me) = self.current_thread() else { return };
        loop {
            if me.should_stop() {
                return;
            }
            if matches!(self.ksoftirqd_run_once(cpu), Ok(true)) {
                self.yield_now(task);
                continue;
            }
            // Sleep unless a raise slipped in after the check: a wake-up that races
            // here sets us Runnable again and `schedule` returns at once.
            me.set_state(ThreadState::Sleeping);
            // set_current_state's barrier: pairs with the fence in wakeup_softirqd so
            // either we see the raise or the raiser sees us sleeping.
            fence(Ordering::SeqCst);
            if self.softirq.cpus[cpu].any_pending() || me.should_stop() {
                me.set_state(ThreadState::Runnable);
                continue;
            }
            self.schedule();
        }
    }

    /// One round of ksoftirqd on `cpu` (`run_ksoftirqd`): runs pending softirqs with
    /// the usual loop and limits. Returns whether anything was pending. Must run on
    /// `cpu` in task context.
    pub fn ksoftirqd_run_once(&self, cpu: CpuId) -> Result<bool, IrqError> {
        // Unchecked: ksoftirqd/N is bound to its CPU, and a stray caller on another
        // CPU is refused below.
        let state = self.raw_this_cpu().ok_or(IrqError::WrongContext("ksoftirqd off-cpu"))?;
        if state.id() != cpu {
            return Err(IrqError::WrongContext("ksoftirqd_run_once on another cpu"));
        }
        if state.in_interrupt() {
            return Err(IrqError::WrongContext("ksoftirqd_run_once in interrupt context"));
        }
        let flags = self.local_irq_save();
        let ran = self.softirq.cpus[cpu].any_pending();
        if ran {
            self.handle_softirqs(state);
        }
        self.local_irq_restore(flags);
        Ok(ran)
    }

    /// `wakeup_softirqd`: counts the request and wakes `cpu`'s ksoftirqd if it exists.
    pub(crate) fn wakeup_softirqd(&self, cpu: CpuId) {
        let per = &self.softirq.cpus[cpu];
        per.ksoftirqd_wakeups.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let t = per.ksoftirqd.lock_irqsave(self).clone();
        if let Some(t) = t {
            if t.state() != ThreadState::Runnable {
                self.wake_up_process(&t);
            }
        }
    }

    /// `cpu`'s ksoftirqd thread, once started.
    pub fn ksoftirqd(&self, cpu: CpuId) -> Option<Arc<crate::sched::Thread>> {
        self.softirq.cpus.get(cpu)?.ksoftirqd.lock_irqsave(self).clone()
    }
}
