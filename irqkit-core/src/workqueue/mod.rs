//! Concurrency-managed workqueues (kernel/workqueue.c): shared worker pools, per-
//! workqueue pool bridges, and a running count kept by scheduler hooks.
//!
//! # Model
//!
//! Per CPU there is a normal pool (`kworker/N:M`, nice 0) and a highpri pool
//! (`kworker/N:MH`, nice −20); an unbound workqueue has one pool per pod of its
//! affinity scope (`scope.rs`, `attrs.rs`), shared with every workqueue of equal
//! attributes (`kworker/uP:M`), and queues to the pod of the queueing CPU (a pod
//! with no online CPU: to the default pool, which spans every CPU). A
//! [`Workqueue`] owns no threads: it feeds pools through pool_workqueues (`pwq.rs`)
//! that enforce `max_active` with an inactive list — per pwq for a per-CPU
//! workqueue, per NUMA node for an unbound one (`node_active.rs`). They are made
//! when the workqueue is allocated or its pods applied (Linux's
//! `alloc_and_link_pwqs`) and, as in Linux, they hold the workqueue alive: a queued
//! item names its workqueue without a count (`item.rs`). A per-CPU pool
//! keeps one worker running per CPU as long as its work does not block; when the
//! last running worker sleeps, the scheduler hook wakes an idle worker, and a
//! worker that leaves the idle list with no idle worker left first creates one (the
//! manager). Idle workers beyond the need are reaped after
//! [`IDLE_WORKER_TIMEOUT_MS`]. A `WQ_MEM_RECLAIM` workqueue has a rescuer thread
//! that runs its works when worker creation fails (mayday).
//! `queue_work` owing no wake-up leaves the item on a lock-free ring that the next
//! holder of the pool lock moves in as the locked path would have (`pool_lock.rs`).
//!
//! `WQ_BH` workqueues (`system_bh_wq`, `system_bh_highpri_wq`) are served by two
//! more pools per CPU that have no threads: their works run in softirq context on
//! the queueing CPU, from TASKLET_SOFTIRQ and HI_SOFTIRQ (see `bh.rs`). Their items
//! are [`BhWork`]s, whose functions get `&SoftIrq` instead of `&Task`; the
//! workqueue refuses the other kind with `InvalidArgument`.
//!
//! Call [`IrqSystem::workqueue_init`] once the CPUs are online (`alloc_workqueue`
//! does it on first use); it creates the pools, their first workers and the system
//! workqueues.
//!
//! # Departures from Linux (documented, not hidden)
//!
//! - `cancel_work_sync` of a BH work from softirq or other non-hardirq atomic context
//!   is its own call, [`IrqSystem::cancel_bh_work_sync`] (busy-waits), because
//!   `cancel_work_sync` takes `&Task`; `flush_work` of a BH work is task-only (Linux's
//!   `__flush_work` sleeps there too).
//! - Affinity scopes: a non-strict pool's workers may run on any CPU; their
//!   wake-ups are steered into the pod (Linux's `wake_cpu`, here
//!   [`IrqSystem::wake_up_process_prefer`]), which the scheduler follows when a pod
//!   CPU is idle. A pod whose CPUs are all offline queues to the default pool, as
//!   in Linux; works queued to the pod's own pool before that still run there, its
//!   strict workers moved to the online CPUs (Linux's scheduler breaks their
//!   affinity instead).
//! - Per-node max_active (`node_active.rs`): Linux counts each activation with an
//!   atomic on the node's `nr`; here a pwq keeps the node slots it was granted and
//!   returns them only when the node wants them (a pwq waits, or the limit was
//!   lowered) or, unused, when a pwq goes pending and reclaims them. The limits
//!   and round-robin order are Linux's; a pool's node is fixed when the pool is
//!   made (pools are shared by pod and node), and the node limit counts the
//!   online CPUs of the node (Linux: the wq cpumask's CPUs of the node, which
//!   architectures keep to the online ones).
//! - CPU hotplug (`hotplug.rs`): Linux migrates a dying CPU's running kworker at
//!   once; a runtime that keeps running an offline CPU's current thread until it
//!   blocks (the hosted machine) has that worker finish its current item there and
//!   hand the rest of the pool to a worker on an online CPU.
//! - CPU-intensive detection counts the ticks that found the worker running since
//!   the item started or it last woke: CPU time to within a tick (Linux reads the
//!   task's exact `sum_exec_runtime`).
//! - The rescuer takes the affinity of the pool it helps, as Linux's
//!   `worker_attach_to_pool` does, but an affinity change moves a thread only at a
//!   wake-up here, so a rescuer on a CPU it may not use sleeps one tick to move.
//! - The lockup watchdog (`watchdog.rs`) has no per-CPU touch (no soft-lockup
//!   detector here) and no panic option; `queue_work_node` logs, rather than WARNs,
//!   on a workqueue that is not unbound. No `queue_rcu_work`, no flush-dependency
//!   checks beyond refusing to flush or cancel the running work from itself.
//! - The manager sends mayday as soon as a creation attempt fails (Linux waits
//!   MAYDAY_INITIAL_TIMEOUT first), then retries after CREATE_COOLDOWN.
//! - Queueing on a destroyed or draining workqueue returns a typed error and clears
//!   PENDING instead of WARNing and leaving the work pending for ever. An item that
//!   races `destroy_workqueue` past that check (Linux forbids the race) is dropped
//!   when its pool takes it in, its work left idle and the drop logged.
//! - A runtime may let idle workers poll before they sleep
//!   ([`IrqSystem::wq_set_idle_spin_ns`]; the hosted machine does, 60 µs): a
//!   polling worker is owed no wake-up, as Linux's polling idle CPU is owed no IPI.

mod api;
mod assign;
mod attrs;
mod bh;
mod bh_cancel;
#[cfg(all(test, not(loom)))]
mod bh_tests;
mod bh_work;
mod create;
mod delayed;
mod dump;
mod flags;
mod flush;
mod hotplug;
mod incoming;
#[cfg(all(test, not(loom)))]
mod incoming_tests;
mod item;
#[cfg(all(test, loom))]
mod loom_incoming;
#[cfg(all(test, loom))]
mod loom_model;
#[cfg(all(test, loom))]
mod loom_node;
mod manage;
mod node_active;
mod pool;
mod pool_lock;
mod process;
mod pwq;
mod pwq_node;
mod queue;
mod rescuer;
mod scope;
mod system_wqs;
mod watchdog;
mod work;
mod worker;
mod wq;

pub use attrs::WqAttrs;
pub use bh::{BH_WORKER_NS, BH_WORKER_RESTARTS};
pub use bh_work::{BhWork, BhWorkFn};
pub use flags::*;
pub use scope::{AffinityScope, CpuTopo, CpuTopology, WQ_CACHE_SHARD_SIZE_DFL};
pub use system_wqs::SystemWqs;
pub use watchdog::WQ_WATCHDOG_THRESH_MS;
pub use work::{work_block_size, DelayedWork, Work, WorkFn};
pub use wq::{Workqueue, WqInner, WqStats};

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::cpu::CpuId;
use crate::sched::{ThreadId, WaitQueue};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};
use crossbeam_utils::atomic::AtomicCell;
use pool::Pool;
use worker::Worker;

/// Runs a work function and contains a panic: true if it returned normally. The
/// hosted runtime installs one built on `std::panic::catch_unwind`.
pub type WorkGuard = fn(&mut dyn FnMut()) -> bool;

/// All workqueue state of one [`IrqSystem`].
pub struct Workqueues {
    pub(crate) inited: SpinLockIrq<bool>,
    /// BH pools: index `cpu * 2 + highpri`; made with the system (no threads needed).
    pub(crate) bh_pools: Vec<Arc<Pool>>,
    pub(crate) bh_runners: AtomicBool,
    /// Per-CPU pools: index `cpu * 2 + highpri`.
    pub(crate) cpu_pools: SpinLockIrq<Vec<Arc<Pool>>>,
    /// Unbound pools, shared by workqueues with equal attributes (priority, pod,
    /// strictness); made on demand.
    pub(crate) unbound_pools: SpinLockIrq<Vec<Arc<Pool>>>,
    /// The CPU topology that affinity scopes split into pods.
    pub(crate) topology: SpinLockIrq<CpuTopology>,
    /// `workqueue.default_affinity_scope` (never `Default` itself).
    pub(crate) default_scope: SpinLockIrq<AffinityScope>,
    /// `workqueue.cache_shard_size`.
    pub(crate) cache_shard_size: AtomicUsize,
    pub(crate) system: SpinLockIrq<Option<SystemWqs>>,
    pub(crate) registry: SpinLockIrq<Vec<Arc<WqInner>>>,
    pub(crate) workers: SpinLockIrq<BTreeMap<ThreadId, Arc<Worker>>>,
    pub(crate) next_wq_id: AtomicU32,
    pub(crate) next_pool_id: AtomicU32,
    /// `flush_work` / `cancel_work_sync` sleepers.
    pub(crate) work_flush_wait: WaitQueue,
    pub(crate) work_flushers: AtomicUsize,
    /// Fault injection: worker creation fails while set.
    pub(crate) fail_create: AtomicBool,
    pub(crate) idle_timeout_ms: AtomicU64,
    pub(crate) cpu_intensive_thresh_us: AtomicU64,
    /// Bounded poll of an idle worker before it sleeps (hosted runtimes only).
    pub(crate) idle_spin_ns: AtomicU64,
    pub(crate) power_efficient: AtomicBool,
    /// Read for every item: an atomic word, not a lock.
    pub(crate) guard: AtomicCell<Option<WorkGuard>>,
    pub(crate) log: SpinLockIrq<Vec<String>>,
    /// `workqueue.watchdog_thresh` (ms; 0: off), its check timer, the last global
    /// touch (jiffies) and the lockups reported.
    pub(crate) watchdog_thresh_ms: AtomicU64,
    pub(crate) watchdog: crate::timer::Timer,
    pub(crate) watchdog_touched: AtomicU64,
    pub(crate) lockups: AtomicU64,
}

impl Workqueues {
    pub(crate) fn new(config: &crate::system::SystemConfig) -> Self {
        let nr_cpus = config.nr_cpus;
        let topology = match &config.topology {
            Some(t) if t.validate(nr_cpus).is_ok() => t.clone(),
            _ => CpuTopology::flat(nr_cpus),
        };
        Workqueues {
            inited: SpinLockIrq::new(false),
            bh_pools: bh::bh_pools(nr_cpus),
            bh_runners: AtomicBool::new(false),
            cpu_pools: SpinLockIrq::new(Vec::new()),
            unbound_pools: SpinLockIrq::new(Vec::new()),
            topology: SpinLockIrq::new(topology),
            // Today's Linux default (older kernels used "cache").
            default_scope: SpinLockIrq::new(AffinityScope::CacheShard),
            cache_shard_size: AtomicUsize::new(WQ_CACHE_SHARD_SIZE_DFL),
            system: SpinLockIrq::new(None),
            registry: SpinLockIrq::new(Vec::new()),
            workers: SpinLockIrq::new(BTreeMap::new()),
            next_wq_id: AtomicU32::new(1),
            // Per CPU: two BH pools, then two normal pools (ids cpu*4..cpu*4+3).
            next_pool_id: AtomicU32::new(nr_cpus as u32 * 4),
            work_flush_wait: WaitQueue::new(),
            work_flushers: AtomicUsize::new(0),
            fail_create: AtomicBool::new(false),
            idle_timeout_ms: AtomicU64::new(IDLE_WORKER_TIMEOUT_MS),
            cpu_intensive_thresh_us: AtomicU64::new(CPU_INTENSIVE_THRESH_US),
            idle_spin_ns: AtomicU64::new(0),
            power_efficient: AtomicBool::new(false),
            guard: AtomicCell::new(None),
            log: SpinLockIrq::new(Vec::new()),
            watchdog_thresh_ms: AtomicU64::new(watchdog::WQ_WATCHDOG_THRESH_MS),
            watchdog: watchdog::watchdog_timer(),
            watchdog_touched: AtomicU64::new(0),
            lockups: AtomicU64::new(0),
        }
    }

    pub(crate) fn log(&self, sys: &IrqSystem, line: String) {
        let mut l = self.log.lock_irqsave(sys);
        if l.len() < 1024 {
            l.push(line);
        }
    }

    pub(crate) fn run_guarded(&self, f: &mut dyn FnMut()) -> bool {
        match self.guard.load() {
            Some(g) => g(f),
            None => {
                f();
                true
            }
        }
    }

    pub(crate) fn wake_work_flushers(&self, sys: &IrqSystem) {
        if self.work_flushers.load(Ordering::SeqCst) > 0 {
            self.work_flush_wait.wake_all(sys);
        }
    }

    pub(crate) fn pool_by_id(&self, sys: &IrqSystem, id: u32) -> Option<Arc<Pool>> {
        if id % 4 < 2 {
            if let Some(p) = self.bh_pools.get((id / 4 * 2 + id % 4) as usize) {
                return Some(p.clone());
            }
        }
        let c = self.cpu_pools.lock_irqsave(sys).iter().find(|p| p.id == id).cloned();
        c.or_else(|| self.unbound_pools.lock_irqsave(sys).iter().find(|p| p.id == id).cloned())
    }

    pub(crate) fn all_pools(&self, sys: &IrqSystem) -> Vec<Arc<Pool>> {
        let mut v = Vec::new();
        let cpu_pools = self.cpu_pools.lock_irqsave(sys).clone();
        // Linux's order: per CPU its BH pools, then its normal pools.
        for (c, bh) in self.bh_pools.chunks(2).enumerate() {
            v.extend(bh.iter().cloned());
            v.extend(cpu_pools.iter().filter(|p| p.cpu.is_some_and(|x| x.index() == c)).cloned());
        }
        v.extend(self.unbound_pools.lock_irqsave(sys).iter().cloned());
        v
    }

    pub(crate) fn cpu_pool(
        &self,
        sys: &IrqSystem,
        cpu: CpuId,
        highpri: bool,
    ) -> Result<Arc<Pool>, IrqError> {
        self.cpu_pools
            .lock_irqsave(sys)
            .get(cpu.index() * 2 + highpri as usize)
            .cloned()
            .ok_or(IrqError::NotFound("no worker pool for that cpu"))
    }
}
