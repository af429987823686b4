//! Worker creation (the manager's `create_worker`) and the scheduler hooks that keep
//! a pool's `nr_running` (`wq_worker_sleeping` / `wq_worker_running`).

use alloc::format;
use alloc::sync::{Arc, Weak};

use super::pool::{Pool, WorkerSlot};
use super::process::wq_worker_tick;
use super::worker::{
    worker_thread, Worker, WORKER_IDLE, WORKER_NOT_RUNNING, WORKER_PREP, WORKER_UNBOUND,
};
use crate::cpu::CpuMask;
use crate::sched::{Affinity, KthreadSpec, Policy, SchedHooks, Thread, WaitQueue};
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::{IrqError, IrqSystem};

/// The scheduler hooks of one worker (`wq_worker_sleeping` / `wq_worker_running`).
struct WorkerHooks {
    worker: Weak<Worker>,
}

impl SchedHooks for WorkerHooks {
    fn sleeping(&self, sys: &IrqSystem, _thread: &Thread) {
        let Some(w) = self.worker.upgrade() else { return };
        if w.flags() & WORKER_NOT_RUNNING != 0 || w.is_sleeping() {
            return;
        }
        let Some(pool) = w.pool.upgrade() else { return };
        let mut g = pool.lock(sys);
        // Re-check under the lock: flags change only under it.
        if w.flags() & WORKER_NOT_RUNNING != 0 || w.is_sleeping() {
            return;
        }
        w.sleeping.store(true, Ordering::Release);
        g.nr_running -= 1;
        if g.kick(sys) {
            let wq = g.slot(&w).and_then(|s| s.current.as_ref().map(|c| c.wq));
            if let Some(wq) = wq {
                wq.get(&g).stats.cm_wakeups.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn running(&self, sys: &IrqSystem, _thread: &Thread) {
        let Some(w) = self.worker.upgrade() else { return };
        if !w.is_sleeping() {
            return;
        }
        let Some(pool) = w.pool.upgrade() else { return };
        let mut g = pool.lock(sys);
        if w.sleeping.swap(false, Ordering::AcqRel) && w.flags() & WORKER_NOT_RUNNING == 0 {
            g.nr_running += 1;
        }
        // "Ran for the threshold without sleeping" counts from here.
        w.ran_ticks.store(0, Ordering::Relaxed);
    }

    fn tick(&self, sys: &IrqSystem, _thread: &Thread) {
        let Some(w) = self.worker.upgrade() else { return };
        wq_worker_tick(sys, &w);
    }
}

/// Where a worker of `pool` may run now (`unbound`: the per-CPU pool is
/// disassociated).
pub(super) fn worker_affinity(sys: &IrqSystem, pool: &Pool, unbound: bool) -> Affinity {
    match pool.cpu {
        Some(c) if !unbound => Affinity::Bound(c),
        Some(c) => Affinity::Unbound(super::hotplug::unbound_mask(sys, c)),
        // An unbound pool's workers: inside the pod if strict, else anywhere.
        None if pool.strict => Affinity::Unbound(super::hotplug::strict_pool_mask(sys, pool)),
        None => Affinity::Unbound(CpuMask::first_n(sys.nr_cpus())),
    }
}

/// `create_worker`: a new idle worker for `pool`, its thread started. Fails when the
/// fault-injection switch is on, or when the thread cannot be created.
pub(crate) fn create_worker(sys: &Arc<IrqSystem>, pool: &Arc<Pool>) -> Result<(), IrqError> {
    if sys.wq.fail_create.load(Ordering::Acquire) {
        return Err(IrqError::NoSpace("worker creation failed (fault injection)"));
    }
    let w = {
        let mut g = pool.lock(sys);
        // Lowest free id, as the per-pool IDA hands them out.
        let mut id = 0;
        while g.workers.iter().any(|s| s.worker.id == id) {
            id += 1;
        }
        let name = match pool.cpu {
            Some(c) if pool.highpri => format!("kworker/{}:{}H", c.0, id),
            Some(c) => format!("kworker/{}:{}", c.0, id),
            None => format!("kworker/u{}:{}", pool.id, id),
        };
        // worker_attach_to_pool: a disassociated pool's new workers are unbound too.
        let unbound = if pool.cpu.is_none() || g.disassociated { WORKER_UNBOUND } else { 0 };
        let w = Arc::new(Worker {
            id,
            name,
            pool: Arc::downgrade(pool),
            pool_id: pool.id,
            flags: AtomicU32::new(WORKER_PREP | WORKER_IDLE | unbound),
            sleeping: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            wait: WaitQueue::new(),
            last_active_ns: AtomicU64::new(sys.now_ns()),
            thread_id: AtomicU64::new(0),
            rescuer: false,
            ran_ticks: AtomicU32::new(0),
            current_stats: AtomicPtr::new(core::ptr::null_mut()),
            wake_pod: (pool.cpu.is_none() && !pool.strict).then_some(pool.pod),
            slot_hint: AtomicU32::new(0),
        });
        g.workers.push(WorkerSlot {
            worker: w.clone(),
            current: None,
            scheduled: Default::default(),
            last_wq: None,
            retired: None,
        });
        g.idle.insert(0, w.clone());
        g.nr_attaching += 1;
        (w, unbound != 0)
    };
    let (w, unbound) = w;
    let affinity = worker_affinity(sys, pool, unbound);
    let hooks: Arc<dyn SchedHooks> = Arc::new(WorkerHooks { worker: Arc::downgrade(&w) });
    let spec = KthreadSpec {
        name: w.name.clone(),
        policy: Policy::Normal(pool.nice()),
        affinity,
        hooks: Some(hooks),
    };
    let (sys2, w2, p2) = (sys.clone(), w.clone(), pool.clone());
    match sys.create_kthread(spec, move |task| worker_thread(&sys2, p2, w2, task)) {
        Ok(t) => {
            w.thread_id.store(t.id().0, Ordering::Release);
            sys.wq.workers.lock_irqsave(sys).insert(t.id(), w.clone());
            // worker_attach_to_pool: CPU hotplug may have changed the pool
            // (disassociated, rebound, pod offline) since the affinity was chosen,
            // and missed this thread while its id was unknown. Chosen again and set
            // under the lock that hotplug changes the pool under, so a choice made
            // before a change is never applied after it; hotplug waits for
            // `nr_attaching` to drop, so it returns with this thread placed too.
            {
                let mut g = pool.lock(sys);
                let now = worker_affinity(sys, pool, pool.cpu.is_some() && g.disassociated);
                if now != affinity {
                    t.set_affinity(now);
                }
                g.nr_attaching -= 1;
            }
            // A non-strict pool's new worker starts in its pod, as later wake-ups do.
            match &w.wake_pod {
                Some(pod) => sys.wake_up_process_prefer(&t, pod),
                None => sys.wake_up_process(&t),
            };
            pool.nr_created.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            let mut g = pool.lock(sys);
            g.workers.retain(|s| !Arc::ptr_eq(&s.worker, &w));
            g.idle.retain(|x| !Arc::ptr_eq(x, &w));
            g.nr_attaching -= 1;
            Err(e)
        }
    }
}
