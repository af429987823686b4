//! An unbound pwq's side of its node's shared limit (kernel/workqueue.c
//! `pwq_tryinc_nr_active`, `pwq_dec_nr_active`, `node_activate_pending_pwq`): asking
//! the node for a slot, waiting in line, taking a turn, giving unused slots back.
//! Everything here runs under the pool lock, taking the node lock inside it; see
//! `node_active.rs` for the slot scheme and the lock order.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::node_active::NodeActive;
use super::pool::PoolInner;
use super::pwq::Pwq;
use super::watchdog::worklist_push;
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

/// A [`super::node_active::node_kick`] owed once the pool lock is dropped; `bool`:
/// reclaim unused slots first.
pub(crate) type NodeOwed = (Arc<NodeActive>, bool);

/// Records an owed node kick (once per node; a reclaim request sticks).
pub(crate) fn owe_node_kick(owed: &mut Vec<NodeOwed>, node: &Arc<NodeActive>, reclaim: bool) {
    match owed.iter_mut().find(|(n, _)| Arc::ptr_eq(n, node)) {
        Some(e) => e.1 |= reclaim,
        None => owed.push((node.clone(), reclaim)),
    }
}

impl Pwq {
    fn counts_on(&self, node: &Arc<NodeActive>) -> bool {
        self.node.as_ref().is_some_and(|n| Arc::ptr_eq(n, node))
    }

    /// `pwq_tryinc_nr_active`'s slow part, for a pwq whose own slots are in use:
    /// one more slot from the node if it has one free; else the pwq joins the
    /// node's pending list (once; a pwq already waiting does not jump the line) and
    /// the node is owed a kick that reclaims slots other pwqs hold unused. False for
    /// a per-CPU pwq, whose `slots` are the whole limit.
    pub(crate) fn node_tryinc(&mut self, sys: &IrqSystem, owed: &mut Vec<NodeOwed>) -> bool {
        let Some(node) = &self.node else { return false };
        if self.pending {
            return false;
        }
        let mut n = node.inner.lock_irqsave(sys);
        if n.granted < n.max {
            n.granted += 1;
            self.slots += 1;
            return true;
        }
        self.pending = true;
        n.pending.push_back(self.pool_id);
        node.want_back.store(true, Ordering::Relaxed);
        drop(n);
        owe_node_kick(owed, node, true);
        false
    }
}

impl PoolInner {
    /// Gives back the slots that `wq_id`'s pwq here holds but does not use, if its
    /// node wants them back; then serves the node's line while this pool is at its
    /// head (a kick is owed if another pool is). `pwq_dec_nr_active`'s unbound part.
    pub(crate) fn node_release(&mut self, sys: &IrqSystem, wq_id: u32) {
        let Some(pwq) = self.pwqs.get_mut(&wq_id) else { return };
        let Some(node) = pwq.node.clone() else { return };
        if !node.want_back.load(Ordering::Relaxed) {
            return;
        }
        let surplus = pwq.slots.saturating_sub(pwq.nr_active);
        pwq.slots -= surplus;
        {
            let mut n = node.inner.lock_irqsave(sys);
            debug_assert!(n.granted >= surplus);
            n.granted = n.granted.saturating_sub(surplus);
        }
        let pool_id = pwq.pool_id;
        if !self.node_serve(sys, &node, pool_id) {
            owe_node_kick(&mut self.node_owed, &node, false);
        }
    }

    /// Takes back the slots this pool's pwq on `node` holds but does not use.
    pub(crate) fn node_reclaim(&mut self, sys: &IrqSystem, node: &Arc<NodeActive>) {
        let Some(pwq) = self.pwqs.get_mut(&node.wq_id).filter(|p| p.counts_on(node)) else {
            return;
        };
        let surplus = pwq.slots.saturating_sub(pwq.nr_active);
        if surplus > 0 {
            pwq.slots -= surplus;
            let mut n = node.inner.lock_irqsave(sys);
            debug_assert!(n.granted >= surplus);
            n.granted = n.granted.saturating_sub(surplus);
        }
    }

    /// `node_activate_pending_pwq` for this pool (`pool_id`): while the node has a
    /// free slot and this pool's pwq heads its line, activates one of that pwq's
    /// inactive works and sends the pwq to the back of the line (round-robin), or
    /// out of it once it has nothing left to run. Returns false if it stopped
    /// because another pool's pwq is at the head with a slot free.
    pub(crate) fn node_serve(
        &mut self,
        sys: &IrqSystem,
        node: &Arc<NodeActive>,
        pool_id: u32,
    ) -> bool {
        let mut moved = false;
        let done = loop {
            let mut n = node.inner.lock_irqsave(sys);
            let Some(&head) = n.pending.front() else {
                node.want_back.store(n.granted > n.max, Ordering::Relaxed);
                break true;
            };
            if n.granted >= n.max {
                break true;
            }
            if head != pool_id {
                break false;
            }
            n.pending.pop_front();
            let Some(pwq) = self.pwqs.get_mut(&node.wq_id).filter(|p| p.counts_on(node)) else {
                continue;
            };
            // Nothing to run now (cancelled, or frozen): out of the line; a new item
            // or the thaw asks again.
            if pwq.inactive.is_empty() || pwq.wq.frozen() {
                pwq.pending = false;
                continue;
            }
            let Some(item) = pwq.inactive.pop_front() else { continue };
            n.granted += 1;
            pwq.slots += 1;
            pwq.nr_active += 1;
            if pwq.inactive.is_empty() {
                pwq.pending = false;
            } else {
                n.pending.push_back(pool_id);
            }
            drop(n);
            worklist_push(&mut self.worklist, &mut self.watchdog_ts, sys, item);
            moved = true;
        };
        if moved {
            self.kick(sys);
        }
        done
    }
}
