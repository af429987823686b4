//! Finding a pool's workers: a worker's own slot, and the worker running a given
//! work (`find_worker_executing_work`, which `assign_work` asks so that a work never
//! runs concurrently with itself). Both run under the pool lock for every item, so
//! each has a fast path that avoids scanning the other workers' slots.

use alloc::sync::Arc;

use super::pool::{PoolInner, WorkerSlot};
use super::work::Work;
use super::worker::Worker;
use crate::sync::atomic::Ordering;

impl PoolInner {
    /// The index of `w`'s slot: its hint if still right (slots move only when a
    /// worker leaves), else a scan that refreshes the hint.
    pub(crate) fn slot_index(&self, w: &Worker) -> Option<usize> {
        let is = |s: &WorkerSlot| core::ptr::eq(Arc::as_ptr(&s.worker), w);
        let hint = w.slot_hint.load(Ordering::Relaxed) as usize;
        if self.workers.get(hint).is_some_and(is) {
            return Some(hint);
        }
        let i = self.workers.iter().position(is)?;
        w.slot_hint.store(i as u32, Ordering::Relaxed);
        Some(i)
    }

    pub(crate) fn slot(&mut self, w: &Worker) -> Option<&mut WorkerSlot> {
        let i = self.slot_index(w)?;
        self.workers.get_mut(i)
    }

    /// `find_worker_executing_work`: the worker running `work` (same work, same wq).
    pub(crate) fn executing(&self, work: &Work) -> Option<usize> {
        self.workers.iter().position(|s| s.current.as_ref().is_some_and(|c| c.work.ptr_eq(work)))
    }

    /// [`PoolInner::executing`] for an instance just taken off this pool's worklist.
    /// Linux looks in a hash; here the work's own counters answer first: if that
    /// instance is its only one not yet finished, no worker can be running it.
    /// Exact under the pool lock: a worker of this pool running another instance
    /// counts it done only under this lock, and every counted queueing happened
    /// before its insertion, which happened before the pop.
    pub(crate) fn executing_other(&self, work: &Work) -> Option<usize> {
        let outstanding = work
            .0
            .nr_queued
            .load(Ordering::SeqCst)
            .wrapping_sub(work.0.nr_done.load(Ordering::SeqCst));
        if outstanding == 1 {
            return None;
        }
        self.executing(work)
    }
}
