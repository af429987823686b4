//! BH work items: a work whose function runs in softirq context and receives
//! `&SoftIrq` (see `work.rs` for why the kind is part of the type).

use alloc::boxed::Box;
use core::fmt;

use super::work::{StoredFn, Work, WorkCtx, BH};
use super::DelayedWork;
use crate::cpu::SoftIrq;
use crate::IrqSystem;

/// The function a BH work runs: system, the work itself, softirq token.
pub type BhWorkFn = dyn Fn(&IrqSystem, &BhWork, &SoftIrq) + Send + Sync;

/// A BH work item: its function runs in softirq context on a `WQ_BH` workqueue
/// (`system_bh_wq`, `system_bh_highpri_wq`) and receives `&SoftIrq`, never `&Task`,
/// so it cannot call anything that sleeps. Queue [`BhWork::work`] with the usual
/// calls (`queue_work`, `cancel_work_sync`, `flush_work`, ...); a threaded workqueue
/// refuses it with `InvalidArgument`. From softirq or other atomic context, cancel it
/// with [`IrqSystem::cancel_bh_work_sync`], which busy-waits instead of sleeping.
///
/// ```compile_fail
/// use irqkit_core::workqueue::BhWork;
/// // error: a BH work function gets `&SoftIrq`, not `&Task`.
/// let w = BhWork::new(|_sys, _w, t: &irqkit_core::Task| {});
/// ```
#[derive(Clone)]
pub struct BhWork(pub(crate) Work);

impl fmt::Debug for BhWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BhWork({:#x}, pending {})", self.0.addr(), self.0.is_pending())
    }
}

impl BhWork {
    /// `INIT_WORK` for a work meant for a BH workqueue: an idle item running `func`
    /// in softirq context.
    pub fn new(func: impl Fn(&IrqSystem, &BhWork, &SoftIrq) + Send + Sync + 'static) -> Self {
        BhWork(Work::build(BH, bh_fn(func), None))
    }

    /// The work item itself, for the queue / flush / cancel calls.
    pub fn work(&self) -> &Work {
        &self.0
    }

    /// `work_pending`.
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
}

/// Wraps a BH function: it is called only with a softirq token.
fn bh_fn(func: impl Fn(&IrqSystem, &BhWork, &SoftIrq) + Send + Sync + 'static) -> Box<StoredFn> {
    Box::new(move |sys, w, ctx| {
        if let WorkCtx::Bh(tok) = ctx {
            // One reference count per run; the handle is what the function may requeue.
            func(sys, &BhWork(w.clone()), tok)
        }
    })
}

impl DelayedWork {
    /// `INIT_DELAYED_WORK` for a BH workqueue: the timer (TIMER_SOFTIRQ) queues the
    /// work, which then runs `func` in softirq context like any [`BhWork`]. Queue it
    /// with `queue_delayed_work(_on)` on a `WQ_BH` workqueue; cancel from atomic
    /// context with [`IrqSystem::cancel_bh_work_sync`] on [`DelayedWork::bh_work`].
    pub fn new_bh(func: impl Fn(&IrqSystem, &BhWork, &SoftIrq) + Send + Sync + 'static) -> Self {
        DelayedWork::with_kind(BH, bh_fn(func))
    }

    /// The embedded work as a [`BhWork`] (`None` for a task-context delayed work).
    pub fn bh_work(&self) -> Option<BhWork> {
        self.work().is_bh().then(|| BhWork(self.work().clone()))
    }
}
