//! Cancelling a BH work from atomic context (kernel/workqueue.c `__cancel_work_sync` →
//! `__flush_work(from_cancel)` for a BH work): the wait for a running instance
//! busy-waits instead of sleeping, so softirq code and other non-hardirq atomic
//! sections may cancel a BH work synchronously.
//!
//! The busy-wait cannot deadlock: a BH work runs only in softirq on its pool's CPU and
//! softirqs do not nest, so an instance running on the caller's own CPU can only be
//! the caller itself (refused). One running elsewhere finishes without this CPU's help.

use alloc::format;

use super::flush::cancel_disabled;
use super::work::seq_ge;
use super::{BhWork, Work};
use crate::sync::atomic::{spin_hint, Ordering};
use crate::{IrqError, IrqSystem};

/// True if `work` is the BH work being executed on the calling CPU.
fn running_here(sys: &IrqSystem, work: &Work) -> bool {
    let Some(cpu) = sys.current_cpu() else { return false };
    let pools = sys.wq.bh_pools.get(cpu.index() * 2..cpu.index() * 2 + 2).unwrap_or(&[]);
    pools.iter().any(|pool| {
        let Some(w) = pool.bh_worker.as_ref() else { return false };
        let mut g = pool.lock(sys);
        g.slot(w).and_then(|s| s.current.as_ref()).is_some_and(|it| it.work.ptr_eq(work))
    })
}

impl IrqSystem {
    /// `cancel_work_sync` for a BH work, callable from softirq and other non-hardirq
    /// atomic contexts as well as from tasks: cancels it and busy-waits until no
    /// instance runs. `Ok(true)` iff it was pending. `WrongContext` (nothing changed)
    /// from hard-irq or NMI context and from the work's own function.
    pub fn cancel_bh_work_sync(&self, work: &BhWork) -> Result<bool, IrqError> {
        let what = "cancel_work_sync of a BH work";
        if self.with_this_cpu(|c| c.in_hardirq() || c.in_nmi()).unwrap_or(false) {
            self.wq.log(self, format!("workqueue: {what} from hard-irq context"));
            return Err(IrqError::WrongContext("cancel_bh_work_sync from hard-irq context"));
        }
        let work = work.work();
        if running_here(self, work) {
            self.wq.log(
                self,
                format!("workqueue: {what} on the running work {:#x} would deadlock", work.addr()),
            );
            return Err(IrqError::WrongContext("cancel_bh_work_sync from the work itself"));
        }
        // Disabled for the duration, as `cancel_work_sync`: a requeue racing with the
        // wait (from the running instance, say) fails instead of escaping the cancel.
        let (was, target) = cancel_disabled(self, work);
        while !seq_ge(work.0.nr_done.load(Ordering::SeqCst), target)
            && seq_ge(work.0.nr_queued.load(Ordering::SeqCst), target)
        {
            spin_hint();
        }
        work.enable();
        Ok(was)
    }
}
