//! Introspection of the running work: `current_work`, `work_busy`, and
//! `schedule_on_each_cpu`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::pool::Item;
use super::work::NO_POOL;
use super::{Work, WORK_BUSY_PENDING, WORK_BUSY_RUNNING};
use crate::cpu::{CpuId, Task};
use crate::{IrqError, IrqSystem};

/// The item the calling worker (or rescuer) is executing, if the caller is one.
pub(crate) fn current_item(sys: &IrqSystem) -> Option<Item> {
    // `current_wq_worker`: only a worker's own task context counts; a softirq that
    // interrupted a kworker (a BH work, say) is not that worker.
    if !sys.with_this_cpu(|c| c.in_task())? {
        return None;
    }
    let me = sys.current_thread()?;
    let w = sys.wq.workers.lock_irqsave(sys).get(&me.id()).cloned()?;
    let pool = sys.wq.pool_by_id(sys, w.attached_pool())?;
    let mut g = pool.lock(sys);
    g.slot(&w).and_then(|s| s.current.clone())
}

impl IrqSystem {
    /// `current_work()`: the work the calling worker executes, `None` elsewhere.
    pub fn current_work(&self) -> Option<Work> {
        current_item(self).map(|it| it.work)
    }

    /// `current_is_workqueue_rescuer()`.
    pub fn current_is_workqueue_rescuer(&self) -> bool {
        let Some(me) = self.current_thread() else { return false };
        self.wq.workers.lock_irqsave(self).get(&me.id()).is_some_and(|w| w.is_rescuer())
    }

    /// `work_busy`: [`WORK_BUSY_PENDING`] | [`WORK_BUSY_RUNNING`] (advisory snapshot).
    pub fn work_busy(&self, work: &Work) -> u32 {
        let mut r = 0;
        if work.is_pending() {
            r |= WORK_BUSY_PENDING;
        }
        let pid = work.last_pool();
        if pid != NO_POOL {
            if let Some(pool) = self.wq.pool_by_id(self, pid) {
                if pool.lock(self).executing(work).is_some() {
                    r |= WORK_BUSY_RUNNING;
                }
            }
        }
        r
    }

    /// `schedule_on_each_cpu(fn)`: runs `f` on every online CPU through
    /// `system_percpu_wq` and waits for all of them.
    pub fn schedule_on_each_cpu(
        &self,
        task: &Task,
        f: impl Fn(&IrqSystem, CpuId) + Send + Sync + 'static,
    ) -> Result<(), IrqError> {
        self.might_sleep("schedule_on_each_cpu")?;
        let f = Arc::new(f);
        let wq = self.system_wqs()?.system_percpu_wq;
        let mut works = Vec::new();
        for cpu in self.online_mask().iter() {
            let f = f.clone();
            let w = Work::new(move |sys, _w, _t| f(sys, sys.current_cpu().unwrap_or(CpuId(0))));
            self.queue_work_on(Some(cpu), &wq, &w)?;
            works.push(w);
        }
        for w in works.iter() {
            self.flush_work(task, w)?;
        }
        Ok(())
    }
}
