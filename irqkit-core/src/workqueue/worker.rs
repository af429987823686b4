//! Worker threads: the worker loop, `process_one_work`, the manager, scheduler hooks.
//!
//! Mirrors kernel/workqueue.c `worker_thread`: leave idle; if the pool needs no
//! worker, sleep; if no idle worker would remain, become the manager and create one;
//! then process works while `keep_working`, and go idle (LIFO) again. The scheduler
//! hooks keep the pool's `nr_running` and wake an idle worker when the last running
//! one blocks with work queued (concurrency management).

use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};

use super::pool::{Item, Pool, PoolInner, WorkerSlot};
use super::{WQ_CPU_INTENSIVE, WQ_MEM_RECLAIM};
use crate::cpu::{CpuMask, Task};
use crate::sched::{Affinity, KthreadSpec, Policy, SchedHooks, Thread, ThreadId, WaitQueue};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::SpinLockIrqGuard;
use crate::{IrqError, IrqSystem};

/// `WORKER_DIE`: the idle reaper told this worker to exit.
pub(crate) const WORKER_DIE: u32 = 2;
/// `WORKER_IDLE`.
pub(crate) const WORKER_IDLE: u32 = 4;
/// `WORKER_PREP`: not yet (or no longer) processing; not counted in nr_running.
pub(crate) const WORKER_PREP: u32 = 8;
/// `WORKER_CPU_INTENSIVE`: left concurrency management for the current item.
pub(crate) const WORKER_CPU_INTENSIVE: u32 = 0x40;
/// `WORKER_UNBOUND`: an unbound pool's worker (never concurrency-managed).
pub(crate) const WORKER_UNBOUND: u32 = 0x80;
/// Flags that take a worker out of `nr_running`.
pub(crate) const WORKER_NOT_RUNNING: u32 = WORKER_PREP | WORKER_CPU_INTENSIVE | WORKER_UNBOUND;
/// Linux's CREATE_COOLDOWN (HZ): wait after a failed worker creation.
const CREATE_COOLDOWN_MS: u64 = 1000;

/// A worker (`struct worker`); its lists live in the pool's [`WorkerSlot`].
pub(crate) struct Worker {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) pool: Arc<Pool>,
    /// Worker flags; changed only under the pool lock, read anywhere.
    flags: AtomicU32,
    /// Blocked while busy (the hooks took it out of nr_running).
    sleeping: AtomicBool,
    /// Set by a waker; the idle wait sleeps until it is.
    woken: AtomicBool,
    wait: WaitQueue,
    pub(crate) last_active_ns: AtomicU64,
    pub(crate) thread_id: AtomicU64,
    rescuer: bool,
    /// When the current item started or last woke (CPU-intensive detection).
    current_at: AtomicU64,
}

impl Worker {
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }
    pub(crate) fn set_flags(&self, f: u32) {
        self.flags.fetch_or(f, Ordering::AcqRel);
    }
    pub(crate) fn clr_flags(&self, f: u32) {
        self.flags.fetch_and(!f, Ordering::AcqRel);
    }
    /// The pool this worker serves (a rescuer: the pool it is helping now).
    pub(crate) fn attached_pool(&self) -> u32 {
        self.pool.id
    }
    pub(crate) fn is_rescuer(&self) -> bool {
        self.rescuer
    }

    /// A rescuer's stand-in worker while it helps `pool` (never concurrency-managed).
    pub(crate) fn new_rescuer(pool: &Arc<Pool>, name: String, thread: ThreadId) -> Arc<Worker> {
        Arc::new(Worker {
            id: u32::MAX,
            name,
            pool: pool.clone(),
            flags: AtomicU32::new(WORKER_UNBOUND),
            sleeping: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            wait: WaitQueue::new(),
            last_active_ns: AtomicU64::new(0),
            thread_id: AtomicU64::new(thread.0),
            rescuer: true,
            current_at: AtomicU64::new(0),
        })
    }

    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Acquire)
    }

    /// Wakes the worker from its idle wait (or makes the next wait return at once).
    pub(crate) fn wake(&self, sys: &IrqSystem) {
        self.woken.store(true, Ordering::Release);
        self.wait.wake_all(sys);
    }
}

/// The scheduler hooks of one worker (`wq_worker_sleeping` / `wq_worker_running`).
struct WorkerHooks {
    worker: Weak<Worker>,
    sys: Weak<IrqSystem>,
}

impl SchedHooks for WorkerHooks {
    fn sleeping(&self, _thread: &Thread) {
        let (Some(w), Some(sys)) = (self.worker.upgrade(), self.sys.upgrade()) else { return };
        if w.flags() & WORKER_NOT_RUNNING != 0 || w.is_sleeping() {
            return;
        }
        let mut g = w.pool.inner.lock_irqsave(&sys);
        // Re-check under the lock: flags change only under it.
        if w.flags() & WORKER_NOT_RUNNING != 0 || w.is_sleeping() {
            return;
        }
        w.sleeping.store(true, Ordering::Release);
        g.nr_running -= 1;
        if g.kick(&sys) {
            let wq = g.slot(&w).and_then(|s| s.current.as_ref().map(|c| c.wq.clone()));
            if let Some(wq) = wq {
                wq.stats.cm_wakeups.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn running(&self, _thread: &Thread) {
        let (Some(w), Some(sys)) = (self.worker.upgrade(), self.sys.upgrade()) else { return };
        if !w.is_sleeping() {
            return;
        }
        let mut g = w.pool.inner.lock_irqsave(&sys);
        if w.sleeping.swap(false, Ordering::AcqRel) && w.flags() & WORKER_NOT_RUNNING == 0 {
            g.nr_running += 1;
        }
        // "Ran for the threshold without sleeping" counts from here.
        w.current_at.store(sys.now_ns(), Ordering::Relaxed);
    }
}

/// `create_worker`: a new idle worker for `pool`, its thread started. Fails when the
/// fault-injection switch is on, or when the thread cannot be created.
pub(crate) fn create_worker(sys: &Arc<IrqSystem>, pool: &Arc<Pool>) -> Result<(), IrqError> {
    if sys.wq.fail_create.load(Ordering::Acquire) {
        return Err(IrqError::NoSpace("worker creation failed (fault injection)"));
    }
    let w = {
        let mut g = pool.inner.lock_irqsave(sys);
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
        let unbound = if pool.cpu.is_none() { WORKER_UNBOUND } else { 0 };
        let w = Arc::new(Worker {
            id,
            name,
            pool: pool.clone(),
            flags: AtomicU32::new(WORKER_PREP | WORKER_IDLE | unbound),
            sleeping: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            wait: WaitQueue::new(),
            last_active_ns: AtomicU64::new(sys.now_ns()),
            thread_id: AtomicU64::new(0),
            rescuer: false,
            current_at: AtomicU64::new(0),
        });
        g.workers.push(WorkerSlot {
            worker: w.clone(),
            current: None,
            scheduled: Default::default(),
            last_wq: None,
        });
        g.idle.insert(0, w.clone());
        w
    };
    let affinity = match pool.cpu {
        Some(c) => Affinity::Bound(c),
        None => {
            let mut m = CpuMask::new();
            for i in 0..sys.nr_cpus() {
                m.set(crate::CpuId(i as u32));
            }
            Affinity::Unbound(m)
        }
    };
    let hooks: Arc<dyn SchedHooks> =
        Arc::new(WorkerHooks { worker: Arc::downgrade(&w), sys: Arc::downgrade(sys) });
    let spec = KthreadSpec {
        name: w.name.clone(),
        policy: Policy::Normal(pool.nice()),
        affinity,
        hooks: Some(hooks),
    };
    let (sys2, w2) = (sys.clone(), w.clone());
    match sys.spawn_kthread(spec, move |task| worker_thread(&sys2, w2, task)) {
        Ok(t) => {
            w.thread_id.store(t.id().0, Ordering::Release);
            sys.wq.workers.lock_irqsave(sys).insert(t.id(), w.clone());
            pool.nr_created.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            let mut g = pool.inner.lock_irqsave(sys);
            g.workers.retain(|s| !Arc::ptr_eq(&s.worker, &w));
            g.idle.retain(|x| !Arc::ptr_eq(x, &w));
            Err(e)
        }
    }
}

/// Leaves the pool for good (exit on stop or after the idle reaper said DIE).
fn worker_detach(sys: &IrqSystem, w: &Arc<Worker>, mut g: SpinLockIrqGuard<'_, PoolInner>) {
    g.workers.retain(|s| !Arc::ptr_eq(&s.worker, w));
    g.idle.retain(|x| !Arc::ptr_eq(x, w));
    drop(g);
    sys.wq.workers.lock_irqsave(sys).remove(&ThreadId(w.thread_id.load(Ordering::Acquire)));
}

fn worker_thread(sys: &Arc<IrqSystem>, w: Arc<Worker>, task: &Task) {
    let me = sys.current_thread().expect("worker runs on a kernel thread");
    // Registration raced with our start: make sure current_work can find us.
    sys.wq.workers.lock_irqsave(sys).insert(me.id(), w.clone());
    w.thread_id.store(me.id().0, Ordering::Release);
    let pool = w.pool.clone();
    loop {
        let mut g = pool.inner.lock_irqsave(sys);
        if me.should_stop() || w.flags() & WORKER_DIE != 0 {
            worker_detach(sys, &w, g);
            return;
        }
        // worker_leave_idle
        if w.flags() & WORKER_IDLE != 0 {
            w.clr_flags(WORKER_IDLE);
            g.idle.retain(|x| !Arc::ptr_eq(x, &w));
        }
        let mut work_now = false;
        while g.need_more_worker() {
            if !g.idle.is_empty() || g.manager_active {
                work_now = true;
                break;
            }
            // manage_workers / maybe_create_worker
            g.manager_active = true;
            drop(g);
            let r = create_worker(sys, &pool);
            g = pool.inner.lock_irqsave(sys);
            g.manager_active = false;
            if r.is_err() {
                send_mayday(sys, &g);
                drop(g);
                if me.should_stop() {
                    g = pool.inner.lock_irqsave(sys);
                    break;
                }
                let _ = crate::timer::msleep(sys, task, CREATE_COOLDOWN_MS);
                g = pool.inner.lock_irqsave(sys);
                if me.should_stop() {
                    break;
                }
            }
        }
        if work_now {
            g.worker_clr_flags(&w, WORKER_PREP);
            loop {
                let Some(item) = g.worklist.pop_front() else { break };
                // assign_work: hand it to the worker already running it, if any.
                let target = g.executing(&item.work).unwrap_or_else(|| {
                    g.workers.iter().position(|s| Arc::ptr_eq(&s.worker, &w)).unwrap_or(0)
                });
                let mine = Arc::ptr_eq(&g.workers[target].worker, &w);
                g.workers[target].scheduled.push_back(item);
                if mine {
                    g = process_scheduled(sys, &pool, &w, g, task, false);
                }
                if !g.keep_working() {
                    break;
                }
            }
            g.worker_set_flags(&w, WORKER_PREP);
        }
        // worker_enter_idle
        w.set_flags(WORKER_IDLE);
        w.last_active_ns.store(sys.now_ns(), Ordering::Relaxed);
        w.woken.store(false, Ordering::Release);
        g.idle.push(w.clone());
        if g.too_many_workers() && !pool.idle_timer.pending() {
            let ms = sys.wq.idle_timeout_ms.load(Ordering::Relaxed);
            pool.idle_timer.modify(sys, sys.jiffies() + sys.msecs_to_jiffies(ms) + 1);
        }
        // A kick that came in while we were busy: the pool may still need us.
        let again = g.need_more_worker();
        drop(g);
        if !again {
            let _ = w
                .wait
                .wait_event(sys, task, || w.woken.load(Ordering::Acquire) || me.should_stop());
        }
    }
}

/// Runs this worker's scheduled list (items assigned to it) to the end.
pub(crate) fn process_scheduled<'a>(
    sys: &'a IrqSystem,
    pool: &'a Arc<Pool>,
    w: &Arc<Worker>,
    mut g: SpinLockIrqGuard<'a, PoolInner>,
    task: &Task,
    rescuer: bool,
) -> SpinLockIrqGuard<'a, PoolInner> {
    loop {
        let Some(slot) = g.slot(w) else { return g };
        let Some(item) = slot.scheduled.pop_front() else { return g };
        g = process_one_work(sys, pool, w, g, item, task, rescuer);
    }
}

/// `process_one_work`: runs one item with the pool lock dropped around the call.
fn process_one_work<'a>(
    sys: &'a IrqSystem,
    pool: &'a Arc<Pool>,
    w: &Arc<Worker>,
    mut g: SpinLockIrqGuard<'a, PoolInner>,
    item: Item,
    task: &Task,
    rescuer: bool,
) -> SpinLockIrqGuard<'a, PoolInner> {
    let cpu_intensive = item.wq.flags & WQ_CPU_INTENSIVE != 0;
    w.current_at.store(sys.now_ns(), Ordering::Relaxed);
    let work = item.work.clone();
    let wq = item.wq.clone();
    if let Some(slot) = g.slot(w) {
        slot.current = Some(item.clone());
        slot.last_wq = Some(wq.clone());
    }
    if cpu_intensive {
        g.worker_set_flags(w, WORKER_CPU_INTENSIVE);
        wq.stats.cpu_intensive.fetch_add(1, Ordering::Relaxed);
    }
    // Chain execution for workers outside concurrency management.
    g.kick(sys);
    work.0.queued.store(false, Ordering::Relaxed);
    work.0.last_pool.store(pool.id, Ordering::Release);
    // PENDING is cleared before the call, so the function may requeue itself.
    work.clear_pending();
    drop(g);
    wq.stats.started.fetch_add(1, Ordering::Relaxed);
    if rescuer {
        wq.stats.rescued.fetch_add(1, Ordering::Relaxed);
    }
    let start = sys.now_ns();
    let ok = sys.wq.run_guarded(sys, &mut || work.call(sys, task));
    wq.stats.cpu_time_ns.fetch_add(sys.now_ns().saturating_sub(start), Ordering::Relaxed);
    if !ok {
        wq.stats.panicked.fetch_add(1, Ordering::Relaxed);
        sys.wq.log(
            sys,
            format!("workqueue: work {:#x} on {} panicked; contained", work.addr(), wq.name),
        );
    }
    let mut g = pool.inner.lock_irqsave(sys);
    // Declared or detected by the tick: the flag ends with the item.
    if w.flags() & WORKER_CPU_INTENSIVE != 0 {
        g.worker_clr_flags(w, WORKER_CPU_INTENSIVE);
    }
    if let Some(slot) = g.slot(w) {
        slot.current = None;
    }
    work.0.nr_done.fetch_add(1, Ordering::SeqCst);
    g.dec_active(sys, wq.id);
    wq.stats.completed.fetch_add(1, Ordering::Relaxed);
    wq.flush_done(sys, item.color);
    sys.wq.wake_work_flushers(sys);
    g
}

/// `send_mayday`: every work on the worklist whose workqueue has a rescuer asks it
/// for help with this pool.
pub(crate) fn send_mayday(sys: &IrqSystem, g: &PoolInner) {
    for item in g.worklist.iter() {
        if item.wq.flags & WQ_MEM_RECLAIM != 0 {
            item.wq.mayday(sys, item.work.0.last_pool.load(Ordering::Relaxed));
        }
    }
}

/// `wq_worker_tick`: a concurrency-managed worker that has run its current item for
/// `wq_cpu_intensive_thresh_us` without sleeping leaves concurrency management
/// (CPU_INTENSIVE) so the pool can start its other work. Called from the tick.
pub(crate) fn wq_worker_tick(sys: &IrqSystem, curr: &Thread) {
    let thresh_ns = sys.wq.cpu_intensive_thresh_us.load(Ordering::Relaxed) * 1000;
    if thresh_ns == 0 {
        return;
    }
    let Some(w) = sys.wq.workers.lock_irqsave(sys).get(&curr.id()).cloned() else { return };
    if w.flags() & WORKER_NOT_RUNNING != 0 || w.is_rescuer() {
        return;
    }
    let ran = sys.now_ns().saturating_sub(w.current_at.load(Ordering::Relaxed));
    if ran < thresh_ns {
        return;
    }
    let mut g = w.pool.inner.lock_irqsave(sys);
    let Some(wq) = g.slot(&w).and_then(|s| s.current.as_ref().map(|c| c.wq.clone())) else {
        return;
    };
    if w.flags() & WORKER_NOT_RUNNING != 0 {
        return;
    }
    g.worker_set_flags(&w, WORKER_CPU_INTENSIVE);
    wq.stats.cpu_intensive.fetch_add(1, Ordering::Relaxed);
    g.kick(sys);
}
