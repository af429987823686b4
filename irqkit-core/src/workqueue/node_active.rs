//! Per-NUMA-node max_active of unbound workqueues (kernel/workqueue.c
//! `struct wq_node_nr_active`, `pwq_tryinc_nr_active`, `pwq_dec_nr_active`,
//! `node_activate_pending_pwq`, `wq_update_node_max_active`).
//!
//! An unbound workqueue's limit is shared by every pool_workqueue of a node: the
//! node's `max` is max_active scaled by the node's share of the online CPUs (at
//! least `min_active`); a pool whose pod spans nodes counts against the
//! NUMA_NO_NODE entry, whose `max` is max_active. A pwq that finds its node full
//! waits on the node's pending list, and freed slots serve those pwqs round-robin.
//!
//! # Slots instead of a shared counter
//!
//! Linux counts every activation with an atomic RMW on the node's `nr`. Here a
//! pwq keeps the slots the node granted it (`Pwq::slots`, under its pool lock):
//! it asks the node (its lock) only for a slot beyond those, and gives slots back
//! only when the node wants them (`want_back`, a plain load on completion: some
//! pwq is pending, or a lowered `max` left more granted than allowed) or when a pwq
//! that goes pending has the node reclaim unused slots. So a workqueue below its
//! limit pays no lock and no RMW per item, and the node invariant holds: active ≤
//! Σ slots = `granted` ≤ `max` (after `max` is lowered, `granted` shrinks as items
//! finish and nothing new starts until it is below `max`, as in Linux).
//!
//! # Lock order
//!
//! pool lock → `NodeActive::inner`, and `WqInner::nodes` → `NodeActive::inner`;
//! the node lock is innermost (nothing is taken under it) and `WqInner::nodes` is
//! never taken under a pool lock (a pwq gets its node entry when it is linked).
//! No code holds two pool locks: Linux's `node_activate_pending_pwq` drops its own
//! pool lock to activate another pool's pwq; here that work is owed
//! (`PoolInner::node_owed`) and [`node_kick`] runs it once the pool guard has
//! unlocked, taking one pool lock at a time. So no lock-order inversion exists.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::pool::Pool;
use super::scope::CpuTopology;
use super::WqInner;
use crate::cpu::CpuMask;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::SpinLockIrq;
use crate::IrqSystem;

/// `WQ_DFL_MIN_ACTIVE`: each node's guaranteed share (capped by max_active).
pub(crate) const WQ_DFL_MIN_ACTIVE: u32 = 8;

/// `struct wq_node_nr_active`: one node's share of an unbound workqueue's limit.
pub(crate) struct NodeActive {
    pub(crate) wq_id: u32,
    /// The node; `None` is NUMA_NO_NODE (pools whose pod spans nodes).
    pub(crate) node: Option<u32>,
    /// Completions should give their slot back: some pwq waits on `pending`, or
    /// `granted > max`. Read without the lock on every completion, written under it.
    pub(crate) want_back: AtomicBool,
    pub(crate) inner: SpinLockIrq<NodeInner>,
}

/// The node's counts, under its lock.
pub(crate) struct NodeInner {
    pub(crate) max: u32,
    /// Slots held by the node's pwqs (each pwq's `slots`, summed).
    pub(crate) granted: u32,
    /// Pools whose pwq of this workqueue waits for a slot, served in turn.
    pub(crate) pending: VecDeque<u32>,
    /// The pools whose pwqs count here.
    pub(crate) members: Vec<Weak<Pool>>,
}

impl NodeActive {
    fn new(wq_id: u32, node: Option<u32>, max: u32) -> Arc<Self> {
        Arc::new(NodeActive {
            wq_id,
            node,
            want_back: AtomicBool::new(false),
            inner: SpinLockIrq::new(NodeInner {
                max,
                granted: 0,
                pending: VecDeque::new(),
                members: Vec::new(),
            }),
        })
    }

    fn member(&self, sys: &IrqSystem, pool_id: u32) -> Option<Arc<Pool>> {
        let n = self.inner.lock_irqsave(sys);
        n.members.iter().filter_map(Weak::upgrade).find(|p| p.id == pool_id)
    }
}

/// An unbound workqueue's node entries and which pool counts against which.
#[derive(Default)]
pub(crate) struct WqNodes {
    pub(crate) nodes: Vec<Arc<NodeActive>>,
    pub(crate) by_pool: Vec<(u32, Arc<NodeActive>)>,
}

impl WqNodes {
    fn get_or_make(&mut self, wq: &WqInner, node: Option<u32>) -> Arc<NodeActive> {
        if let Some(n) = self.nodes.iter().find(|n| n.node == node) {
            return n.clone();
        }
        let n = NodeActive::new(wq.id, node, wq.max_active());
        self.nodes.push(n.clone());
        n
    }
}

/// The node a pod lies in: `None` (NUMA_NO_NODE) if its CPUs span nodes.
pub(crate) fn pod_node(topo: &CpuTopology, pod: &CpuMask) -> Option<u32> {
    let mut nodes = pod.iter().filter_map(|c| topo.cpus.get(c.index())).map(|t| t.node);
    let first = nodes.next()?;
    nodes.all(|n| n == first).then_some(first)
}

/// The node entry the pwq of `wq` in pool `pool_id` counts against (made when the
/// pwq is; a pool never registered falls back to NUMA_NO_NODE).
pub(crate) fn node_for_pool(sys: &IrqSystem, wq: &WqInner, pool_id: u32) -> Arc<NodeActive> {
    let mut t = wq.nodes.lock_irqsave(sys);
    if let Some((_, n)) = t.by_pool.iter().find(|(id, _)| *id == pool_id) {
        return n.clone();
    }
    t.get_or_make(wq, None)
}

/// Records that `pool` (of node `pool.node`) serves `wq`.
pub(crate) fn register_pool(sys: &IrqSystem, wq: &WqInner, pool: &Arc<Pool>) {
    let mut t = wq.nodes.lock_irqsave(sys);
    if t.by_pool.iter().any(|(id, _)| *id == pool.id) {
        return;
    }
    let n = t.get_or_make(wq, pool.node);
    n.inner.lock_irqsave(sys).members.push(Arc::downgrade(pool));
    t.by_pool.push((pool.id, n));
}

/// `wq_update_node_max_active`: node max = clamp(⌈max_active × node's online CPUs
/// / all online CPUs⌉, min_active, max_active); NUMA_NO_NODE gets max_active; with
/// no CPU online every node gets min_active. Returns the node entries.
pub(crate) fn update_node_max(sys: &IrqSystem, wq: &WqInner) -> Vec<Arc<NodeActive>> {
    let topo = sys.wq.topology.lock_irqsave(sys).clone();
    let online = sys.online_mask();
    let max_active = wq.max_active();
    let min_active = max_active.min(WQ_DFL_MIN_ACTIVE);
    let total = online.weight() as u32;
    let mut t = wq.nodes.lock_irqsave(sys);
    let mut ids: Vec<Option<u32>> = topo.cpus.iter().map(|c| Some(c.node)).collect();
    ids.push(None);
    for id in ids {
        t.get_or_make(wq, id);
    }
    for n in t.nodes.iter() {
        let max = match n.node {
            None => max_active,
            Some(_) if total == 0 => min_active,
            Some(node) => {
                let on_node = online.iter().filter(|c| topo.cpus[c.index()].node == node).count();
                (max_active as u64 * on_node as u64).div_ceil(total as u64) as u32
            }
        };
        let mut i = n.inner.lock_irqsave(sys);
        i.max = max.clamp(min_active, max_active);
        n.want_back.store(!i.pending.is_empty() || i.granted > i.max, Ordering::Relaxed);
    }
    t.nodes.clone()
}

/// `(node, nr_active, max)` of each node entry of `wq`, nodes in order and
/// NUMA_NO_NODE last (for the dump: Linux's `wq_dump.py` nr_active/max columns).
pub(crate) fn node_counts(sys: &IrqSystem, wq: &WqInner) -> Vec<(Option<u32>, u32, u32)> {
    let mut nodes = wq.nodes.lock_irqsave(sys).nodes.clone();
    nodes.sort_by_key(|n| n.node.map_or(u64::MAX, u64::from));
    let mut out = Vec::new();
    for n in nodes.iter() {
        let (max, members) = {
            let i = n.inner.lock_irqsave(sys);
            (i.max, i.members.clone())
        };
        let active: u32 = members
            .iter()
            .filter_map(Weak::upgrade)
            .map(|p| p.lock(sys).pwq_counts(wq.id).map_or(0, |c| c.0))
            .sum();
        out.push((n.node, active, max));
    }
    out
}

/// Serves `node`'s pending pwqs while it has free slots, and first (`reclaim`)
/// takes back the slots its pwqs hold but do not use. Runs with no pool lock held
/// (a pool guard runs it after unlocking), one pool lock at a time.
pub(crate) fn node_kick(sys: &IrqSystem, node: &Arc<NodeActive>, reclaim: bool) {
    if reclaim {
        let members = node.inner.lock_irqsave(sys).members.clone();
        for pool in members.iter().filter_map(Weak::upgrade) {
            pool.lock(sys).node_reclaim(sys, node);
        }
    }
    loop {
        let head = {
            let n = node.inner.lock_irqsave(sys);
            match n.pending.front().copied() {
                Some(h) if n.granted < n.max => h,
                Some(_) => return,
                None => {
                    node.want_back.store(n.granted > n.max, Ordering::Relaxed);
                    return;
                }
            }
        };
        match node.member(sys, head) {
            Some(pool) => {
                pool.lock(sys).node_serve(sys, node, head);
            }
            None => {
                let mut n = node.inner.lock_irqsave(sys);
                if n.pending.front() == Some(&head) {
                    n.pending.pop_front();
                }
            }
        }
    }
}

impl IrqSystem {
    /// An unbound workqueue's per-node `(node, nr_active, max)` (Linux's
    /// `wq_node_nr_active`; node `None` is NUMA_NO_NODE); empty for a per-CPU one.
    pub fn workqueue_node_nr_active(&self, wq: &super::Workqueue) -> Vec<(Option<u32>, u32, u32)> {
        if wq.0.is_percpu() {
            return Vec::new();
        }
        node_counts(self, &wq.0)
    }
}
