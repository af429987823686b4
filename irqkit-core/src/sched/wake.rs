//! Waking and placing threads: `wake_up_process`, CPU selection, migration after an
//! affinity change (`set_cpus_allowed`), and the reschedule kick.

use alloc::sync::Arc;

use super::{Affinity, Policy, Thread, ThreadState};
use crate::cpu::{CpuId, CpuMask};
use crate::platform::Ipi;
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

impl IrqSystem {
    /// The CPU a wake-up should start from for `t` to land in `prefer`: none if its
    /// last CPU is already there, else an idle allowed online CPU of `prefer`, else
    /// any allowed online one.
    fn wake_cpu_hint(&self, t: &Thread, prefer: &CpuMask) -> Option<CpuId> {
        if prefer.contains(t.cpu()) {
            return None;
        }
        let usable = self.online_mask().and(prefer);
        let mut first = None;
        for c in usable.iter().filter(|c| t.allowed_on(*c)) {
            if self.cpu_is_idle(c) {
                return Some(c);
            }
            first = first.or(Some(c));
        }
        first
    }

    /// True if `c` runs its idle thread and has nothing queued.
    fn cpu_is_idle(&self, c: CpuId) -> bool {
        let rq = self.sched.rqs[c].lock();
        let curr_idle = rq.curr.as_ref().is_none_or(|c| c.policy() == Policy::Idle);
        curr_idle && rq.nr_queued() == 0
    }

    /// Picks the CPU a waking thread goes to.
    fn select_cpu(&self, t: &Thread) -> CpuId {
        match t.affinity() {
            Affinity::Bound(c) => c,
            Affinity::Unbound(mask) => {
                let online = self.online_mask().and(&mask);
                let last = t.cpu();
                let idle = |c: CpuId| self.cpu_is_idle(c);
                if online.contains(last) && idle(last) {
                    return last;
                }
                if let Some(c) = online.iter().find(|c| idle(*c)) {
                    return c;
                }
                if online.contains(last) {
                    last
                } else {
                    online.first().or(mask.first()).unwrap_or(CpuId(0))
                }
            }
        }
    }

    /// `wake_up_process`: makes a sleeping (or new) thread runnable. Returns false if
    /// it was already runnable or dead. Safe from any context, also off the machine.
    pub fn wake_up_process(&self, t: &Arc<Thread>) -> bool {
        self.try_to_wake_up(t, None)
    }

    /// `wake_up_process` with a placement hint, as the workqueue's `kick_pool` sets
    /// Linux's `p->wake_cpu`: a thread that last ran outside `prefer` is placed as if
    /// it had last run on an online CPU of `prefer` it may use (an idle one if any).
    pub fn wake_up_process_prefer(&self, t: &Arc<Thread>, prefer: &CpuMask) -> bool {
        self.try_to_wake_up(t, Some(prefer))
    }

    /// `try_to_wake_up`.
    fn try_to_wake_up(&self, t: &Arc<Thread>, prefer: Option<&CpuMask>) -> bool {
        let flags = self.local_irq_save();
        let wl = t.wake_lock.lock();
        match t.state() {
            ThreadState::Sleeping | ThreadState::New => {}
            _ => {
                drop(wl);
                self.local_irq_restore(flags);
                return false;
            }
        }
        t.set_state(ThreadState::Runnable);
        if t.on_cpu.load(Ordering::Acquire) {
            // Still on its CPU between "going to sleep" and the switch: __schedule
            // will see Runnable and keep it running.
            drop(wl);
            self.local_irq_restore(flags);
            return true;
        }
        if let Some(prefer) = prefer {
            // Not running and not queued (we hold its wake lock): its CPU is only a
            // placement hint now.
            if let Some(c) = self.wake_cpu_hint(t, prefer) {
                t.set_cpu(c);
            }
        }
        let target = self.select_cpu(t);
        t.set_cpu(target);
        let mut rq = self.sched.rqs[target].lock();
        t.queued.store(true, Ordering::Relaxed);
        rq.enqueue(t.clone(), false);
        let curr_rank = rq.curr.as_ref().map(|c| c.policy().rank()).unwrap_or(0);
        let preempt = t.policy().rank() > curr_rank;
        drop(rq);
        drop(wl);
        let here = self.current_cpu();
        if preempt {
            self.resched_cpu(target, here);
        }
        self.local_irq_restore(flags);
        if preempt && here == Some(target) {
            self.preempt_check_resched();
        }
        true
    }

    /// Moves a queued (runnable, not running) thread off a CPU it may no longer run
    /// on — after an affinity change, or because that CPU went offline — to the CPU
    /// a wake-up would pick (`set_cpus_allowed_ptr` / `migrate_tasks`). A running
    /// thread is left alone: it moves at its next switch; so is one preempted at
    /// interrupt exit inside a per-CPU access, until it switches again (see
    /// `Thread::irq_preempted`). True if it moved.
    pub fn migrate_queued_thread(&self, t: &Arc<Thread>) -> bool {
        let flags = self.local_irq_save();
        let wl = t.wake_lock.lock();
        let from = t.cpu();
        let stays = t.allowed_on(from) && self.cpu(from).is_ok_and(|c| c.online());
        let moved = !stays
            && t.state() == ThreadState::Runnable
            && !t.on_cpu.load(Ordering::Acquire)
            && !t.irq_preempted.load(Ordering::Relaxed)
            && self.sched.rqs.get(from).is_some_and(|rq| rq.lock().remove(t));
        let mut target = from;
        if moved {
            target = self.select_cpu(t);
            t.set_cpu(target);
            let mut rq = self.sched.rqs[target].lock();
            rq.enqueue(t.clone(), false);
            let preempt = t.policy().rank() > rq.curr.as_ref().map_or(0, |c| c.policy().rank());
            drop(rq);
            if preempt {
                self.resched_cpu(target, self.current_cpu());
            }
        }
        drop(wl);
        self.local_irq_restore(flags);
        // Nowhere else to go (no allowed CPU online): it stayed where it was.
        moved && target != from
    }

    /// `set_cpus_allowed_ptr`: changes where `t` may run and moves it off a CPU the
    /// new affinity excludes now: a queued thread to an allowed CPU's queue, the
    /// running one by a reschedule interrupt there, whose exit preemption switches it
    /// out to where a wake-up would put it (Linux's stopper does the same). A thread
    /// preempted inside a per-CPU access, or on a platform that resumes threads
    /// preempted at interrupt exit where they were, moves at its next switch.
    pub fn set_cpus_allowed(&self, t: &Arc<Thread>, a: Affinity) {
        t.set_affinity(a);
        if self.migrate_queued_thread(t) {
            return;
        }
        let flags = self.local_irq_save();
        let cpu = t.cpu();
        let here = self.current_cpu();
        // Under the run queue's lock, as a switch there sets `curr`: a thread picked
        // after the move above found it still queued is seen running here.
        let running = self.sched.rqs[cpu].lock().curr.as_ref().is_some_and(|c| Arc::ptr_eq(c, t));
        let push = running && !t.allowed_on(cpu);
        if push {
            self.resched_cpu(cpu, here);
        }
        self.local_irq_restore(flags);
        if push && here == Some(cpu) {
            // The caller's own CPU (perhaps `t` itself): switch now.
            self.preempt_check_resched();
        }
    }

    /// Queues `t`, runnable and just switched out on `from`, on the CPU a wake-up
    /// would pick (`from` again if it has nowhere else to go), preempting there if
    /// it outranks what runs. The caller holds `t`'s wake lock.
    pub(super) fn enqueue_moved(&self, t: &Arc<Thread>, from: CpuId, head: bool) {
        let target = self.select_cpu(t);
        t.set_cpu(target);
        t.queued.store(true, Ordering::Relaxed);
        let mut rq = self.sched.rqs[target].lock();
        rq.enqueue(t.clone(), head);
        let preempt = t.policy().rank() > rq.curr.as_ref().map_or(0, |c| c.policy().rank());
        drop(rq);
        if preempt && target != from {
            self.resched_cpu(target, Some(from));
        }
    }

    /// Sets `need_resched` on `target` and kicks it if it is another CPU.
    fn resched_cpu(&self, target: CpuId, here: Option<CpuId>) {
        let cpu = &self.cpu(target).expect("target cpu exists");
        cpu.set_need_resched(true);
        if here != Some(target) {
            // An offline CPU has nothing to preempt; ignore the error.
            let _ = self.platform().send_ipi(target, Ipi::Reschedule);
        }
    }
}
