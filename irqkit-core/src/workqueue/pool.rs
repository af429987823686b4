//! Worker pools: worklist, workers, idle list, nr_running and the kick.
//!
//! One lock per pool guards everything about it, as `pool->lock` does in Linux:
//! the worklist, the workers' current and scheduled works, the idle list, and every
//! pool_workqueue (`pwq.rs`: per-workqueue active count and inactive list) that
//! feeds it. Producers that would wake no worker hand items over through a
//! lock-free incoming ring instead, which every taker of the lock moves in first
//! (`incoming.rs`, `pool_lock.rs`).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::bh::BhKick;
use super::incoming::{Incoming, INCOMING_SLOTS};
pub(crate) use super::pwq::{Item, Pwq};
use super::pwq_node::NodeOwed;
use super::worker::{Worker, WORKER_DIE, WORKER_NOT_RUNNING};
use super::WqInner;
use crossbeam_utils::CachePadded;

use crate::cpu::{CpuId, CpuMask};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::SpinLockIrq;
use crate::timer::Timer;
use crate::IrqSystem;

/// A worker as the pool sees it: its current and scheduled works.
pub(crate) struct WorkerSlot {
    pub(crate) worker: Arc<Worker>,
    pub(crate) current: Option<Item>,
    pub(crate) scheduled: VecDeque<Item>,
    /// Description of the last item (`-<wq>` in `ps` once it finished).
    pub(crate) last_wq: Option<Arc<WqInner>>,
    /// The last finished item, dropped once the worker next lets go of the pool
    /// lock: its reference counts are shared with producers, and a count update
    /// inside the hold lengthens what they wait for.
    pub(crate) retired: Option<Retired>,
}

/// See [`WorkerSlot::retired`].
pub(crate) type Retired = Item;

pub(crate) struct PoolInner {
    pub(crate) worklist: VecDeque<Item>,
    pub(crate) workers: Vec<WorkerSlot>,
    /// Idle workers, most recently idle last (woken first: Linux's idle list is LIFO).
    pub(crate) idle: Vec<Arc<Worker>>,
    /// Concurrency-managed workers running now (per-CPU pools only).
    pub(crate) nr_running: u32,
    /// Workers told to die (WORKER_DIE) that are still in `workers`.
    pub(crate) nr_dying: usize,
    pub(crate) manager_active: bool,
    /// Workers being created whose thread is not yet attached (its affinity set
    /// from the pool's state under this lock): CPU hotplug waits for them, as
    /// Linux's `unbind_workers` and `worker_attach_to_pool` share
    /// `wq_pool_attach_mutex`.
    pub(crate) nr_attaching: u32,
    pub(crate) pwqs: BTreeMap<u32, Pwq>,
    /// How to kick a BH pool (raise its softirq here or on its CPU); `None` otherwise.
    pub(crate) bh: Option<BhKick>,
    /// `POOL_DISASSOCIATED`: a per-CPU pool whose CPU is offline; its workers run
    /// unbound and outside concurrency management until the CPU returns.
    pub(crate) disassociated: bool,
    /// `POOL_BH_DRAINING`: a dead CPU's BH pool being run from another CPU; it
    /// cannot be kicked (the drain work requeues itself instead).
    pub(crate) bh_draining: bool,
    /// When the worklist last became non-empty or a worker last started works
    /// (jiffies; the lockup watchdog's clock).
    pub(crate) watchdog_ts: u64,
    /// Node kicks owed by this lock hold, run by the guard once it has unlocked
    /// (`node_active.rs`); empty unless an unbound workqueue is at its node limit.
    pub(crate) node_owed: Vec<NodeOwed>,
    /// The incoming ring may be closed (a mark placed by an unlock, not yet
    /// removed by one): an unlock that finds the ring may open looks at the ring
    /// only then. A finishing worker's opening outside the lock leaves it set.
    pub(crate) ring_maybe_closed: bool,
    /// Unlocks that left the ring closed (wrapping): lets a finishing worker that
    /// reopened it outside the lock know whether anyone closed it since.
    pub(crate) ring_closes: u32,
}

/// The outcome of [`PoolInner::kick_deferred`].
pub(crate) enum Kick {
    /// The pool needs no worker, or has no idle one.
    None,
    /// Already handled (a worker woken earlier, or a BH pool raised).
    Done,
    /// This worker's wake-up is owed: call [`Kick::wake`] after unlocking.
    Wake(Arc<Worker>),
}

impl Kick {
    /// Issues the owed wake-up, if any (call it without the pool lock).
    pub(crate) fn wake(self, sys: &IrqSystem) {
        if let Kick::Wake(w) = self {
            w.wake_claimed(sys);
        }
    }
}

/// A worker pool: per CPU normal and highpri, plus the shared unbound pools.
pub(crate) struct Pool {
    pub(crate) id: u32,
    /// The CPU of a per-CPU pool; `None` for an unbound pool.
    pub(crate) cpu: Option<CpuId>,
    pub(crate) highpri: bool,
    /// Taken through [`Pool::lock`], which moves `incoming` in first. On cache
    /// lines of its own: the holders write it for every item, and the fields around
    /// it (the id, the pod) are read by every producer.
    pub(crate) inner: CachePadded<SpinLockIrq<PoolInner>>,
    pub(crate) incoming: Incoming<Item>,
    pub(crate) idle_timer: Timer,
    /// Workers created / destroyed (for the dump and the reaping test).
    pub(crate) nr_created: AtomicU64,
    pub(crate) nr_reaped: AtomicU64,
    /// A BH pool's pseudo-worker (no thread: it runs from the softirq).
    pub(crate) bh_worker: Option<Arc<Worker>>,
    /// An unbound pool's pod (`__pod_cpumask`); a per-CPU pool's CPU.
    pub(crate) pod: CpuMask,
    /// `affn_strict`: workers stay inside the pod (else they may run on any CPU).
    pub(crate) strict: bool,
    /// An unbound pool's NUMA node (`pool->node`): the node holding its whole pod,
    /// `None` if the pod spans nodes. Fixed: pools are shared by (pod, node).
    pub(crate) node: Option<u32>,
}

impl Pool {
    pub(crate) fn new(id: u32, cpu: CpuId, highpri: bool) -> Arc<Pool> {
        Self::build(id, Some(cpu), highpri, false, (CpuMask::single(cpu), true, None))
    }

    /// An unbound pool for the pod `pod` on `node` (`strict`: its workers stay
    /// inside the pod).
    pub(crate) fn new_unbound(
        id: u32,
        highpri: bool,
        pod: CpuMask,
        strict: bool,
        node: Option<u32>,
    ) -> Arc<Pool> {
        Self::build(id, None, highpri, false, (pod, strict, node))
    }

    /// A pool; `bh` makes it a BH pool of `cpu` with its pseudo-worker attached.
    pub(crate) fn build(
        id: u32,
        cpu: Option<CpuId>,
        highpri: bool,
        bh: bool,
        (pod, strict, node): (CpuMask, bool, Option<u32>),
    ) -> Arc<Pool> {
        Arc::new_cyclic(|me: &alloc::sync::Weak<Pool>| {
            let (bh_kick, bh_worker) = match (bh, cpu) {
                (true, Some(c)) => {
                    let w = Worker::new_bh(me.clone(), id, c, highpri);
                    (Some(BhKick::new(c, highpri)), Some(w))
                }
                _ => (None, None),
            };
            let workers = bh_worker
                .iter()
                .map(|w| WorkerSlot {
                    worker: w.clone(),
                    current: None,
                    scheduled: VecDeque::new(),
                    last_wq: None,
                    retired: None,
                })
                .collect();
            let me = me.clone();
            Pool {
                id,
                cpu,
                highpri,
                bh_worker,
                pod,
                strict,
                node,
                // Closed until the first unlock decides (`pool_lock.rs`).
                incoming: Incoming::new_closed(if bh { 0 } else { INCOMING_SLOTS }),
                inner: CachePadded::new(SpinLockIrq::new(PoolInner {
                    worklist: VecDeque::new(),
                    workers,
                    idle: Vec::new(),
                    nr_running: 0,
                    nr_dying: 0,
                    manager_active: false,
                    nr_attaching: 0,
                    pwqs: BTreeMap::new(),
                    bh: bh_kick,
                    disassociated: false,
                    bh_draining: false,
                    watchdog_ts: 0,
                    node_owed: Vec::new(),
                    ring_maybe_closed: true,
                    ring_closes: 0,
                })),
                idle_timer: Timer::new(move |sys, _t, _ctx| {
                    if let Some(p) = me.upgrade() {
                        p.idle_worker_timeout(sys);
                    }
                }),
                nr_created: AtomicU64::new(0),
                nr_reaped: AtomicU64::new(0),
            }
        })
    }

    /// Nice value of this pool's workers (highpri pools run at MIN_NICE).
    pub(crate) fn nice(&self) -> i8 {
        if self.highpri {
            -20
        } else {
            0
        }
    }

    /// `idle_worker_timeout` + `idle_cull_fn`: while there are too many workers, the
    /// oldest idle ones that idled past the timeout are told to die.
    fn idle_worker_timeout(&self, sys: &IrqSystem) {
        let timeout_ns = sys.wq.idle_timeout_ms.load(Ordering::Relaxed) * 1_000_000;
        let mut g = self.lock(sys);
        let now = sys.now_ns();
        while g.too_many_workers() {
            let oldest = g.idle[0].clone();
            // A worker may have gone idle on another CPU after `now` was read, or
            // not have read the clock yet (`IDLE_NOW`): idle for no time, then.
            let idled = now.saturating_sub(oldest.last_active_ns.load(Ordering::Relaxed));
            // A worker already kicked keeps its wake-up: reap no younger ones either.
            if idled < timeout_ns || oldest.is_woken() {
                // Past the timeout but kicked: look again in a millisecond.
                let left_ms = timeout_ns.saturating_sub(idled) / 1_000_000 + 1;
                self.idle_timer.modify(sys, sys.jiffies() + sys.msecs_to_jiffies(left_ms));
                break;
            }
            g.idle.remove(0);
            oldest.set_flags(WORKER_DIE);
            g.nr_dying += 1;
            self.nr_reaped.fetch_add(1, Ordering::Relaxed);
            oldest.wake(sys);
        }
    }
}

impl PoolInner {
    /// `need_more_worker`: work is queued and no concurrency-managed worker runs.
    pub(crate) fn need_more_worker(&self) -> bool {
        !self.worklist.is_empty() && self.nr_running == 0
    }

    /// `keep_working`: work is queued and at most this worker runs.
    pub(crate) fn keep_working(&self) -> bool {
        !self.worklist.is_empty() && self.nr_running <= 1
    }

    /// `too_many_workers`: more than two idle and idle beyond a quarter of the busy.
    pub(crate) fn too_many_workers(&self) -> bool {
        let nr_idle = self.idle.len() + self.manager_active as usize;
        // Workers told to die have left the pool already (Linux drops nr_workers in
        // destroy_worker), even if their threads have not exited yet.
        let nr_workers = self.workers.len() - self.nr_dying;
        let nr_busy = nr_workers.saturating_sub(nr_idle);
        nr_idle > 2 && (nr_idle - 2) * 4 >= nr_busy
    }

    /// `kick_pool`: wakes the most recently idle worker if the pool needs one.
    /// Returns true if a worker was woken (or a BH pool raised).
    pub(crate) fn kick(&self, sys: &IrqSystem) -> bool {
        match self.kick_deferred(sys) {
            Kick::None => false,
            Kick::Done => true,
            Kick::Wake(w) => {
                w.wake_claimed(sys);
                true
            }
        }
    }

    /// `kick_pool` whose wake-up the caller issues once it dropped the pool lock
    /// ([`Kick::wake`]): the futex call of a hosted wake-up then never lengthens the
    /// lock hold that producers and workers contend for. Only a worker not yet
    /// woken since it went idle is returned; a BH pool is raised at once.
    pub(crate) fn kick_deferred(&self, sys: &IrqSystem) -> Kick {
        if !self.need_more_worker() {
            return Kick::None;
        }
        if let Some(bh) = &self.bh {
            if !self.bh_draining {
                bh.kick(sys);
            }
            return Kick::Done;
        }
        match self.idle.last() {
            // A plain load first: under the pool lock, which every writer of `woken`
            // holds, it is exact, and a worker kicked for every item of an unbound
            // pool (chain execution) is usually woken already: no locked RMW then.
            // A polling worker watches `woken`: a store and no wake-up.
            Some(w) if w.is_polling() => {
                w.woken.store(true, Ordering::Release);
                Kick::Done
            }
            Some(w) if !w.is_woken() && w.claim_wake() => Kick::Wake(w.clone()),
            Some(_) => Kick::Done,
            None => Kick::None,
        }
    }

    /// Concurrency-managed running count changes with a worker's NOT_RUNNING flags.
    pub(crate) fn worker_set_flags(&mut self, w: &Worker, flags: u32) {
        let old = w.flags();
        if old & WORKER_NOT_RUNNING == 0 && flags & WORKER_NOT_RUNNING != 0 && !w.is_sleeping() {
            self.nr_running -= 1;
        }
        w.set_flags(flags);
    }

    pub(crate) fn worker_clr_flags(&mut self, w: &Worker, flags: u32) {
        let old = w.flags();
        w.clr_flags(flags);
        if old & WORKER_NOT_RUNNING != 0 && w.flags() & WORKER_NOT_RUNNING == 0 && !w.is_sleeping()
        {
            self.nr_running += 1;
        }
    }
}
