//! Running works: `process_one_work`, the scheduled-list loop, mayday, and the
//! tick's CPU-intensive detection (`wq_worker_tick`).

use alloc::format;
use alloc::sync::Arc;
use core::mem::ManuallyDrop;

use super::pool::{Item, Pool, PoolInner, Retired};
use super::pool_lock::PoolGuard;
use super::work::{Work, WorkCtx};
use super::worker::{Worker, WORKER_CPU_INTENSIVE, WORKER_NOT_RUNNING};
use super::WqInner;
use super::{WQ_CPU_INTENSIVE, WQ_MEM_RECLAIM};
use crate::sync::atomic::Ordering;
use crate::sync::LineArc;
use crate::IrqSystem;

/// Runs this worker's scheduled list (items assigned to it) to the end.
pub(crate) fn process_scheduled<'a>(
    sys: &'a IrqSystem,
    pool: &'a Arc<Pool>,
    w: &Arc<Worker>,
    mut g: PoolGuard<'a>,
    ctx: WorkCtx<'_>,
    rescuer: bool,
) -> PoolGuard<'a> {
    // process_scheduled_works: the pool makes progress (the lockup watchdog's clock).
    g.watchdog_ts = sys.jiffies();
    loop {
        let Some(slot) = g.slot(w) else { return g };
        let Some(item) = slot.scheduled.pop_front() else { return g };
        g = process_one_work(sys, pool, w, g, item, ctx, rescuer);
    }
}

/// `process_one_work`: runs one item with the pool lock dropped around the call.
fn process_one_work<'a>(
    sys: &'a IrqSystem,
    pool: &'a Arc<Pool>,
    w: &Arc<Worker>,
    mut g: PoolGuard<'a>,
    item: Item,
    ctx: WorkCtx<'_>,
    rescuer: bool,
) -> PoolGuard<'a> {
    let cpu_intensive = item.wq.get(&g).flags & WQ_CPU_INTENSIVE != 0;
    // No clock read per item (two cost as much as an empty work on a hosted
    // runtime): run time is counted in ticks, as Linux's `wq_worker_tick` samples it.
    w.ran_ticks.store(0, Ordering::Relaxed);
    // Borrowed handles, not clones: the item stays in this worker's slot until this
    // worker takes it out below, then in `done` and the slot's `retired`, so the
    // work's count outlives every use here; the slot's `last_wq` counts the
    // workqueue until this worker's next item (the item itself holds no count on
    // it, see `WqRef`), and is replaced only when the workqueue changes. That
    // saves a clone and a drop of a count the producers share.
    // SAFETY: `item.work` holds a count for as long as `work` is used (see above);
    // ManuallyDrop never releases the count this handle did not take.
    let work = ManuallyDrop::new(Work(unsafe { LineArc::uncounted_copy(&item.work.0) }));
    let wq_ref = item.wq;
    let color = item.color;
    let mut prev = None;
    // Without a slot (never expected) the item and a count on its workqueue are
    // kept here instead.
    let mut orphan = None;
    let mut orphan_wq = None;
    if !g.slot(w).is_some_and(|s| s.last_wq.as_ref().is_some_and(|l| wq_ref.is(l))) {
        let counted = wq_ref.arc(&g);
        match g.slot(w) {
            Some(slot) => slot.last_wq = Some(counted),
            None => orphan_wq = Some(counted),
        }
    }
    match g.slot(w) {
        Some(slot) => {
            prev = slot.retired.take();
            slot.current = Some(item);
        }
        None => orphan = Some(item),
    }
    // SAFETY: `last_wq` (or `orphan_wq`) holds a strong count on this workqueue
    // until this worker's next item, after every use of `wq` here; ManuallyDrop
    // never releases a count this handle did not take.
    let wq: ManuallyDrop<Arc<WqInner>> =
        ManuallyDrop::new(unsafe { Arc::from_raw(wq_ref.as_ptr()) });
    if cpu_intensive {
        g.worker_set_flags(w, WORKER_CPU_INTENSIVE);
        wq.stats.cpu_intensive.fetch_add(1, Ordering::Relaxed);
    }
    // Chain execution for workers outside concurrency management.
    let kick = g.kick_deferred(sys);
    work.set_pool(pool.id, false);
    // PENDING is cleared before the call, so the function may requeue itself.
    work.clear_pending();
    g.pwq_started(wq.id);
    // Nothing else waits: once this item returns, the pool may well fall idle. Only
    // if this unlock closes the ring is there anything to open.
    let open_after = !rescuer && g.worklist.is_empty() && !g.fast_ok();
    // The close count once this unlock has closed the ring.
    let closes = g.ring_closes.wrapping_add(1);
    if rescuer {
        wq.stats.rescued.fetch_add(1, Ordering::Relaxed);
    }
    drop(g);
    drop(prev);
    kick.wake(sys);
    w.current_stats.store(core::ptr::from_ref(&wq.stats).cast_mut(), Ordering::Relaxed);
    let ok = sys.wq.run_guarded(&mut || work.call(sys, ctx));
    w.current_stats.store(core::ptr::null_mut(), Ordering::Relaxed);
    if !ok {
        wq.stats.panicked.fetch_add(1, Ordering::Relaxed);
        sys.wq.log(
            sys,
            format!("workqueue: work {:#x} on {} panicked; contained", work.addr(), wq.name),
        );
    }
    let reopened = open_after && pool.open_ring_until_locked();
    let mut g = pool.lock(sys);
    if reopened {
        g.ring_opened(closes);
    }
    // Declared or detected by the tick: the flag ends with the item.
    if w.flags() & WORKER_CPU_INTENSIVE != 0 {
        g.worker_clr_flags(w, WORKER_CPU_INTENSIVE);
    }
    // flush_work / cancel_work_sync see the instance done only once it is no longer
    // the worker's current work.
    let done = g.slot(w).and_then(|slot| slot.current.take()).or(orphan);
    work.0.nr_done.fetch_add(1, Ordering::SeqCst);
    // `pwq_dec_nr_in_flight`: counted completed, flushed for flush_workqueue (its
    // colour), and its active slot goes to the next inactive work.
    g.pwq_finish(sys, wq.id, color);
    sys.wq.wake_work_flushers(sys);
    // Read under the lock, after the count dropped: a flusher that registers later
    // takes this lock to look, so it sees the drop. Its wait condition takes pool
    // locks inside the wait queue's lock: wake it with the pool lock dropped.
    if wq.flushers.load(Ordering::SeqCst) > 0 {
        drop(g);
        wq.flush_wait.wake_all(sys);
        g = pool.lock(sys);
    }
    if let (Some(done), Some(slot)) = (done, g.slot(w)) {
        slot.retired = Some(done);
    }
    drop(orphan_wq);
    g
}

/// Takes the worker's retired item (see [`WorkerSlot::retired`](super::pool::WorkerSlot::retired)) for the caller to
/// drop once it has unlocked the pool.
pub(crate) fn take_retired(g: &mut PoolInner, w: &Worker) -> Option<Retired> {
    g.slot(w).and_then(|s| s.retired.take())
}

/// `send_mayday`: every work on the worklist whose workqueue has a rescuer asks it
/// for help with this pool.
pub(crate) fn send_mayday(sys: &IrqSystem, g: &PoolInner) {
    for item in g.worklist.iter() {
        let wq = item.wq.get(g);
        if wq.flags & WQ_MEM_RECLAIM != 0 {
            wq.mayday(sys, item.work.last_pool());
        }
    }
}

/// `wq_worker_tick`, called from the tick for a worker thread on its CPU. As in
/// Linux, run time is sampled here rather than clocked per item: the item running
/// now is charged one tick of `cpu_time_ns` (Linux adds TICK_USEC to the pwq's
/// CPU_TIME), and an item that has been found running for
/// `wq_cpu_intensive_thresh_us` worth of ticks since it started or last woke (its
/// CPU time to within a tick, as Linux's `sum_exec_runtime - current_at`) leaves
/// concurrency management, and the pool starts its next item.
///
/// Lock-free unless it flags the worker: the tick runs on the worker's CPU with the
/// worker interrupted, so the worker's own fields hold still; the pool lock is
/// taken only to set WORKER_CPU_INTENSIVE and kick the pool, as in Linux.
pub(crate) fn wq_worker_tick(sys: &IrqSystem, w: &Worker) {
    if w.is_rescuer() {
        return;
    }
    let stats = w.current_stats.load(Ordering::Relaxed);
    // SAFETY: non-null only between the worker's store before the call and its
    // clear after it, while the worker holds a handle on the workqueue; the worker
    // is interrupted by this tick, so it is at neither store and the handle lives.
    let Some(stats) = (unsafe { stats.as_ref() }) else { return };
    let tick_ns = 1_000_000_000 / u64::from(sys.config().hz.max(1));
    stats.cpu_time_ns.fetch_add(tick_ns, Ordering::Relaxed);
    let thresh_ns = sys.wq.cpu_intensive_thresh_us.load(Ordering::Relaxed) * 1000;
    if thresh_ns == 0 || w.flags() & WORKER_NOT_RUNNING != 0 {
        return;
    }
    let ran = w.ran_ticks.load(Ordering::Relaxed) + 1;
    w.ran_ticks.store(ran, Ordering::Relaxed);
    if u64::from(ran) * tick_ns < thresh_ns {
        return;
    }
    let Some(pool) = w.pool.upgrade() else { return };
    let mut g = pool.lock(sys);
    g.worker_set_flags(w, WORKER_CPU_INTENSIVE);
    stats.cpu_intensive.fetch_add(1, Ordering::Relaxed);
    g.kick(sys);
}
