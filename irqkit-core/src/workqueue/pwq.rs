//! The pool_workqueue bridge (kernel/workqueue.c `pwq`): one workqueue's share of a
//! pool — its active count against `max_active`, its inactive list, and the moves
//! between them (`__queue_work`'s insert, `pwq_dec_nr_in_flight`, `pwq_activate`).
//! Everything here runs under the pool lock.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use super::pool::{Kick, PoolInner};
use super::work::Work;
use super::WqInner;
use crate::IrqSystem;

/// One queueing instance of a work: the work, its workqueue and its flush color.
#[derive(Clone)]
pub(crate) struct Item {
    pub(crate) work: Work,
    pub(crate) wq: Arc<WqInner>,
    pub(crate) color: u64,
}

/// A pool_workqueue: one workqueue's share of one pool (guarded by the pool lock).
pub(crate) struct Pwq {
    pub(crate) nr_active: u32,
    pub(crate) max_active: u32,
    pub(crate) inactive: VecDeque<Item>,
}

impl PoolInner {
    /// Adds an active item (counted in its pwq's `nr_active`) to the worklist.
    /// Returns the kick to issue after unlocking.
    #[must_use]
    pub(crate) fn insert_work(&mut self, sys: &IrqSystem, pool_id: u32, item: Item) -> Kick {
        let max = item.wq.max_active();
        let pwq = self.pwqs.entry(item.wq.id).or_insert_with(|| Pwq {
            nr_active: 0,
            max_active: max,
            inactive: VecDeque::new(),
        });
        item.work.set_pool(pool_id, true);
        if pwq.inactive.is_empty() && pwq.nr_active < pwq.max_active && !item.wq.frozen() {
            pwq.nr_active += 1;
            self.worklist.push_back(item);
            self.kick_deferred(sys)
        } else {
            pwq.inactive.push_back(item);
            Kick::None
        }
    }

    /// `pwq_dec_nr_in_flight` for an active item: frees its slot and activates the
    /// oldest inactive work of the same pwq.
    pub(crate) fn dec_active(&mut self, sys: &IrqSystem, wq_id: u32) {
        let Some(pwq) = self.pwqs.get_mut(&wq_id) else { return };
        pwq.nr_active = pwq.nr_active.saturating_sub(1);
        self.activate(sys, wq_id);
    }

    /// Moves inactive works of `wq_id` onto the worklist while slots are free.
    pub(crate) fn activate(&mut self, sys: &IrqSystem, wq_id: u32) {
        let Some(pwq) = self.pwqs.get_mut(&wq_id) else { return };
        let mut moved = false;
        while pwq.nr_active < pwq.max_active {
            let Some(next) = pwq.inactive.pop_front() else { break };
            if next.wq.frozen() {
                pwq.inactive.push_front(next);
                break;
            }
            pwq.nr_active += 1;
            self.worklist.push_back(next);
            moved = true;
        }
        if moved {
            self.kick(sys);
        }
    }

    /// Removes a queued instance of `work` from any list of this pool (grabbing
    /// PENDING from a queued work). Returns the removed item.
    pub(crate) fn remove_queued(&mut self, sys: &IrqSystem, work: &Work) -> Option<Item> {
        if let Some(i) = self.worklist.iter().position(|it| it.work.ptr_eq(work)) {
            let it = self.worklist.remove(i)?;
            self.dec_active(sys, it.wq.id);
            return Some(it);
        }
        for slot in self.workers.iter_mut() {
            if let Some(i) = slot.scheduled.iter().position(|it| it.work.ptr_eq(work)) {
                let it = slot.scheduled.remove(i)?;
                self.dec_active(sys, it.wq.id);
                return Some(it);
            }
        }
        for pwq in self.pwqs.values_mut() {
            if let Some(i) = pwq.inactive.iter().position(|it| it.work.ptr_eq(work)) {
                return pwq.inactive.remove(i);
            }
        }
        None
    }

    /// Counts of (active, inactive) for `wq_id` in this pool.
    pub(crate) fn pwq_counts(&self, wq_id: u32) -> Option<(u32, usize)> {
        self.pwqs.get(&wq_id).map(|p| (p.nr_active, p.inactive.len()))
    }
}
