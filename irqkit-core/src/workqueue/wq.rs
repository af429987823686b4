//! Workqueues: `alloc_workqueue`, flags and limits, flush colors, counters, destroy.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use super::pool::Pool;
use super::*;
use crate::cpu::{CpuId, Task};
use crate::sched::{Thread, WaitQueue};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};

/// Per-workqueue counters (Linux's `wq_monitor.py` columns).
#[derive(Default)]
pub struct WqStats {
    /// Items started.
    pub started: AtomicU64,
    /// Items completed.
    pub completed: AtomicU64,
    /// Nanoseconds spent in work functions.
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

/// Flush colors: the in-flight count of each epoch still running (oldest first).
pub(crate) struct FlushState {
    pub(crate) color: u64,
    pub(crate) in_flight: VecDeque<(u64, u64)>,
}

pub(crate) const DESTROYING: u32 = 1;
pub(crate) const DRAINING: u32 = 2;
pub(crate) const DESTROYED: u32 = 4;

/// The shared state of a workqueue.
pub struct WqInner {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) flags: u32,
    max_active: AtomicU32,
    /// Per-CPU pools indexed by CPU, or the one unbound pool.
    pub(crate) pools: Vec<Arc<Pool>>,
    pub(crate) state: AtomicU32,
    pub(crate) frozen: AtomicBool,
    pub(crate) flush: SpinLockIrq<FlushState>,
    pub(crate) flush_wait: WaitQueue,
    pub(crate) flushers: AtomicUsize,
    /// Pools asking the rescuer for help (pool ids, each once).
    pub(crate) mayday_list: SpinLockIrq<VecDeque<u32>>,
    pub(crate) mayday_wait: WaitQueue,
    pub(crate) rescuer: SpinLockIrq<Option<Arc<Thread>>>,
    /// Counters.
    pub stats: WqStats,
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

    /// Opens a flush color for one new instance; returns its color.
    pub(crate) fn flush_get(&self, sys: &IrqSystem) -> u64 {
        let mut f = self.flush.lock_irqsave(sys);
        let c = f.color;
        match f.in_flight.back_mut() {
            Some(b) if b.0 == c => b.1 += 1,
            _ => f.in_flight.push_back((c, 1)),
        }
        c
    }

    /// An instance of `color` finished or was cancelled.
    pub(crate) fn flush_done(&self, sys: &IrqSystem, color: u64) {
        {
            let mut f = self.flush.lock_irqsave(sys);
            if let Some(e) = f.in_flight.iter_mut().find(|e| e.0 == color) {
                e.1 -= 1;
            }
            f.in_flight.retain(|e| e.1 > 0);
        }
        if self.flushers.load(Ordering::SeqCst) > 0 {
            self.flush_wait.wake_all(sys);
        }
    }

    /// True when no instance of a color up to `color` is in flight.
    pub(crate) fn flushed_upto(&self, sys: &IrqSystem, color: u64) -> bool {
        self.flush.lock_irqsave(sys).in_flight.front().is_none_or(|e| e.0 > color)
    }

    /// True when nothing is in flight at all.
    pub(crate) fn idle(&self, sys: &IrqSystem) -> bool {
        self.flush.lock_irqsave(sys).in_flight.is_empty()
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

/// Clamps `max_active` as `alloc_workqueue` does (0 means the default).
fn clamp_max_active(sys: &IrqSystem, name: &str, max_active: i32) -> u32 {
    if max_active == 0 {
        return WQ_DFL_ACTIVE;
    }
    let c = max_active.clamp(1, WQ_MAX_ACTIVE as i32);
    if c != max_active {
        sys.wq.log(
            sys,
            format!(
                "workqueue: max_active {max_active} requested for {name} is out of range, clamping between 1 and {WQ_MAX_ACTIVE}"
            ),
        );
    }
    c as u32
}

impl IrqSystem {
    /// `alloc_workqueue(name, flags, max_active)`. Without WQ_UNBOUND the workqueue
    /// is per-CPU (WQ_PERCPU states that explicitly). max_active 0 means 1024;
    /// values outside 1..=2048 are clamped with a warning in the workqueue log.
    /// `InvalidArgument` for WQ_BH with other flags than HIGHPRI/PERCPU or with a
    /// non-zero max_active; `Unsupported` for WQ_BH itself (not built yet).
    pub fn alloc_workqueue(
        self: &Arc<Self>,
        name: &str,
        flags: u32,
        max_active: i32,
    ) -> Result<Workqueue, IrqError> {
        self.workqueue_init()?;
        self.alloc_workqueue_inner(name, flags, max_active)
    }

    pub(crate) fn alloc_workqueue_inner(
        self: &Arc<Self>,
        name: &str,
        mut flags: u32,
        max_active: i32,
    ) -> Result<Workqueue, IrqError> {
        if flags & !(WQ_ALL_FLAGS) != 0 {
            return Err(IrqError::InvalidArgument("unknown workqueue flags"));
        }
        if flags & WQ_BH != 0 {
            if flags & !(WQ_BH | WQ_HIGHPRI | WQ_PERCPU) != 0 {
                return Err(IrqError::InvalidArgument(
                    "BH workqueues allow only HIGHPRI and PERCPU",
                ));
            }
            if max_active != 0 {
                return Err(IrqError::InvalidArgument("BH workqueues need max_active 0"));
            }
            return Err(IrqError::Unsupported("WQ_BH workqueues are not built yet"));
        }
        if flags & WQ_UNBOUND != 0 && flags & WQ_PERCPU != 0 {
            return Err(IrqError::InvalidArgument("WQ_UNBOUND and WQ_PERCPU exclude each other"));
        }
        if flags & WQ_POWER_EFFICIENT != 0 && self.wq.power_efficient.load(Ordering::Relaxed) {
            flags = (flags & !WQ_PERCPU) | WQ_UNBOUND;
        }
        let mut name = String::from(name);
        if name.len() > WQ_NAME_LEN - 1 {
            let mut cut = WQ_NAME_LEN - 1;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            name.truncate(cut);
            self.wq
                .log(self, format!("workqueue: name exceeds WQ_NAME_LEN. Truncating to: {name}"));
        }
        let max = clamp_max_active(self, &name, max_active);
        let highpri = flags & WQ_HIGHPRI != 0;
        let pools: Vec<Arc<Pool>> = if flags & WQ_UNBOUND != 0 {
            alloc::vec![self.wq.unbound_pool(self, highpri)?]
        } else {
            (0..self.nr_cpus())
                .map(|c| self.wq.cpu_pool(self, CpuId(c as u32), highpri))
                .collect::<Result<_, _>>()?
        };
        let inner = Arc::new(WqInner {
            id: self.wq.next_wq_id.fetch_add(1, Ordering::Relaxed),
            name,
            flags,
            max_active: AtomicU32::new(max),
            pools,
            state: AtomicU32::new(0),
            frozen: AtomicBool::new(false),
            flush: SpinLockIrq::new(FlushState { color: 0, in_flight: VecDeque::new() }),
            flush_wait: WaitQueue::new(),
            flushers: AtomicUsize::new(0),
            mayday_list: SpinLockIrq::new(VecDeque::new()),
            mayday_wait: WaitQueue::new(),
            rescuer: SpinLockIrq::new(None),
            stats: WqStats::default(),
        });
        if flags & WQ_MEM_RECLAIM != 0 {
            let t = super::rescuer::start_rescuer(self, &inner)?;
            *inner.rescuer.lock_irqsave(self) = Some(t);
        }
        self.wq.registry.lock_irqsave(self).push(inner.clone());
        Ok(Workqueue(inner))
    }

    /// `alloc_ordered_workqueue(name, flags)`: unbound, max_active 1, strict FIFO.
    pub fn alloc_ordered_workqueue(
        self: &Arc<Self>,
        name: &str,
        flags: u32,
    ) -> Result<Workqueue, IrqError> {
        self.alloc_workqueue(name, WQ_UNBOUND | __WQ_ORDERED | flags, 1)
    }

    /// `destroy_workqueue`: refuses new work, drains, stops the rescuer. Queueing on it
    /// afterwards is `AlreadyFreed`. Pending delayed-work timers must be cancelled
    /// first (as in Linux); their expiry then fails to queue and is logged.
    pub fn destroy_workqueue(&self, task: &Task, wq: &Workqueue) -> Result<(), IrqError> {
        self.might_sleep("destroy_workqueue")?;
        let st = wq.0.state.fetch_or(DESTROYING, Ordering::AcqRel);
        if st & (DESTROYING | DESTROYED) != 0 {
            return Err(IrqError::AlreadyFreed("workqueue already destroyed"));
        }
        let r = self.drain_workqueue(task, wq);
        if let Some(t) = wq.0.rescuer.lock_irqsave(self).take() {
            self.kthread_stop_nowait(&t);
        }
        wq.0.mayday_wait.wake_all(self);
        self.wq.registry.lock_irqsave(self).retain(|w| !Arc::ptr_eq(w, &wq.0));
        wq.0.state.fetch_or(DESTROYED, Ordering::AcqRel);
        r
    }

    /// `workqueue_set_max_active`: re-clamps and activates inactive works if raised.
    pub fn workqueue_set_max_active(&self, wq: &Workqueue, max_active: i32) {
        let max = clamp_max_active(self, &wq.0.name, max_active);
        let max = if wq.is_ordered() { 1 } else { max };
        wq.0.max_active.store(max, Ordering::Relaxed);
        for pool in wq.0.pools.iter() {
            let mut g = pool.inner.lock_irqsave(self);
            if let Some(p) = g.pwqs.get_mut(&wq.0.id) {
                p.max_active = max;
            }
            g.activate(self, wq.0.id);
        }
    }

    /// `workqueue_congested(cpu, wq)`: the pwq serving `cpu` has inactive works.
    pub fn workqueue_congested(&self, cpu: Option<CpuId>, wq: &Workqueue) -> bool {
        let pool = if wq.0.is_percpu() {
            let c = cpu.or(self.current_cpu()).unwrap_or(CpuId(0));
            match wq.0.pools.get(c.index()) {
                Some(p) => p,
                None => return false,
            }
        } else {
            &wq.0.pools[0]
        };
        pool.inner.lock_irqsave(self).pwq_counts(wq.0.id).is_some_and(|(_, i)| i > 0)
    }

    /// `freeze_workqueues_begin`: freezable workqueues start no new work (queued
    /// works stay inactive) until [`IrqSystem::thaw_workqueues`].
    pub fn freeze_workqueues(&self) {
        for wq in self.wq.registry.lock_irqsave(self).iter() {
            if wq.flags & WQ_FREEZABLE != 0 {
                wq.frozen.store(true, Ordering::Release);
            }
        }
    }

    /// `thaw_workqueues`: freezable workqueues run their held-back works again.
    pub fn thaw_workqueues(&self) {
        let wqs: Vec<_> = self.wq.registry.lock_irqsave(self).clone();
        for wq in wqs.iter().filter(|w| w.frozen()) {
            wq.frozen.store(false, Ordering::Release);
            for pool in wq.pools.iter() {
                pool.inner.lock_irqsave(self).activate(self, wq.id);
            }
        }
    }
}
