//! CPU hotplug of worker pools (kernel/workqueue.c `workqueue_offline_cpu` /
//! `unbind_workers`, `workqueue_online_cpu` / `rebind_workers`,
//! `workqueue_softirq_dead`).
//!
//! When a CPU goes offline its two per-CPU pools become DISASSOCIATED: every worker
//! gets WORKER_UNBOUND (so the pool runs without concurrency management, like an
//! unbound pool), its thread may run on any online CPU, and queued or newly queued
//! works keep running — nothing is lost or stuck. When the CPU returns the workers
//! are bound to it again and marked WORKER_REBOUND, which they drop (rejoining
//! `nr_running`) the next time they start processing. Unbound workqueues are
//! re-podded (`wq_update_pod`): a pod that lost its last online CPU queues to the
//! default pool until one returns, and node max_active follows the online CPUs. A
//! strict unbound pool whose whole pod is offline lets its workers run on the
//! online CPUs, so what it held is not stranded. The CPU's BH pools cannot run
//! without their CPU; `workqueue_softirq_dead` runs what is left in them from a
//! BH work on a live CPU.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::bh::bh_worker;
use super::manage::create_worker;
use super::pool::Pool;
use super::pool_lock::PoolGuard;
use super::worker::{Worker, WORKER_REBOUND, WORKER_UNBOUND};
use super::{BhWork, Work, Workqueue};
use crate::cpu::{CpuId, CpuMask};
use crate::sched::{Affinity, Thread};
use crate::sync::atomic::SpinWait;
use crate::{IrqError, IrqSystem};

/// Where a dead CPU's workers may run: every online CPU but `dead` (all others if
/// none is online, so the mask is never empty).
pub(crate) fn unbound_mask(sys: &IrqSystem, dead: CpuId) -> CpuMask {
    let mut m = sys.online_mask();
    m.clear(dead);
    if m.is_empty() {
        m = CpuMask::first_n(sys.nr_cpus());
        m.clear(dead);
    }
    if m.is_empty() {
        m.set(dead);
    }
    m
}

/// Where a strict unbound pool's workers may run: its pod, or — while every CPU of
/// the pod is offline — the online CPUs (Linux falls back to the default pwq then),
/// so its queued work is never stranded on offline CPUs.
pub(crate) fn strict_pool_mask(sys: &IrqSystem, pool: &Pool) -> CpuMask {
    let online = sys.online_mask();
    if pool.pod.intersects(&online) || online.is_empty() {
        pool.pod
    } else {
        online
    }
}

/// `wq_update_pod` for hotplug: re-applies every strict unbound pool's worker mask.
fn update_strict_unbound_pools(sys: &IrqSystem) {
    let pools: Vec<Arc<Pool>> = sys.wq.unbound_pools.lock_irqsave(sys).clone();
    for pool in pools.iter().filter(|p| p.strict) {
        let mask = strict_pool_mask(sys, pool);
        let workers: Vec<Arc<Worker>> =
            pool.lock(sys).workers.iter().map(|s| s.worker.clone()).collect();
        let threads = worker_threads(sys, &workers);
        if threads.iter().any(|t| t.affinity() != Affinity::Unbound(mask)) {
            set_affinity_all(sys, &threads, Affinity::Unbound(mask));
        }
    }
}

/// The kernel threads of `workers` (rescuers excluded: they are unbound anyway).
fn worker_threads(sys: &IrqSystem, workers: &[Arc<Worker>]) -> Vec<Arc<Thread>> {
    let ids: Vec<u64> = workers
        .iter()
        .filter(|w| !w.is_rescuer())
        .map(|w| w.thread_id.load(crate::sync::atomic::Ordering::Acquire))
        .collect();
    sys.threads().into_iter().filter(|t| ids.contains(&t.id().0)).collect()
}

/// `set_cpus_allowed_ptr` for each thread: a queued one moves off a run queue it may
/// no longer use, a running one is pushed off such a CPU at once.
fn set_affinity_all(sys: &IrqSystem, threads: &[Arc<Thread>], a: Affinity) {
    for t in threads {
        sys.set_cpus_allowed(t, a);
    }
}

/// Waits until every worker `pool` was creating has attached: each then has the
/// affinity of the pool's state after the change just made (`create_worker` sets it
/// under the pool lock), so the hotplug step returns with no thread of the pool
/// still placed by the state before it. A per-CPU pool's creators are its own
/// workers (its manager), which the step just gave an affinity they can run with,
/// or `workqueue_init`, before any hotplug; a creation takes microseconds.
fn wait_attached(sys: &IrqSystem, pool: &Pool) {
    let mut wait = SpinWait::new();
    while pool.lock(sys).nr_attaching > 0 {
        wait.spin();
    }
}

impl IrqSystem {
    /// `workqueue_offline_cpu`: `cpu`'s per-CPU pools become DISASSOCIATED; their
    /// workers run unbound on the online CPUs and keep executing the pools' work.
    /// Call it once the CPU is marked offline. Idempotent; a no-op before
    /// `workqueue_init`.
    pub fn workqueue_offline_cpu(self: &Arc<Self>, cpu: CpuId) -> Result<(), IrqError> {
        self.cpu(cpu)?;
        for hi in [false, true] {
            let Ok(pool) = self.wq.cpu_pool(self, cpu, hi) else { continue };
            let workers: Vec<Arc<Worker>> = {
                let mut g = pool.lock(self);
                if g.disassociated {
                    continue;
                }
                for s in g.workers.iter() {
                    s.worker.set_flags(WORKER_UNBOUND);
                }
                g.disassociated = true;
                // Every worker is NOT_RUNNING now; the sleep/run hooks stop counting.
                g.nr_running = 0;
                g.kick(self);
                g.workers.iter().map(|s| s.worker.clone()).collect()
            };
            let threads = worker_threads(self, &workers);
            set_affinity_all(self, &threads, Affinity::Unbound(unbound_mask(self, cpu)));
            wait_attached(self, &pool);
        }
        update_strict_unbound_pools(self);
        super::attrs::wq_update_pods(self);
        Ok(())
    }

    /// `workqueue_online_cpu`: `cpu`'s per-CPU pools are associated again; their
    /// workers are bound to it (WORKER_REBOUND until they next start processing).
    /// `CpuOffline` if `cpu` is not online yet.
    pub fn workqueue_online_cpu(self: &Arc<Self>, cpu: CpuId) -> Result<(), IrqError> {
        if !self.cpu(cpu)?.online() {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        for hi in [false, true] {
            let Ok(pool) = self.wq.cpu_pool(self, cpu, hi) else { continue };
            let workers: Vec<Arc<Worker>> = {
                let mut g = pool.lock(self);
                if !g.disassociated {
                    continue;
                }
                g.disassociated = false;
                for s in g.workers.iter().filter(|s| !s.worker.is_rescuer()) {
                    // Swap UNBOUND for REBOUND: still NOT_RUNNING, so nr_running stays
                    // right; the worker rejoins it in worker_clr_flags.
                    s.worker.set_flags(WORKER_REBOUND);
                    s.worker.clr_flags(WORKER_UNBOUND);
                }
                g.workers.iter().map(|s| s.worker.clone()).collect()
            };
            // Workers created from now on are bound at creation.
            let threads = worker_threads(self, &workers);
            set_affinity_all(self, &threads, Affinity::Bound(cpu));
            wait_attached(self, &pool);
        }
        update_strict_unbound_pools(self);
        super::attrs::wq_update_pods(self);
        Ok(())
    }

    /// `workqueue_softirq_dead`: runs what is left in the offline `cpu`'s BH pools
    /// from a BH work queued on a live CPU (this one, or the first online one),
    /// re-queueing itself while works remain. Returns the drain works; each is done
    /// once `work_busy` reads 0. `Busy` if `cpu` is still online.
    pub fn workqueue_softirq_dead(&self, cpu: CpuId) -> Result<Vec<Work>, IrqError> {
        if self.cpu(cpu)?.online() {
            return Err(IrqError::Busy("cpu is still online"));
        }
        let mut drains = Vec::new();
        for hi in [false, true] {
            let Some(pool) = self.wq.bh_pools.get(cpu.index() * 2 + hi as usize) else {
                continue;
            };
            // The dead pool's own works name a BH workqueue of the right priority.
            let wq = {
                let g = pool.lock(self);
                if !g.need_more_worker() {
                    continue;
                }
                g.worklist.front().map(|it| Workqueue(it.wq.arc(&g)))
            };
            let Some(wq) = wq else { continue };
            let drain = drain_dead_work(pool.clone(), wq.clone());
            let here = self.current_cpu().filter(|c| self.online_mask().contains(*c));
            let target = here.or(self.online_mask().first()).ok_or(IrqError::CpuOffline(cpu.0))?;
            self.queue_work_on(Some(target), &wq, drain.work())?;
            drains.push(drain.work().clone());
        }
        Ok(drains)
    }
}

/// `drain_dead_softirq_workfn`: runs the dead pool's BH worker here, marked
/// BH_DRAINING (it cannot kick its own CPU), and requeues itself while work remains
/// so that it never holds this CPU's softirq for longer than one BH budget.
fn drain_dead_work(pool: Arc<Pool>, wq: Workqueue) -> BhWork {
    BhWork::new(move |sys, me, tok| {
        pool.lock(sys).bh_draining = true;
        bh_worker(sys, &pool, tok);
        let repeat = {
            let mut g = pool.lock(sys);
            g.bh_draining = false;
            g.need_more_worker()
        };
        if repeat {
            let _ = sys.queue_work(&wq, me.work());
        }
    })
}

/// A worker whose CPU went offline under it (the hosted machine keeps running a
/// CPU's current thread until it blocks; Linux migrates it at once) hands the
/// pool's work to another worker — an idle one, or a new one — which wakes on an
/// online CPU, and then sleeps so that its own next wake-up moves it there too.
/// Returns true if someone else will take the work; false (keep working here, so
/// nothing is stuck) if no worker could be found or made.
pub(crate) fn hand_off_offline<'a>(
    sys: &'a Arc<IrqSystem>,
    pool: &'a Arc<Pool>,
    mut g: PoolGuard<'a>,
) -> (PoolGuard<'a>, bool) {
    if g.worklist.is_empty() {
        return (g, true);
    }
    if g.idle.is_empty() && !g.manager_active {
        g.manager_active = true;
        drop(g);
        let _ = create_worker(sys, pool);
        g = pool.lock(sys);
        g.manager_active = false;
    }
    // We are not on the idle list yet: this wakes another worker.
    let handed = g.kick(sys);
    (g, handed)
}
