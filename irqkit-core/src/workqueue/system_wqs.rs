//! `workqueue_init`, the system workqueues, and the workqueue boot parameters.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::pool::Pool;
use super::*;
use crate::cpu::CpuId;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

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
    /// `system_bh_wq` ("events_bh", BH|PERCPU): [`BhWork`] in TASKLET_SOFTIRQ.
    pub system_bh_wq: Workqueue,
    /// `system_bh_highpri_wq` ("events_bh_highpri"): [`BhWork`] in HI_SOFTIRQ.
    pub system_bh_highpri_wq: Workqueue,
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
                let id = (c * 4 + 2) as u32 + hi as u32;
                cpu_pools.push(Pool::new(id, CpuId(c as u32), hi));
            }
        }
        let mut unbound = Vec::new();
        for hi in [false, true] {
            let id = self.wq.next_pool_id.fetch_add(1, Ordering::Relaxed);
            let all = crate::cpu::CpuMask::first_n(self.nr_cpus());
            let node = super::node_active::pod_node(&self.wq.topology.lock_irqsave(self), &all);
            unbound.push(Pool::new_unbound(id, hi, all, false, node));
        }
        *self.wq.cpu_pools.lock_irqsave(self) = cpu_pools.clone();
        *self.wq.unbound_pools.lock_irqsave(self) = unbound.clone();
        let online = self.online_mask();
        for p in cpu_pools.iter().filter(|p| p.cpu.is_some_and(|c| online.contains(c))) {
            manage::create_worker(self, p)?;
        }
        for p in unbound.iter() {
            manage::create_worker(self, p)?;
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
            system_bh_wq: mk("events_bh", WQ_BH | WQ_PERCPU, 0)?,
            system_bh_highpri_wq: mk("events_bh_highpri", WQ_BH | WQ_HIGHPRI | WQ_PERCPU, 0)?,
        };
        *self.wq.system.lock_irqsave(self) = Some(s);
        self.wq_watchdog_arm();
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
        self.wq.guard.store(Some(guard));
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

    /// How long an idle worker polls for a kick before it sleeps (default 0: it
    /// sleeps at once, as in Linux). A hosted runtime, where a thread park/unpark
    /// costs far more than the work it carries, sets tens of µs; see `idle_spin`.
    pub fn wq_set_idle_spin_ns(&self, ns: u64) {
        self.wq.idle_spin_ns.store(ns.min(MAX_IDLE_SPIN_NS), Ordering::Relaxed);
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
