//! Concurrency-managed workqueues (kernel/workqueue.c): shared worker pools, per-
//! workqueue pool bridges, and a running count kept by scheduler hooks.
//!
//! # Model
//!
//! Per CPU there is a normal pool (`kworker/N:M`, nice 0) and a highpri pool
//! (`kworker/N:MH`, nice −20); unbound workqueues share one unbound pool per
//! priority (`kworker/uP:M`). A [`Workqueue`] owns no threads: it feeds pools
//! through pool_workqueues that enforce `max_active` with an inactive list. A pool
//! keeps one worker running per CPU as long as its work does not block; when the
//! last running worker sleeps, the scheduler hook wakes an idle worker, and a
//! worker that leaves the idle list with no idle worker left first creates one (the
//! manager). Idle workers beyond the need are reaped after
//! [`IDLE_WORKER_TIMEOUT_MS`]. A `WQ_MEM_RECLAIM` workqueue has a rescuer thread
//! that runs its works when worker creation fails (mayday).
//!
//! Call [`IrqSystem::workqueue_init`] once the CPUs are online (`alloc_workqueue`
//! does it on first use); it creates the pools, their first workers and the system
//! workqueues.
//!
//! # Departures from Linux (documented, not hidden)
//!
//! - No WQ_BH pools, no affinity scopes (one unbound pool per priority spanning all
//!   CPUs), no CPU hotplug rebinding. CPU-intensive detection measures wall time
//!   since the item started or last woke (Linux measures the task's CPU time).
//! - The manager sends mayday as soon as a creation attempt fails (Linux waits
//!   MAYDAY_INITIAL_TIMEOUT first), then retries after CREATE_COOLDOWN.
//! - Queueing on a destroyed or draining workqueue returns a typed error and clears
//!   PENDING instead of WARNing and leaving the work pending for ever.

mod api;
mod dump;
mod flush;
#[cfg(loom)]
mod loom_model;
mod pool;
mod queue;
mod rescuer;
mod work;
mod worker;
mod wq;

pub use work::{DelayedWork, Work, WorkFn};
pub(crate) use worker::wq_worker_tick;
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
use pool::Pool;
use worker::Worker;

/// Run in softirq context (not built yet: `alloc_workqueue` reports `Unsupported`).
pub const WQ_BH: u32 = 1 << 0;
/// Not bound to a CPU; served by the shared unbound pool.
pub const WQ_UNBOUND: u32 = 1 << 1;
/// Stops at freeze, resumes at thaw.
pub const WQ_FREEZABLE: u32 = 1 << 2;
/// May be used in memory reclaim: has a rescuer thread.
pub const WQ_MEM_RECLAIM: u32 = 1 << 3;
/// Served by the highpri pools (nice −20).
pub const WQ_HIGHPRI: u32 = 1 << 4;
/// Items leave concurrency management while they run.
pub const WQ_CPU_INTENSIVE: u32 = 1 << 5;
/// Visible in sysfs (accepted, no effect here).
pub const WQ_SYSFS: u32 = 1 << 6;
/// Unbound when `power_efficient` is set, per-CPU otherwise.
pub const WQ_POWER_EFFICIENT: u32 = 1 << 7;
/// Explicitly per-CPU.
pub const WQ_PERCPU: u32 = 1 << 8;
/// Internal: ordered workqueue (one at a time, FIFO).
pub const __WQ_ORDERED: u32 = 1 << 17;
/// Internal: created by the legacy `create_workqueue` helpers.
pub const __WQ_LEGACY: u32 = 1 << 18;
const WQ_ALL_FLAGS: u32 = WQ_BH
    | WQ_UNBOUND
    | WQ_FREEZABLE
    | WQ_MEM_RECLAIM
    | WQ_HIGHPRI
    | WQ_CPU_INTENSIVE
    | WQ_SYSFS
    | WQ_POWER_EFFICIENT
    | WQ_PERCPU
    | __WQ_ORDERED
    | __WQ_LEGACY;

/// `WQ_MAX_ACTIVE`.
pub const WQ_MAX_ACTIVE: u32 = 2048;
/// `WQ_DFL_ACTIVE`: what max_active 0 means.
pub const WQ_DFL_ACTIVE: u32 = 1024;
/// `WQ_NAME_LEN` (names are truncated to one less).
pub const WQ_NAME_LEN: usize = 32;
/// `IDLE_WORKER_TIMEOUT` (300 s), the default of the configurable reaping timeout.
pub const IDLE_WORKER_TIMEOUT_MS: u64 = 300_000;
/// `wq_cpu_intensive_thresh_us` default: 10 ms without sleeping makes a work
/// CPU-intensive.
pub const CPU_INTENSIVE_THRESH_US: u64 = 10_000;
/// `work_busy` bit: PENDING set.
pub const WORK_BUSY_PENDING: u32 = 1;
/// `work_busy` bit: executing now.
pub const WORK_BUSY_RUNNING: u32 = 2;

/// Runs a work function and contains a panic: true if it returned normally. The
/// hosted runtime installs one built on `std::panic::catch_unwind`.
pub type WorkGuard = fn(&mut dyn FnMut()) -> bool;

/// The system workqueues (`workqueue_init_early`).
#[derive(Clone)]
pub struct SystemWqs {
    /// `system_wq` ("events", PERCPU; a distinct legacy alias).
    pub system_wq: Workqueue,
    /// `system_percpu_wq` ("events", PERCPU).
    pub system_percpu_wq: Workqueue,
    /// `system_highpri_wq` ("events_highpri").
    pub system_highpri_wq: Workqueue,
    /// `system_long_wq` ("events_long").
    pub system_long_wq: Workqueue,
    /// `system_unbound_wq` ("events_unbound", 2048).
    pub system_unbound_wq: Workqueue,
    /// `system_dfl_wq` ("events_unbound", 2048).
    pub system_dfl_wq: Workqueue,
    /// `system_freezable_wq`.
    pub system_freezable_wq: Workqueue,
    /// `system_power_efficient_wq`.
    pub system_power_efficient_wq: Workqueue,
    /// `system_freezable_power_efficient_wq`.
    pub system_freezable_power_efficient_wq: Workqueue,
    /// `system_dfl_long_wq` ("events_dfl_long").
    pub system_dfl_long_wq: Workqueue,
}

/// All workqueue state of one [`IrqSystem`].
pub struct Workqueues {
    inited: SpinLockIrq<bool>,
    /// Per-CPU pools: index `cpu * 2 + highpri`.
    cpu_pools: SpinLockIrq<Vec<Arc<Pool>>>,
    /// Unbound pools: normal, highpri.
    unbound_pools: SpinLockIrq<Vec<Arc<Pool>>>,
    system: SpinLockIrq<Option<SystemWqs>>,
    pub(crate) registry: SpinLockIrq<Vec<Arc<WqInner>>>,
    pub(crate) workers: SpinLockIrq<BTreeMap<ThreadId, Arc<Worker>>>,
    pub(crate) next_wq_id: AtomicU32,
    next_pool_id: AtomicU32,
    /// `flush_work` / `cancel_work_sync` sleepers.
    pub(crate) work_flush_wait: WaitQueue,
    pub(crate) work_flushers: AtomicUsize,
    /// Fault injection: worker creation fails while set.
    pub(crate) fail_create: AtomicBool,
    pub(crate) idle_timeout_ms: AtomicU64,
    pub(crate) cpu_intensive_thresh_us: AtomicU64,
    pub(crate) power_efficient: AtomicBool,
    guard: SpinLockIrq<Option<WorkGuard>>,
    log: SpinLockIrq<Vec<String>>,
}

impl Workqueues {
    pub(crate) fn new() -> Self {
        Workqueues {
            inited: SpinLockIrq::new(false),
            cpu_pools: SpinLockIrq::new(Vec::new()),
            unbound_pools: SpinLockIrq::new(Vec::new()),
            system: SpinLockIrq::new(None),
            registry: SpinLockIrq::new(Vec::new()),
            workers: SpinLockIrq::new(BTreeMap::new()),
            next_wq_id: AtomicU32::new(1),
            next_pool_id: AtomicU32::new(0),
            work_flush_wait: WaitQueue::new(),
            work_flushers: AtomicUsize::new(0),
            fail_create: AtomicBool::new(false),
            idle_timeout_ms: AtomicU64::new(IDLE_WORKER_TIMEOUT_MS),
            cpu_intensive_thresh_us: AtomicU64::new(CPU_INTENSIVE_THRESH_US),
            power_efficient: AtomicBool::new(false),
            guard: SpinLockIrq::new(None),
            log: SpinLockIrq::new(Vec::new()),
        }
    }

    pub(crate) fn log(&self, sys: &IrqSystem, line: String) {
        let mut l = self.log.lock_irqsave(sys);
        if l.len() < 1024 {
            l.push(line);
        }
    }

    pub(crate) fn run_guarded(&self, sys: &IrqSystem, f: &mut dyn FnMut()) -> bool {
        let g = *self.guard.lock_irqsave(sys);
        match g {
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
        let c = self.cpu_pools.lock_irqsave(sys).iter().find(|p| p.id == id).cloned();
        c.or_else(|| self.unbound_pools.lock_irqsave(sys).iter().find(|p| p.id == id).cloned())
    }

    pub(crate) fn all_pools(&self, sys: &IrqSystem) -> Vec<Arc<Pool>> {
        let mut v = self.cpu_pools.lock_irqsave(sys).clone();
        v.extend(self.unbound_pools.lock_irqsave(sys).iter().cloned());
        v
    }

    fn cpu_pool(&self, sys: &IrqSystem, cpu: CpuId, highpri: bool) -> Result<Arc<Pool>, IrqError> {
        self.cpu_pools
            .lock_irqsave(sys)
            .get(cpu.index() * 2 + highpri as usize)
            .cloned()
            .ok_or(IrqError::NotFound("no worker pool for that cpu"))
    }

    fn unbound_pool(&self, sys: &IrqSystem, highpri: bool) -> Result<Arc<Pool>, IrqError> {
        self.unbound_pools
            .lock_irqsave(sys)
            .get(highpri as usize)
            .cloned()
            .ok_or(IrqError::NotFound("workqueues not initialised"))
    }
}

impl IrqSystem {
    /// `workqueue_init`: creates the worker pools, a first worker for each pool of an
    /// online CPU and each unbound pool, and the system workqueues. Idempotent.
    pub fn workqueue_init(self: &Arc<Self>) -> Result<(), IrqError> {
        {
            let mut i = self.wq.inited.lock_irqsave(self);
            if *i {
                return Ok(());
            }
            *i = true;
        }
        let mut cpu_pools = Vec::new();
        for c in 0..self.nr_cpus() {
            for hi in [false, true] {
                let id = self.wq.next_pool_id.fetch_add(1, Ordering::Relaxed);
                cpu_pools.push(Pool::new(id, Some(CpuId(c as u32)), hi));
            }
        }
        let mut unbound = Vec::new();
        for hi in [false, true] {
            let id = self.wq.next_pool_id.fetch_add(1, Ordering::Relaxed);
            unbound.push(Pool::new(id, None, hi));
        }
        *self.wq.cpu_pools.lock_irqsave(self) = cpu_pools.clone();
        *self.wq.unbound_pools.lock_irqsave(self) = unbound.clone();
        let online = self.online_mask();
        for p in cpu_pools.iter().filter(|p| p.cpu.is_some_and(|c| online.contains(c))) {
            worker::create_worker(self, p)?;
        }
        for p in unbound.iter() {
            worker::create_worker(self, p)?;
        }
        let pe = WQ_POWER_EFFICIENT | WQ_PERCPU;
        let mk = |n: &str, f: u32, m: i32| self.alloc_workqueue_inner(n, f, m);
        let s = SystemWqs {
            system_wq: mk("events", WQ_PERCPU, 0)?,
            system_percpu_wq: mk("events", WQ_PERCPU, 0)?,
            system_highpri_wq: mk("events_highpri", WQ_HIGHPRI | WQ_PERCPU, 0)?,
            system_long_wq: mk("events_long", WQ_PERCPU, 0)?,
            system_unbound_wq: mk("events_unbound", WQ_UNBOUND, WQ_MAX_ACTIVE as i32)?,
            system_dfl_wq: mk("events_unbound", WQ_UNBOUND, WQ_MAX_ACTIVE as i32)?,
            system_freezable_wq: mk("events_freezable", WQ_FREEZABLE | WQ_PERCPU, 0)?,
            system_power_efficient_wq: mk("events_power_efficient", pe, 0)?,
            system_freezable_power_efficient_wq: mk(
                "events_freezable_pwr_efficient",
                WQ_FREEZABLE | pe,
                0,
            )?,
            system_dfl_long_wq: mk("events_dfl_long", WQ_UNBOUND, WQ_MAX_ACTIVE as i32)?,
        };
        *self.wq.system.lock_irqsave(self) = Some(s);
        Ok(())
    }

    /// The system workqueues; `NotFound` before [`IrqSystem::workqueue_init`].
    pub fn system_wqs(&self) -> Result<SystemWqs, IrqError> {
        self.wq
            .system
            .lock_irqsave(self)
            .clone()
            .ok_or(IrqError::NotFound("workqueues not initialised"))
    }

    /// Installs the panic guard work functions run under (see [`WorkGuard`]).
    pub fn set_work_guard(&self, guard: WorkGuard) {
        *self.wq.guard.lock_irqsave(self) = Some(guard);
    }

    /// Fault injection: while `fail` is set, creating a worker fails (tests the
    /// rescuer of WQ_MEM_RECLAIM workqueues).
    pub fn wq_inject_create_failure(&self, fail: bool) {
        self.wq.fail_create.store(fail, Ordering::Release);
    }

    /// Sets the idle-worker reaping timeout (`IDLE_WORKER_TIMEOUT`, default 300 s).
    pub fn wq_set_idle_timeout_ms(&self, ms: u64) {
        self.wq.idle_timeout_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// `workqueue.cpu_intensive_thresh_us` (0 disables auto-detection).
    pub fn wq_set_cpu_intensive_thresh_us(&self, us: u64) {
        self.wq.cpu_intensive_thresh_us.store(us, Ordering::Relaxed);
    }

    /// `workqueue.power_efficient`: WQ_POWER_EFFICIENT workqueues created afterwards
    /// are unbound.
    pub fn wq_set_power_efficient(&self, on: bool) {
        self.wq.power_efficient.store(on, Ordering::Relaxed);
    }

    /// Takes the workqueue warnings logged so far (clamping, refused queueing, panics).
    pub fn wq_drain_log(&self) -> Vec<String> {
        core::mem::take(&mut *self.wq.log.lock_irqsave(self))
    }
}
