//! The scheduler proper: run queues, pick, switch, preempt, tick, idle loop.

use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Policy, RunQueue, RunQueueStats, Thread, ThreadId, ThreadState};
use crate::cpu::{CpuId, PerCpu, Task};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::SpinLock;
use crate::IrqSystem;

/// Ticks a nice-0 thread runs before a waiting normal thread gets the CPU
/// (CFS's minimum granularity is ~3 ms; at HZ=1000 that is 3 ticks).
const SLICE_TICKS_NICE0: u64 = 3;

/// All run queues and the registry of live kernel threads.
pub struct Scheduler {
    pub(super) rqs: PerCpu<SpinLock<RunQueue>>,
    pub(super) threads: SpinLock<BTreeMap<ThreadId, Arc<Thread>>>,
    pub(super) next_id: AtomicU64,
    shutdown: AtomicBool,
}

impl Scheduler {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        Scheduler {
            rqs: PerCpu::new(nr_cpus, |_| SpinLock::new(RunQueue::new())),
            threads: SpinLock::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
        }
    }

    /// Tells the idle loops to return (machine shutdown).
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    /// True once shutdown began.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

impl IrqSystem {
    /// Runs `f` with local interrupts masked: every plain spinlock of the scheduler is
    /// taken this way, so an interrupt on the same CPU can never spin on a lock its
    /// own CPU holds, and the holder can never be preempted inside it.
    #[inline]
    pub(super) fn irqs_off<R>(&self, f: impl FnOnce() -> R) -> R {
        let flags = self.local_irq_save();
        let r = f();
        self.local_irq_restore(flags);
        r
    }

    /// Counters of `cpu`'s run queue.
    pub fn rq_stats(&self, cpu: CpuId) -> Option<RunQueueStats> {
        self.irqs_off(|| self.sched.rqs.get(cpu).map(|rq| rq.lock().stats()))
    }

    /// Every live kernel thread (idle threads included), by id.
    pub fn threads(&self) -> Vec<Arc<Thread>> {
        self.irqs_off(|| self.sched.threads.lock().values().cloned().collect())
    }

    /// The thread currently running on `cpu`.
    pub fn curr_thread(&self, cpu: CpuId) -> Option<Arc<Thread>> {
        self.irqs_off(|| self.sched.rqs.get(cpu).and_then(|rq| rq.lock().curr.clone()))
    }

    /// Number of runnable threads queued on `cpu` (not counting the running one).
    pub fn nr_queued(&self, cpu: CpuId) -> usize {
        self.irqs_off(|| self.sched.rqs.get(cpu).map(|rq| rq.lock().nr_queued()).unwrap_or(0))
    }

    /// The thread running on the caller's CPU.
    pub fn current_thread(&self) -> Option<Arc<Thread>> {
        // Masked first: the CPU read after it is the one whose queue we look at.
        let flags = self.local_irq_save();
        let t = self.current_cpu().and_then(|cpu| self.sched.rqs[cpu].lock().curr.clone());
        self.local_irq_restore(flags);
        t
    }

    /// Switches now if a reschedule is pending and the caller is preemptible.
    pub fn preempt_check_resched(&self) {
        let resched = self.with_this_cpu(|cpu| {
            cpu.need_resched() && cpu.preempt_count() == 0 && !cpu.irqs_disabled()
        });
        if resched == Some(true) {
            self.preempt_schedule();
        }
    }

    /// `schedule()`: gives up the CPU. A thread that set itself Sleeping blocks until
    /// woken; a runnable one goes to the back of its queue.
    pub fn schedule(&self) {
        let flags = self.local_irq_save();
        // Linux: "scheduling while atomic"; a caller with interrupts masked would also
        // resume with them masked on whichever CPU it lands.
        debug_assert!(!flags.was_disabled, "schedule() with interrupts masked");
        self.__schedule(Switch::Voluntary);
        // We may have resumed on another CPU.
        self.local_irq_restore(flags.anywhere());
    }

    /// `yield()`: lets other runnable threads of the same class run first.
    pub fn yield_now(&self, _task: &Task) {
        let flags = self.local_irq_save();
        self.__schedule(Switch::Yield);
        // We may have resumed on another CPU.
        self.local_irq_restore(flags.anywhere());
    }

    /// `preempt_schedule`: involuntary switch from `preempt_enable`.
    pub fn preempt_schedule(&self) {
        let flags = self.local_irq_save();
        self.__schedule(Switch::Preempt);
        // We may have resumed on another CPU.
        self.local_irq_restore(flags.anywhere());
    }

    /// `schedule_idle()`: the idle thread's switch to queued work. Called with interrupts
    /// masked, so the queue check before it cannot miss a wake-up; returns masked.
    pub fn schedule_idle(&self) {
        debug_assert!(self.irqs_disabled(), "schedule_idle() with interrupts enabled");
        self.__schedule(Switch::Voluntary);
    }

    /// `preempt_schedule_irq`: involuntary switch on the interrupt-return path.
    /// Called with interrupts masked; returns with them masked.
    pub fn preempt_schedule_irq(&self) {
        self.__schedule(Switch::PreemptIrq);
    }

    /// The core switch. Interrupts must be masked.
    pub(super) fn __schedule(&self, mode: Switch) {
        let preempt = mode != Switch::Voluntary;
        let irq_preempt = mode == Switch::PreemptIrq;
        let yield_ = mode == Switch::Yield;
        let cpu_id = match self.current_cpu() {
            Some(c) => c,
            None => return,
        };
        let cpu = &self.cpu(cpu_id).expect("current cpu exists");
        let prev = match self.sched.rqs[cpu_id].lock().curr.clone() {
            Some(p) => p,
            None => return,
        };
        let is_idle = prev.policy() == Policy::Idle;
        let slept_hook = !preempt && prev.state() == ThreadState::Sleeping;
        if slept_hook {
            if let Some(h) = prev.hooks.as_ref() {
                h.sleeping(self, &prev);
            }
        }
        let wl = prev.wake_lock.lock();
        let mut rq = self.sched.rqs[cpu_id].lock();
        let prev_state = prev.state();
        let prev_runnable = !is_idle && prev_state == ThreadState::Runnable;
        // balance_push: on a CPU going offline, or one its affinity no longer allows,
        // a thread (other than a per-CPU one) switches out here and is queued where
        // a wake-up would put it. Preempted at interrupt exit inside a per-CPU access
        // (`cpu::pin`) it may not move (see `irq_preempted`), so it runs on to its
        // next switch.
        let pinned_irq = irq_preempt && self.irq_preemption_pins();
        debug_assert!(
            irq_preempt || !self.moves_irq_preempted() || !crate::cpu::CpuPin::held(),
            "a switch other than interrupt-exit preemption inside a pinned per-CPU access"
        );
        let stays_here = cpu.online() && prev.allowed_on(cpu_id);
        let may_keep = prev_runnable && (stays_here || prev.is_percpu_smpboot() || pinned_irq);
        // A runnable prev no longer allowed here (affinity changed, CPU going down)
        // is queued where a wake-up would put it (`__set_cpus_allowed_ptr`'s move).
        let move_prev = prev_runnable && !may_keep;
        let next = rq.pick();
        let next = match next {
            Some(n) => {
                // prev keeps the CPU if it outranks the candidate, or ties with it and
                // is FIFO being preempted (not yielding): SCHED_FIFO never time-slices.
                let (pr, nr) = (prev.policy().rank(), n.policy().rank());
                let fifo = matches!(prev.policy(), Policy::Fifo(_));
                let keep = may_keep && (pr > nr || (pr == nr && fifo && preempt && !yield_));
                if keep {
                    rq.enqueue(n, true);
                    prev.clone()
                } else {
                    n
                }
            }
            None if may_keep => prev.clone(),
            None => rq.idle.clone().expect("idle thread initialised"),
        };
        cpu.set_need_resched(false);
        if Arc::ptr_eq(&next, &prev) {
            // Kept at interrupt exit by a CPU going offline: pinned until its next
            // switch, which the reschedule request left pending asks for.
            let pinned = pinned_irq && !cpu.online() && !prev.is_percpu_smpboot();
            prev.irq_preempted.store(pinned, Ordering::Relaxed);
            if pinned {
                cpu.set_need_resched(true);
            }
            drop(rq);
            drop(wl);
            // Woken before the switch: the hooks still see a matching "running".
            if slept_hook {
                if let Some(h) = prev.hooks.as_ref() {
                    h.running(self, &prev);
                }
            }
            return;
        }
        prev.irq_preempted.store(pinned_irq, Ordering::Relaxed);
        // A preempted FIFO thread keeps its place at the head (SCHED_FIFO rule).
        let head = preempt && !yield_ && matches!(prev.policy(), Policy::Fifo(_));
        if prev_runnable && !move_prev {
            prev.queued.store(true, Ordering::Relaxed);
            rq.enqueue(prev.clone(), head);
        }
        prev.on_cpu.store(false, Ordering::Release);
        prev.saved_preempt_count.store(cpu.preempt_count(), Ordering::Relaxed);
        next.queued.store(false, Ordering::Relaxed);
        next.on_cpu.store(true, Ordering::Release);
        next.set_cpu(cpu_id);
        next.slice_ticks.store(0, Ordering::Relaxed);
        rq.curr = Some(next.clone());
        rq.stats.switches += 1;
        let involuntary = prev_runnable && preempt;
        if involuntary {
            rq.stats.preemptions += 1;
        }
        drop(rq);
        if move_prev {
            // Under prev's wake lock, as migrate_queued_thread moves a queued thread.
            self.enqueue_moved(&prev, cpu_id, head);
        }
        drop(wl);
        prev.count_switch(!involuntary);
        let dead = prev_state == ThreadState::Dead;
        // Every switch leaves the CPU masked; the thread switched to unmasks it (its own
        // restore, or `kthread_started`).
        debug_assert!(cpu.irqs_disabled(), "switch with interrupts unmasked");
        self.platform().switch_to(cpu_id, &prev, &next);
        if dead {
            return;
        }
        debug_assert!(self.this_cpu().irqs_disabled(), "resumed with interrupts unmasked");
        // Back on some CPU (maybe another one): restore our preempt count.
        let cpu = self.this_cpu();
        cpu.set_preempt_count(prev.saved_preempt_count.load(Ordering::Relaxed));
        if !preempt {
            if let Some(h) = prev.hooks.as_ref() {
                h.running(self, &prev);
            }
        }
    }

    /// The scheduler tick (`scheduler_tick`): time-slices normal threads. Called from
    /// the runtime's timer interrupt on each CPU.
    pub fn scheduler_tick(&self) {
        let Some(cpu_id) = self.current_cpu() else { return };
        let rq = self.sched.rqs[cpu_id].lock();
        let Some(curr) = rq.curr.clone() else { return };
        let resched = match curr.policy() {
            Policy::Normal(_) if rq.has_normal_waiting() => {
                let ran = curr.slice_ticks.fetch_add(1, Ordering::Relaxed) as u64 + 1;
                // Weighted slice: heavier (lower nice) threads run longer.
                ran * 1024 >= SLICE_TICKS_NICE0 * curr.policy().weight() as u64
            }
            Policy::Idle => rq.nr_queued() > 0,
            _ => rq.best_rank() > curr.policy().rank(),
        };
        drop(rq);
        if resched {
            self.this_cpu().set_need_resched(true);
        }
        if let Some(h) = curr.hooks.as_ref() {
            // Linux's scheduler_tick calls wq_worker_tick for kworkers.
            h.tick(self, &curr);
        }
    }

    /// The idle loop of `cpu`: runs until shutdown. The runtime calls this on the
    /// thread made by [`IrqSystem::init_idle`], after marking the CPU online.
    pub fn cpu_idle_loop(&self, cpu: CpuId) {
        loop {
            self.local_irq_disable();
            if self.sched.shutting_down() {
                self.local_irq_enable();
                break;
            }
            let mut queued = self.sched.rqs[cpu].lock().nr_queued();
            if queued > 0 && !self.this_cpu().online() {
                // An offline CPU runs only its parked per-CPU threads: anything else
                // queued here (preempted while the CPU went down) moves to an online
                // CPU, as Linux's migrate_tasks does.
                let threads = self.sched.rqs[cpu].lock().queued_threads();
                for t in threads.iter().filter(|t| !t.is_percpu_smpboot()) {
                    self.migrate_queued_thread(t);
                }
                queued = self.sched.rqs[cpu].lock().nr_queued();
            }
            if queued > 0 || self.this_cpu().need_resched() {
                self.schedule_idle();
            } else {
                self.platform().idle_wait(cpu);
            }
            self.local_irq_enable();
        }
    }

    /// Names of all live threads (for views and `ps`-like listings).
    pub fn thread_names(&self) -> Vec<alloc::string::String> {
        self.threads().iter().map(|t| t.name().to_string()).collect()
    }
}

/// Why `__schedule` runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Switch {
    /// `schedule()`: prev blocks if it set itself sleeping.
    Voluntary,
    /// Involuntary (`preempt_enable`): prev stays runnable, a FIFO prev keeps its
    /// queue position.
    Preempt,
    /// As `Preempt`, at interrupt exit: prev may be anywhere in its code, so inside a
    /// pinned per-CPU access it resumes on this CPU (`Thread::irq_preempted`).
    PreemptIrq,
    /// `yield()`: prev stays runnable at the back of its queue.
    Yield,
}
