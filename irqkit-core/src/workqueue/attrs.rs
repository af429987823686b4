//! Unbound workqueue attributes (kernel/workqueue.c `apply_workqueue_attrs`,
//! `get_unbound_pool`, `wq_affn_dfl_set`): the affinity scope and strictness of each
//! unbound workqueue, the system default scope, and the shared pools per pod.
//!
//! Applying attributes computes the pods of the workqueue's scope and, for each,
//! finds or makes the unbound pool with equal attributes (priority, pod CPUs,
//! strict, node). Pools are shared across workqueues, as `unbound_pool_hash` shares
//! them. A pod with no online CPU gets the default pool instead (all CPUs:
//! `wq_calc_pod_cpumask`); CPU hotplug re-applies. Each apply recomputes the
//! per-node max_active (`node_active.rs`).
//! New work goes to the new pools at once; work already queued in the old ones runs
//! there (flush colors are per workqueue, so flushes still see it).

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::manage::create_worker;
use super::node_active::{node_for_pool, node_kick, pod_node, register_pool, update_node_max};
use super::pool::Pool;
use super::scope::{pods, AffinityScope, CpuTopology};
use super::{Workqueue, WqInner, __WQ_ORDERED, WQ_HIGHPRI};
use crate::cpu::CpuMask;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

/// An unbound workqueue's attributes as `workqueue_attrs` / sysfs show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WqAttrs {
    /// The scope as set (`Default` follows the system default).
    pub scope: AffinityScope,
    /// The scope in force.
    pub effective_scope: AffinityScope,
    /// `affinity_strict`.
    pub strict: bool,
    /// The pods now in use, one pool each.
    pub pods: Vec<CpuMask>,
}

/// `get_unbound_pool`: the pool with these attributes, made (with a first worker)
/// if none exists yet.
fn get_unbound_pool(
    sys: &Arc<IrqSystem>,
    highpri: bool,
    pod: CpuMask,
    strict: bool,
    node: Option<u32>,
) -> Result<Arc<Pool>, IrqError> {
    let mut pools = sys.wq.unbound_pools.lock_irqsave(sys);
    if let Some(p) = pools
        .iter()
        .find(|p| p.highpri == highpri && p.pod == pod && p.strict == strict && p.node == node)
    {
        return Ok(p.clone());
    }
    let id = sys.wq.next_pool_id.fetch_add(1, Ordering::Relaxed);
    let pool = Pool::new_unbound(id, highpri, pod, strict, node);
    pools.push(pool.clone());
    drop(pools);
    // A pool that cannot start a worker still takes work: its first queueing makes
    // the manager try again (and a rescuer help, for WQ_MEM_RECLAIM).
    if let Err(e) = create_worker(sys, &pool) {
        sys.wq.log(sys, alloc::format!("workqueue: no first worker for pool {id}: {e:?}"));
    }
    Ok(pool)
}

/// The scope `wq` runs with: ordered workqueues always use one pod (strict FIFO
/// needs a single pool), `Default` follows the system default.
fn effective_scope(sys: &IrqSystem, wq: &WqInner, scope: AffinityScope) -> AffinityScope {
    if wq.flags & __WQ_ORDERED != 0 {
        AffinityScope::System
    } else if scope == AffinityScope::Default {
        *sys.wq.default_scope.lock_irqsave(sys)
    } else {
        scope
    }
}

/// `apply_wqattrs_prepare` + commit: recomputes `wq`'s pod pools from its scope.
pub(crate) fn apply_unbound_attrs(sys: &Arc<IrqSystem>, wq: &Arc<WqInner>) -> Result<(), IrqError> {
    let (scope, strict) = {
        let u = wq.unbound.lock_irqsave(sys);
        (u.scope, u.strict)
    };
    let eff = effective_scope(sys, wq, scope);
    let topo: CpuTopology = sys.wq.topology.lock_irqsave(sys).clone();
    let shard = sys.wq.cache_shard_size.load(Ordering::Relaxed);
    let highpri = wq.flags & WQ_HIGHPRI != 0;
    let online = sys.online_mask();
    let all = CpuMask::first_n(sys.nr_cpus());
    let mut dfl: Option<Arc<Pool>> = None;
    let mut by_cpu: Vec<Option<Arc<Pool>>> = alloc::vec![None; sys.nr_cpus()];
    for pod in pods(&topo, eff, shard) {
        // wq_calc_pod_cpumask: a pod with no online CPU is served by the default
        // pwq's pool (the workqueue's whole cpumask) until one of its CPUs returns.
        let pool = if pod.intersects(&online) || online.is_empty() {
            get_unbound_pool(sys, highpri, pod, strict, pod_node(&topo, &pod))?
        } else if let Some(p) = &dfl {
            p.clone()
        } else {
            let p = get_unbound_pool(sys, highpri, all, strict, pod_node(&topo, &all))?;
            dfl = Some(p.clone());
            p
        };
        for c in pod.iter() {
            if let Some(slot) = by_cpu.get_mut(c.index()) {
                *slot = Some(pool.clone());
            }
        }
    }
    let by_cpu: Vec<Arc<Pool>> = by_cpu
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(IrqError::InvalidArgument("topology leaves a cpu without a pod"))?;
    // Each pool's node entry exists before its pwq is linked, and each pool gets
    // its pwq before a producer can find the pool (see `WqRef`).
    for p in by_cpu.iter() {
        register_pool(sys, wq, p);
        let node = node_for_pool(sys, wq, p.id);
        p.lock(sys).link_wq(wq, p.id, Some(node));
    }
    {
        let mut u = wq.unbound.lock_irqsave(sys);
        for p in by_cpu.iter() {
            if !u.used.iter().any(|q| q.id == p.id) {
                u.used.push(p.clone());
            }
        }
        // Published after `used` holds each pool (see `WqInner::pod_pool`).
        for (slot, p) in wq.pod_pool.iter().zip(by_cpu.iter()) {
            slot.store(Arc::as_ptr(p).cast_mut(), Ordering::Release);
        }
        u.by_cpu = by_cpu;
    }
    // wq_update_node_max_active: the online CPUs or max_active may have changed.
    for node in update_node_max(sys, wq) {
        node_kick(sys, &node, true);
    }
    Ok(())
}

/// `wq_update_pod` for every unbound workqueue, from CPU hotplug: pods that lost
/// (or regained) their last online CPU switch pools, and node limits follow the
/// online CPUs.
pub(crate) fn wq_update_pods(sys: &Arc<IrqSystem>) {
    if let Err(e) = reapply(sys, |_| true) {
        sys.wq.log(sys, alloc::format!("workqueue: pod update after hotplug failed: {e:?}"));
    }
}

/// Re-applies every unbound workqueue's attributes (`filter`: which ones).
fn reapply(sys: &Arc<IrqSystem>, filter: impl Fn(&WqInner) -> bool) -> Result<(), IrqError> {
    let wqs: Vec<Arc<WqInner>> = sys.wq.registry.lock_irqsave(sys).clone();
    for wq in wqs.iter().filter(|w| !w.is_percpu() && filter(w)) {
        apply_unbound_attrs(sys, wq)?;
    }
    Ok(())
}

impl IrqSystem {
    /// Sets an unbound workqueue's `affinity_scope` and `affinity_strict` (sysfs);
    /// new work follows at once. `InvalidArgument` for a per-CPU, BH or ordered
    /// workqueue (Linux refuses attributes there too).
    pub fn workqueue_set_affinity_scope(
        self: &Arc<Self>,
        wq: &Workqueue,
        scope: AffinityScope,
        strict: bool,
    ) -> Result<(), IrqError> {
        if wq.0.is_percpu() {
            return Err(IrqError::InvalidArgument("affinity scopes are for unbound workqueues"));
        }
        if wq.is_ordered() {
            return Err(IrqError::InvalidArgument("an ordered workqueue keeps one pool"));
        }
        {
            let mut u = wq.0.unbound.lock_irqsave(self);
            u.scope = scope;
            u.strict = strict;
        }
        apply_unbound_attrs(self, &wq.0)
    }

    /// The attributes of an unbound workqueue; `None` for a per-CPU or BH one.
    pub fn workqueue_attrs(&self, wq: &Workqueue) -> Option<WqAttrs> {
        if wq.0.is_percpu() {
            return None;
        }
        let u = wq.0.unbound.lock_irqsave(self);
        let mut pods: Vec<CpuMask> = Vec::new();
        for p in u.by_cpu.iter() {
            if !pods.contains(&p.pod) {
                pods.push(p.pod);
            }
        }
        let (scope, strict) = (u.scope, u.strict);
        drop(u);
        Some(WqAttrs { scope, effective_scope: effective_scope(self, &wq.0, scope), strict, pods })
    }

    /// `workqueue.default_affinity_scope`: the scope of unbound workqueues left at
    /// `Default`; they follow the change at once. `InvalidArgument` for `Default`.
    pub fn wq_set_default_affinity_scope(
        self: &Arc<Self>,
        scope: AffinityScope,
    ) -> Result<(), IrqError> {
        if scope == AffinityScope::Default {
            return Err(IrqError::InvalidArgument("the default scope must be a real scope"));
        }
        *self.wq.default_scope.lock_irqsave(self) = scope;
        let sys = self.clone();
        reapply(self, move |w| w.unbound.lock_irqsave(&sys).scope == AffinityScope::Default)
    }

    /// The system default affinity scope (Linux today: `cache_shard`).
    pub fn wq_default_affinity_scope(&self) -> AffinityScope {
        *self.wq.default_scope.lock_irqsave(self)
    }

    /// Replaces the CPU topology scopes are computed from (one entry per possible
    /// CPU, else `InvalidArgument`); unbound workqueues are re-podded at once.
    pub fn wq_set_cpu_topology(self: &Arc<Self>, topo: CpuTopology) -> Result<(), IrqError> {
        topo.validate(self.nr_cpus())?;
        *self.wq.topology.lock_irqsave(self) = topo;
        reapply(self, |_| true)
    }

    /// `workqueue.cache_shard_size` (cores per `cache_shard` pod, at least 1).
    pub fn wq_set_cache_shard_size(self: &Arc<Self>, cores: usize) -> Result<(), IrqError> {
        if cores == 0 {
            return Err(IrqError::InvalidArgument("cache_shard_size must be at least 1"));
        }
        self.wq.cache_shard_size.store(cores, Ordering::Relaxed);
        reapply(self, |_| true)
    }
}
