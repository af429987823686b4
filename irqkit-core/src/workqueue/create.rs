//! `alloc_workqueue` and friends: flag checks, max_active clamping, destroy, freeze.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::pool::Pool;
use super::scope::AffinityScope;
use super::wq::{UnboundPods, WqStats, DESTROYED, DESTROYING};
use super::*;
use crate::cpu::{CpuId, Task};
use crate::sched::WaitQueue;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};

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
    /// A WQ_BH workqueue runs [`BhWork`] items in softirq context and needs no
    /// worker threads (so no `workqueue_init` either); `InvalidArgument` for WQ_BH
    /// with other flags than HIGHPRI/PERCPU or with a non-zero max_active.
    pub fn alloc_workqueue(
        self: &Arc<Self>,
        name: &str,
        flags: u32,
        max_active: i32,
    ) -> Result<Workqueue, IrqError> {
        if flags & WQ_BH == 0 {
            self.workqueue_init()?;
        }
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
            if !self.wq.bh_runners.swap(true, Ordering::AcqRel) {
                // Busy only if another runner got there first; its pools still work
                // as far as queueing goes, so this is reported, not fatal.
                if super::bh::install_bh_runners(self).is_err() {
                    self.wq.log(self, String::from("workqueue: BH runner already installed"));
                }
            }
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
        let highpri = flags & WQ_HIGHPRI != 0;
        // BH workqueues have no max_active limit: Linux sets INT_MAX, which is also what
        // its dump shows.
        let max = if flags & WQ_BH != 0 {
            i32::MAX as u32
        } else {
            clamp_max_active(self, &name, max_active)
        };
        let pools: Vec<Arc<Pool>> = if flags & WQ_BH != 0 {
            (0..self.nr_cpus())
                .map(|c| self.wq.bh_pools[c * 2 + highpri as usize].clone())
                .collect()
        } else if flags & WQ_UNBOUND != 0 {
            Vec::new() // pods: apply_unbound_attrs below
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
            unbound: SpinLockIrq::new(UnboundPods {
                scope: AffinityScope::Default,
                strict: false,
                by_cpu: Vec::new(),
                used: Vec::new(),
            }),
            pod_pool: (0..self.nr_cpus()).map(|_| AtomicPtr::new(core::ptr::null_mut())).collect(),
            nodes: SpinLockIrq::new(Default::default()),
            state: AtomicU32::new(0),
            frozen: AtomicBool::new(false),
            flush_color: AtomicU64::new(0),
            flush_wait: WaitQueue::new(),
            flushers: AtomicUsize::new(0),
            mayday_list: SpinLockIrq::new(VecDeque::new()),
            mayday_wait: WaitQueue::new(),
            rescuer: SpinLockIrq::new(None),
            stats: WqStats::default(),
        });
        // Every pool the workqueue can queue on gets its pwq first (see `WqRef`).
        for pool in inner.pools.iter() {
            pool.lock(self).link_wq(&inner, pool.id, None);
        }
        if flags & WQ_UNBOUND != 0 {
            super::attrs::apply_unbound_attrs(self, &inner)?;
        }
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
        // Drained: the pwqs let go of the workqueue (`unlink_pwq`), breaking the
        // pool → pwq → workqueue → pool cycle. One that still has work (a drain
        // that failed) keeps it, and so its items stay valid.
        if r.is_ok() {
            for pool in wq.0.all_pools(self).iter() {
                pool.lock(self).unlink_wq(wq.0.id);
            }
        }
        self.wq.registry.lock_irqsave(self).retain(|w| !Arc::ptr_eq(w, &wq.0));
        wq.0.state.fetch_or(DESTROYED, Ordering::AcqRel);
        r
    }

    /// `workqueue_set_max_active`: re-clamps and activates inactive works if raised.
    /// Ignored (and logged) for a BH workqueue, where max_active means nothing.
    pub fn workqueue_set_max_active(&self, wq: &Workqueue, max_active: i32) {
        if wq.0.flags & WQ_BH != 0 {
            self.wq
                .log(self, format!("workqueue: max_active of BH workqueue {} is fixed", wq.0.name));
            return;
        }
        let max = clamp_max_active(self, &wq.0.name, max_active);
        let max = if wq.is_ordered() { 1 } else { max };
        wq.0.max_active.store(max, Ordering::Relaxed);
        if !wq.0.is_percpu() {
            // wq_update_node_max_active; a raised limit serves the waiting pwqs
            // round-robin, a lowered one takes back the slots held unused.
            for node in super::node_active::update_node_max(self, &wq.0) {
                super::node_active::node_kick(self, &node, true);
            }
            return;
        }
        for pool in wq.0.all_pools(self).iter() {
            let mut g = pool.lock(self);
            if let Some(p) = g.pwqs.get_mut(&wq.0.id) {
                p.slots = max;
            }
            g.activate(self, wq.0.id);
        }
    }

    /// `workqueue_congested(cpu, wq)`: the pwq serving `cpu` has inactive works.
    pub fn workqueue_congested(&self, cpu: Option<CpuId>, wq: &Workqueue) -> bool {
        let c = cpu.or(self.current_cpu()).unwrap_or(CpuId(0));
        let pool = if wq.0.is_percpu() {
            wq.0.pools.get(c.index()).map(|p| &**p)
        } else {
            wq.0.unbound_pool_for(c)
        };
        let Some(pool) = pool else { return false };
        let congested = pool.lock(self).pwq_counts(wq.0.id).is_some_and(|(_, i)| i > 0);
        congested
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
            for pool in wq.all_pools(self).iter() {
                pool.lock(self).activate(self, wq.id);
            }
        }
    }
}
