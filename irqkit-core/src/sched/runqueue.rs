//! `RunQueue`: one CPU's runnable threads — 99 FIFO priority lists above a normal list.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Policy, Thread};

/// Counters of one run queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunQueueStats {
    /// Context switches on this CPU.
    pub switches: u64,
    /// Of which involuntary (preemption at interrupt exit or `preempt_enable`).
    pub preemptions: u64,
}

/// One CPU's run queue. Protected by the scheduler's per-CPU lock.
pub struct RunQueue {
    pub(crate) curr: Option<Arc<Thread>>,
    pub(crate) idle: Option<Arc<Thread>>,
    /// Bit p set ⇔ `fifo[p]` is non-empty (p in 1..=99).
    fifo_bitmap: u128,
    fifo: Vec<VecDeque<Arc<Thread>>>,
    normal: VecDeque<Arc<Thread>>,
    pub(crate) stats: RunQueueStats,
}

impl RunQueue {
    pub(crate) fn new() -> Self {
        RunQueue {
            curr: None,
            idle: None,
            fifo_bitmap: 0,
            fifo: (0..100).map(|_| VecDeque::new()).collect(),
            normal: VecDeque::new(),
            stats: RunQueueStats::default(),
        }
    }

    /// Number of queued (runnable, not running) threads.
    pub fn nr_queued(&self) -> usize {
        self.normal.len() + self.fifo.iter().map(|q| q.len()).sum::<usize>()
    }

    /// The highest rank among queued threads (0 if none).
    pub(crate) fn best_rank(&self) -> u32 {
        if self.fifo_bitmap != 0 {
            100 + (127 - self.fifo_bitmap.leading_zeros())
        } else if !self.normal.is_empty() {
            1
        } else {
            0
        }
    }

    /// Queues `t`. `head` puts it first in its list (a preempted FIFO thread keeps its
    /// place, as SCHED_FIFO requires).
    pub(crate) fn enqueue(&mut self, t: Arc<Thread>, head: bool) {
        match t.policy() {
            Policy::Fifo(p) => {
                let p = p.clamp(1, 99) as usize;
                if head {
                    self.fifo[p].push_front(t);
                } else {
                    self.fifo[p].push_back(t);
                }
                self.fifo_bitmap |= 1 << p;
            }
            Policy::Normal(_) => {
                if head {
                    self.normal.push_front(t)
                } else {
                    self.normal.push_back(t)
                }
            }
            Policy::Idle => {}
        }
    }

    /// Takes the next thread to run: the first of the highest FIFO list, else the first
    /// normal thread.
    pub(crate) fn pick(&mut self) -> Option<Arc<Thread>> {
        if self.fifo_bitmap != 0 {
            let p = (127 - self.fifo_bitmap.leading_zeros()) as usize;
            let t = self.fifo[p].pop_front();
            if self.fifo[p].is_empty() {
                self.fifo_bitmap &= !(1 << p);
            }
            return t;
        }
        self.normal.pop_front()
    }

    /// Removes `t` if queued; true if it was.
    pub(crate) fn remove(&mut self, t: &Arc<Thread>) -> bool {
        for (p, q) in self.fifo.iter_mut().enumerate() {
            if let Some(i) = q.iter().position(|x| Arc::ptr_eq(x, t)) {
                q.remove(i);
                if q.is_empty() {
                    self.fifo_bitmap &= !(1 << p);
                }
                return true;
            }
        }
        if let Some(i) = self.normal.iter().position(|x| Arc::ptr_eq(x, t)) {
            self.normal.remove(i);
            return true;
        }
        false
    }

    /// The queued threads (for CPU hotplug migration).
    pub(crate) fn queued_threads(&self) -> Vec<Arc<Thread>> {
        self.fifo.iter().flatten().chain(self.normal.iter()).cloned().collect()
    }

    /// True if normal threads are waiting (time slicing matters).
    pub(crate) fn has_normal_waiting(&self) -> bool {
        !self.normal.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> RunQueueStats {
        self.stats
    }
}
