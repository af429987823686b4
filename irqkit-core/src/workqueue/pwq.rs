//! The pool_workqueue bridge (kernel/workqueue.c `pwq`): one workqueue's share of a
//! pool — its active count against `max_active`, its inactive list, and the moves
//! between them (`__queue_work`'s insert, `pwq_dec_nr_in_flight`, `pwq_activate`).
//! It also counts its in-flight instances per flush colour (Linux's
//! `pwq->nr_in_flight[color]`), so queueing and finishing a work touch no lock but
//! the pool's. Everything here runs under the pool lock. An unbound pwq's limit is
//! its node's, shared with the node's other pwqs (`node_active.rs`).

use alloc::collections::VecDeque;
use alloc::sync::Arc;

pub(crate) use super::item::Item;
use super::node_active::NodeActive;
use super::pool::{Kick, PoolInner};
use super::watchdog::worklist_push;
use super::work::Work;
use super::WqInner;
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

/// A pool_workqueue: one workqueue's share of one pool (guarded by the pool lock).
pub(crate) struct Pwq {
    /// The workqueue, counted: what keeps it alive for the items here ([`WqRef`](super::item::WqRef)).
    pub(crate) wq: Arc<WqInner>,
    pub(crate) pool_id: u32,
    pub(crate) nr_active: u32,
    /// Active items this pwq may hold without asking anyone: a per-CPU pwq's
    /// max_active; an unbound pwq's slots granted by its node.
    pub(crate) slots: u32,
    /// An unbound pwq's node entry (`None`: per-CPU or BH, limited by `slots`).
    pub(crate) node: Option<Arc<NodeActive>>,
    /// On the node's pending list.
    pub(crate) pending: bool,
    pub(crate) inactive: VecDeque<Item>,
    /// In-flight instances (active or inactive) per flush colour. A handful of
    /// entries at most: one per `flush_workqueue` that overlaps running work.
    pub(crate) in_flight: VecDeque<(u64, u32)>,
    /// Items started and completed here (Linux's per-pwq PWQ_STAT_STARTED and
    /// _COMPLETED): plain counts under the pool lock, summed when read, where
    /// workqueue-wide atomics would bounce between the workers of every pool.
    pub(crate) started: u64,
    pub(crate) completed: u64,
}

impl Pwq {
    /// True if an instance of a colour up to `color` is in flight here.
    pub(crate) fn has_color_upto(&self, color: u64) -> bool {
        self.in_flight.iter().any(|e| e.0 <= color)
    }

    /// One instance of `color` less.
    fn color_put(&mut self, color: u64) {
        if let Some(i) = self.in_flight.iter().position(|e| e.0 == color) {
            self.in_flight[i].1 -= 1;
            if self.in_flight[i].1 == 0 {
                self.in_flight.remove(i);
            }
        }
    }

    /// One more instance of `color`. Queueing usually repeats the newest colour;
    /// a producer that read the colour just before a flush opened a new one may
    /// land after it, hence the search.
    fn color_get(&mut self, color: u64) {
        match self.in_flight.iter_mut().rev().find(|e| e.0 == color) {
            Some(e) => e.1 += 1,
            None => self.in_flight.push_back((color, 1)),
        }
    }
}

impl PoolInner {
    /// `link_pwq`: gives `wq` a pool_workqueue in this pool `pool_id` (idempotent),
    /// counting against `node` if unbound. Done before the workqueue can queue
    /// here, so every item finds its pwq ([`WqRef`](super::item::WqRef)).
    pub(crate) fn link_wq(
        &mut self,
        wq: &Arc<WqInner>,
        pool_id: u32,
        node: Option<Arc<NodeActive>>,
    ) {
        self.pwqs.entry(wq.id).or_insert_with(|| Pwq {
            wq: wq.clone(),
            pool_id,
            nr_active: 0,
            slots: if node.is_some() { 0 } else { wq.max_active() },
            node,
            pending: false,
            inactive: VecDeque::new(),
            in_flight: VecDeque::new(),
            started: 0,
            completed: 0,
        });
    }

    /// Drops `wq`'s pool_workqueue here once nothing of it is in flight
    /// (`destroy_workqueue`, after the drain). True if it was removed.
    pub(crate) fn unlink_wq(&mut self, wq_id: u32) -> bool {
        let idle = self
            .pwqs
            .get(&wq_id)
            .is_some_and(|p| p.nr_active == 0 && p.inactive.is_empty() && p.in_flight.is_empty());
        idle && self.pwqs.remove(&wq_id).is_some()
    }

    /// Adds an active item (counted in its pwq's `nr_active`) to the worklist.
    /// Returns the kick to issue after unlocking. An item whose workqueue has no pwq
    /// here any more (queued while `destroy_workqueue` ran, which Linux forbids) is
    /// dropped and its work left idle, since its workqueue may be gone.
    #[must_use]
    pub(crate) fn insert_work(&mut self, sys: &IrqSystem, pool_id: u32, item: Item) -> Kick {
        item.work.set_pool(pool_id, true);
        if self.insert_work_quiet(sys, item) {
            self.kick_deferred(sys)
        } else {
            Kick::None
        }
    }

    /// [`PoolInner::insert_work`] without the kick, for an item whose work already
    /// names this pool, QUEUED (a ring item: its producer set that before publishing
    /// it, so the lock hold does not write the work's cache line again). True if the
    /// item went on the worklist (a kick may be owed), false if it went inactive or
    /// was dropped.
    pub(crate) fn insert_work_quiet(&mut self, sys: &IrqSystem, item: Item) -> bool {
        let Some(pwq) = self.pwqs.get_mut(&item.wq_id) else {
            drop_orphan(sys, item);
            return false;
        };
        pwq.color_get(item.color);
        let frozen = pwq.wq.frozen();
        if pwq.inactive.is_empty()
            && !frozen
            && (pwq.nr_active < pwq.slots || pwq.node_tryinc(sys, &mut self.node_owed))
        {
            pwq.nr_active += 1;
            worklist_push(&mut self.worklist, &mut self.watchdog_ts, sys, item);
            true
        } else {
            let wq_id = item.wq_id;
            let wait = pwq.node.is_some() && !pwq.pending && !frozen;
            pwq.inactive.push_back(item);
            if wait {
                // Waits for its node: gets a slot now or goes on the pending list.
                self.activate(sys, wq_id);
            }
            false
        }
    }

    /// `pwq_dec_nr_in_flight` for an active item: frees its slot and activates the
    /// oldest inactive work of the same pwq.
    pub(crate) fn dec_active(&mut self, sys: &IrqSystem, wq_id: u32) {
        self.pwq_dec(sys, wq_id, None);
    }

    /// A worker starts an item of `wq_id`.
    pub(crate) fn pwq_started(&mut self, wq_id: u32) {
        if let Some(pwq) = self.pwqs.get_mut(&wq_id) {
            pwq.started += 1;
        }
    }

    /// `pwq_dec_nr_in_flight` for an item that ran: counted completed, its colour's
    /// flush count drops, its active slot is freed and the oldest inactive work of
    /// the pwq activated: one pwq lookup for the three (a per-item cost).
    pub(crate) fn pwq_finish(&mut self, sys: &IrqSystem, wq_id: u32, color: u64) {
        self.pwq_dec(sys, wq_id, Some(color));
    }

    /// The body of both: one pwq lookup; `ran` is the colour of an item that ran
    /// (counted completed and flushed), `None` for one taken off the lists.
    fn pwq_dec(&mut self, sys: &IrqSystem, wq_id: u32, ran: Option<u64>) {
        let Some(pwq) = self.pwqs.get_mut(&wq_id) else { return };
        if let Some(color) = ran {
            pwq.completed += 1;
            pwq.color_put(color);
        }
        pwq.nr_active = pwq.nr_active.saturating_sub(1);
        // An unbound pwq keeps its slot unless its node wants it back: a plain load
        // per item, no RMW (node_active.rs).
        let release = pwq.node.as_ref().is_some_and(|n| n.want_back.load(Ordering::Relaxed));
        let waiting = !pwq.inactive.is_empty();
        if release {
            self.node_release(sys, wq_id);
        }
        if release || waiting {
            self.activate(sys, wq_id);
        }
    }

    /// (started, completed) of `wq_id` in this pool.
    pub(crate) fn pwq_stats(&self, wq_id: u32) -> (u64, u64) {
        self.pwqs.get(&wq_id).map_or((0, 0), |p| (p.started, p.completed))
    }

    /// `pwq_dec_nr_in_flight`'s colour part: an instance of `color` was cancelled.
    /// The caller then wakes the workqueue's flushers (after unlocking).
    pub(crate) fn color_done(&mut self, wq_id: u32, color: u64) {
        if let Some(pwq) = self.pwqs.get_mut(&wq_id) {
            pwq.color_put(color);
        }
    }

    /// Moves inactive works of `wq_id` onto the worklist while slots are free (an
    /// unbound pwq asks its node, and waits in line if the node is full).
    pub(crate) fn activate(&mut self, sys: &IrqSystem, wq_id: u32) {
        let Some(pwq) = self.pwqs.get_mut(&wq_id) else { return };
        let mut moved = false;
        while !pwq.inactive.is_empty() {
            if pwq.wq.frozen()
                || !(pwq.nr_active < pwq.slots || pwq.node_tryinc(sys, &mut self.node_owed))
            {
                break;
            }
            let Some(next) = pwq.inactive.pop_front() else { break };
            pwq.nr_active += 1;
            worklist_push(&mut self.worklist, &mut self.watchdog_ts, sys, next);
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
            self.dec_active(sys, it.wq_id);
            return Some(it);
        }
        for slot in self.workers.iter_mut() {
            if let Some(i) = slot.scheduled.iter().position(|it| it.work.ptr_eq(work)) {
                let it = slot.scheduled.remove(i)?;
                self.dec_active(sys, it.wq_id);
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

/// Leaves the work of an item that cannot be inserted idle and counted as done, so
/// that its flushers return; logged (see [`PoolInner::insert_work`]).
fn drop_orphan(sys: &IrqSystem, item: Item) {
    item.work.clear_queued();
    item.work.clear_pending();
    item.work.0.nr_done.fetch_add(1, crate::sync::atomic::Ordering::SeqCst);
    sys.wq.log(
        sys,
        alloc::format!(
            "workqueue: work {:#x} queued on a destroyed workqueue (id {}); dropped",
            item.work.addr(),
            item.wq_id
        ),
    );
    sys.wq.wake_work_flushers(sys);
}

// Plain unit tests: loom's atomics only work inside a loom model.
#[cfg(all(test, not(loom)))]
mod tests {
    use crate::cpu::CpuId;
    use crate::sync::atomic::Ordering;
    use crate::testing::FakePlatform;
    use crate::workqueue::{BhWork, WQ_BH};

    // kernel/workqueue.c __flush_workqueue + pwq_dec_nr_in_flight: a flush waits for
    // the colours open before it, never for works queued after it opened the next.
    // BH works on the fake platform stay queued until a softirq runs them.
    #[test]
    fn flush_color_counts_earlier_works_only() {
        let (sys, _p) = FakePlatform::system(1);
        FakePlatform::enter_cpu(CpuId(0));
        let wq = sys.alloc_workqueue("colors", WQ_BH, 0).unwrap();
        let (a, b) = (BhWork::new(|_, _, _| {}), BhWork::new(|_, _, _| {}));
        assert!(wq.0.idle(&sys));
        sys.queue_work(&wq, a.work()).unwrap();
        // flush_workqueue opens colour 1 and waits for colour 0.
        let color = wq.0.flush_color.fetch_add(1, Ordering::SeqCst);
        sys.queue_work(&wq, b.work()).unwrap();
        assert!(!wq.0.flushed_upto(&sys, color), "a (colour 0) is in flight");
        assert!(sys.cancel_work(a.work()));
        assert!(wq.0.flushed_upto(&sys, color), "b took the next colour: not waited for");
        assert!(!wq.0.idle(&sys), "b is still in flight");
        assert!(sys.cancel_work(b.work()));
        assert!(wq.0.idle(&sys));
    }
}
