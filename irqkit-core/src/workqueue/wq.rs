//! Workqueues: the handle, flush colors, counters and the mayday list.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use super::pool::Pool;
use super::*;

use super::node_active::WqNodes;
use super::scope::AffinityScope;
use crate::cpu::CpuId;
use crate::sched::{Thread, WaitQueue};
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::sync::SpinLockIrq;
use crate::IrqSystem;

/// Per-workqueue counters (Linux's `wq_monitor.py` columns).
#[derive(Default)]
pub struct WqStats {
    /// Nanoseconds spent in work functions, sampled as Linux does: each tick that
    /// finds a kworker running one of its items adds a tick (BH items: not counted).
    pub cpu_time_ns: AtomicU64,
    /// Items that ran outside concurrency management (CPU-intensive).
    pub cpu_intensive: AtomicU64,
    /// Idle workers woken because a worker of this wq blocked.
    pub cm_wakeups: AtomicU64,
    /// Mayday requests sent to the rescuer.
    pub mayday: AtomicU64,
    /// Items the rescuer ran.
    pub rescued: AtomicU64,
    /// Work functions that panicked (contained).
    pub panicked: AtomicU64,
}

pub(crate) const DESTROYING: u32 = 1;
pub(crate) const DRAINING: u32 = 2;
pub(crate) const DESTROYED: u32 = 4;

/// The shared state of a workqueue.
pub struct WqInner {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) flags: u32,
    pub(crate) max_active: AtomicU32,
    /// Per-CPU (or BH) pools indexed by CPU; empty for an unbound workqueue.
    pub(crate) pools: Vec<Arc<Pool>>,
    /// An unbound workqueue's scope and its pod pools (see `attrs.rs`).
    pub(crate) unbound: SpinLockIrq<UnboundPods>,
    /// `by_cpu` for lock-free reads by `__queue_work` (Linux reads `cpu_pwq` under
    /// RCU): each entry points into an `Arc` held by `UnboundPods::used`, which only
    /// grows and lives as long as the workqueue. Null until the pods are applied.
    pub(crate) pod_pool: Vec<AtomicPtr<Pool>>,
    /// An unbound workqueue's per-node active limits (`node_active.rs`).
    pub(crate) nodes: SpinLockIrq<WqNodes>,
    pub(crate) state: AtomicU32,
    pub(crate) frozen: AtomicBool,
    /// The flush colour new queueings take; `flush_workqueue` opens the next one.
    /// The counts per colour live in the pool_workqueues (`pwq.rs`).
    pub(crate) flush_color: AtomicU64,
    pub(crate) flush_wait: WaitQueue,
    pub(crate) flushers: AtomicUsize,
    /// Pools asking the rescuer for help (pool ids, each once).
    pub(crate) mayday_list: SpinLockIrq<VecDeque<u32>>,
    pub(crate) mayday_wait: WaitQueue,
    pub(crate) rescuer: SpinLockIrq<Option<Arc<Thread>>>,
    /// Counters.
    pub stats: WqStats,
}

/// An unbound workqueue's attributes and the pool serving each CPU's pod.
pub(crate) struct UnboundPods {
    /// As set (may be `Default`, which follows the system default).
    pub(crate) scope: AffinityScope,
    pub(crate) strict: bool,
    /// `cpu_pwq`: the pool of each CPU's pod.
    pub(crate) by_cpu: Vec<Arc<Pool>>,
    /// Every pool this workqueue ever fed (old pods drain after a scope change).
    pub(crate) used: Vec<Arc<Pool>>,
}

/// A workqueue handle (`struct workqueue_struct *`): cheap to clone.
#[derive(Clone)]
pub struct Workqueue(pub(crate) Arc<WqInner>);

impl fmt::Debug for Workqueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Workqueue({}, flags {:#x})", self.0.name, self.0.flags)
    }
}

impl Workqueue {
    /// The name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The flags (after WQ_POWER_EFFICIENT resolution).
    pub fn flags(&self) -> u32 {
        self.0.flags
    }
    /// The effective max_active.
    pub fn max_active(&self) -> u32 {
        self.0.max_active()
    }
    /// The counters.
    pub fn stats(&self) -> &WqStats {
        &self.0.stats
    }
    /// Items started and completed so far, summed over the pool_workqueues (Linux
    /// keeps these per pwq too; `wq_monitor.py` sums them). Takes each pool's lock.
    pub fn started_completed(&self, sys: &IrqSystem) -> (u64, u64) {
        self.0.all_pools(sys).iter().fold((0, 0), |(s, c), pool| {
            let (ps, pc) = pool.lock(sys).pwq_stats(self.0.id);
            (s + ps, c + pc)
        })
    }
    /// True for an ordered workqueue.
    pub fn is_ordered(&self) -> bool {
        self.0.flags & __WQ_ORDERED != 0
    }
    /// True while `drain_workqueue` (or destroy) runs.
    pub fn is_draining(&self) -> bool {
        self.0.state.load(Ordering::Acquire) & DRAINING != 0
    }
    /// True for a workqueue whose workers are named for a CPU (not WQ_UNBOUND).
    pub fn is_percpu(&self) -> bool {
        self.0.is_percpu()
    }
    /// True if both handles name the same workqueue.
    pub fn ptr_eq(&self, o: &Workqueue) -> bool {
        Arc::ptr_eq(&self.0, &o.0)
    }
}

impl WqInner {
    pub(crate) fn max_active(&self) -> u32 {
        self.max_active.load(Ordering::Relaxed)
    }
    pub(crate) fn frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }
    pub(crate) fn is_percpu(&self) -> bool {
        self.flags & WQ_UNBOUND == 0
    }

    /// The pool an unbound workqueue uses for work queued from `cpu` (its pod's).
    pub(crate) fn unbound_pool_for(&self, cpu: CpuId) -> Option<&Pool> {
        let p = self.pod_pool.get(cpu.index())?.load(Ordering::Acquire);
        // SAFETY: a non-null entry was stored (Release) after its `Arc` went into
        // `used`, which never drops a pool before the workqueue itself goes; the
        // returned borrow is tied to `self`.
        unsafe { p.as_ref() }
    }

    /// Every pool that may hold this workqueue's works.
    pub(crate) fn all_pools(&self, sys: &IrqSystem) -> Vec<Arc<Pool>> {
        if self.is_percpu() {
            self.pools.clone()
        } else {
            self.unbound.lock_irqsave(sys).used.clone()
        }
    }

    /// The colour of an instance queued now.
    pub(crate) fn flush_get(&self) -> u64 {
        self.flush_color.load(Ordering::Acquire)
    }

    /// Wakes `flush_workqueue` sleepers after an instance finished or was cancelled
    /// (its pwq's count already dropped, under the pool lock).
    pub(crate) fn wake_flushers(&self, sys: &IrqSystem) {
        if self.flushers.load(Ordering::SeqCst) > 0 {
            self.flush_wait.wake_all(sys);
        }
    }

    /// True when no instance of a colour up to `color` is in flight.
    pub(crate) fn flushed_upto(&self, sys: &IrqSystem, color: u64) -> bool {
        self.all_pools(sys)
            .iter()
            .all(|p| p.lock(sys).pwqs.get(&self.id).is_none_or(|q| !q.has_color_upto(color)))
    }

    /// True when nothing is in flight at all.
    pub(crate) fn idle(&self, sys: &IrqSystem) -> bool {
        self.flushed_upto(sys, u64::MAX)
    }

    /// Queues a mayday for `pool_id` (once) and wakes the rescuer.
    pub(crate) fn mayday(&self, sys: &IrqSystem, pool_id: u32) {
        {
            let mut l = self.mayday_list.lock_irqsave(sys);
            if l.contains(&pool_id) {
                return;
            }
            l.push_back(pool_id);
        }
        self.stats.mayday.fetch_add(1, Ordering::Relaxed);
        self.mayday_wait.wake_all(sys);
    }
}
