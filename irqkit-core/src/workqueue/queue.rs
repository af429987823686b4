//! Queueing: `queue_work_on`, `__queue_work` with non-reentrancy, delayed work.

use alloc::format;
use alloc::sync::Arc;

use super::pool::{Item, Pool};
use super::work::{DelayedInner, NO_POOL};
use super::wq::{DESTROYED, DESTROYING, DRAINING};
use super::{DelayedWork, Work, Workqueue, __WQ_ORDERED, WQ_BH};
use crate::cpu::CpuId;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

/// True if the caller is a worker executing an item of `wq` (chained queueing).
fn is_chained_work(sys: &IrqSystem, wq: &Workqueue) -> bool {
    super::api::current_item(sys).is_some_and(|it| Arc::ptr_eq(&it.wq, &wq.0))
}

/// A task work goes to threaded workqueues only, a BH work to WQ_BH ones only.
pub(crate) fn check_kind(wq: &Workqueue, work: &Work) -> Result<(), IrqError> {
    match (wq.0.flags & WQ_BH != 0, work.is_bh()) {
        (true, false) => Err(IrqError::InvalidArgument(
            "a task-context Work cannot run on a WQ_BH workqueue (use BhWork)",
        )),
        (false, true) => Err(IrqError::InvalidArgument("a BhWork runs only on a WQ_BH workqueue")),
        _ => Ok(()),
    }
}

/// `__queue_work`: the caller owns PENDING. On error PENDING is still owned and the
/// caller gives it back.
pub(crate) fn __queue_work(
    sys: &IrqSystem,
    cpu: Option<CpuId>,
    wq: &Workqueue,
    work: &Work,
) -> Result<(), IrqError> {
    let st = wq.0.state.load(Ordering::Acquire);
    if st & DESTROYED != 0 {
        sys.wq.log(
            sys,
            format!("workqueue: cannot queue {:#x} on wq {} (destroyed)", work.addr(), wq.0.name),
        );
        return Err(IrqError::AlreadyFreed("workqueue destroyed"));
    }
    if st & (DESTROYING | DRAINING) != 0 && !is_chained_work(sys, wq) {
        sys.wq.log(sys, format!("workqueue: cannot queue {:#x} on wq {}", work.addr(), wq.0.name));
        return Err(IrqError::Busy("workqueue is draining"));
    }
    let c = cpu
        .or_else(|| sys.current_cpu())
        .unwrap_or_else(|| sys.online_mask().first().unwrap_or(CpuId(0)));
    let mut pool: Arc<Pool> = if wq.0.is_percpu() {
        let p = wq.0.pools.get(c.index()).ok_or(IrqError::NotFound("no such cpu"))?;
        // A DISASSOCIATED pool runs its work unbound (Linux queues there too). A CPU
        // that is offline without that (never brought up, or a BH pool, which needs
        // its CPU) would never run the work: refused.
        if !sys.cpu(c)?.online() && !p.inner.lock_irqsave(sys).disassociated {
            return Err(IrqError::CpuOffline(c.0));
        }
        p.clone()
    } else {
        // The pool of the queueing (or requested) CPU's pod.
        wq.0.unbound_pool_for(sys, c).ok_or(IrqError::NotFound("no such cpu"))?
    };
    // Non-reentrancy: if the pool that last ran this work is running it now for
    // this workqueue, queue it there so it cannot run concurrently with itself.
    let last_id = work.0.last_pool.load(Ordering::Acquire);
    if wq.0.flags & __WQ_ORDERED == 0 && last_id != NO_POOL && last_id != pool.id {
        if let Some(last) = sys.wq.pool_by_id(sys, last_id) {
            let g = last.inner.lock_irqsave(sys);
            let busy_here = g.executing(work).is_some_and(|i| {
                g.workers[i].current.as_ref().is_some_and(|c| Arc::ptr_eq(&c.wq, &wq.0))
            });
            drop(g);
            if busy_here {
                pool = last;
            }
        }
    }
    // Accounting and reference counts before the pool lock: the lock hold, which
    // the pool's workers contend for, covers only the list insertion and the kick.
    let color = wq.0.flush_get(sys);
    work.0.nr_queued.fetch_add(1, Ordering::SeqCst);
    let item = Item { work: work.clone(), wq: wq.0.clone(), color };
    let mut g = pool.inner.lock_irqsave(sys);
    let kick = g.insert_work(sys, pool.id, item);
    drop(g);
    kick.wake(sys);
    Ok(())
}

impl IrqSystem {
    /// `queue_work_on(cpu, wq, work)`: `Ok(false)` if the work was already pending
    /// (or is disabled), `Ok(true)` if this call queued it. `cpu` is ignored for
    /// unbound workqueues. `InvalidArgument` if the work's kind does not match the
    /// workqueue (a [`super::BhWork`] needs WQ_BH, a plain [`Work`] needs a threaded one). `AlreadyFreed` on a destroyed workqueue, `Busy` while it
    /// drains (unless chained from its own work); the work stays idle then.
    pub fn queue_work_on(
        &self,
        cpu: Option<CpuId>,
        wq: &Workqueue,
        work: &Work,
    ) -> Result<bool, IrqError> {
        if let Some(c) = cpu {
            if c.index() >= self.nr_cpus() {
                return Err(IrqError::NotFound("no such cpu"));
            }
        }
        check_kind(wq, work)?;
        let flags = self.local_irq_save();
        let r = if !work.try_claim_pending() {
            Ok(false)
        } else {
            match __queue_work(self, cpu, wq, work) {
                Ok(()) => Ok(true),
                Err(e) => {
                    work.clear_pending();
                    Err(e)
                }
            }
        };
        self.local_irq_restore(flags);
        r
    }

    /// `queue_work(wq, work)`: on the local CPU's pool (per-CPU) or the unbound pool.
    pub fn queue_work(&self, wq: &Workqueue, work: &Work) -> Result<bool, IrqError> {
        self.queue_work_on(None, wq, work)
    }

    /// `schedule_work(work)`: `queue_work(system_percpu_wq, work)`.
    pub fn schedule_work(&self, work: &Work) -> Result<bool, IrqError> {
        let s = self.system_wqs()?;
        self.queue_work(&s.system_percpu_wq, work)
    }

    /// `schedule_work_on(cpu, work)`.
    pub fn schedule_work_on(&self, cpu: CpuId, work: &Work) -> Result<bool, IrqError> {
        let s = self.system_wqs()?;
        self.queue_work_on(Some(cpu), &s.system_percpu_wq, work)
    }

    /// `queue_delayed_work_on(cpu, wq, dwork, delay)`: `Ok(false)` if pending (the
    /// timer is left alone); delay 0 queues at once, else the timer wheel queues it
    /// after `delay` jiffies.
    pub fn queue_delayed_work_on(
        &self,
        cpu: Option<CpuId>,
        wq: &Workqueue,
        dwork: &DelayedWork,
        delay: u64,
    ) -> Result<bool, IrqError> {
        if let Some(c) = cpu {
            if c.index() >= self.nr_cpus() {
                return Err(IrqError::NotFound("no such cpu"));
            }
        }
        check_kind(wq, dwork.work())?;
        let flags = self.local_irq_save();
        let r = if !dwork.work().try_claim_pending() {
            Ok(false)
        } else {
            match __queue_delayed_work(self, cpu, wq, &dwork.0, delay) {
                Ok(()) => Ok(true),
                Err(e) => {
                    dwork.work().clear_pending();
                    Err(e)
                }
            }
        };
        self.local_irq_restore(flags);
        r
    }

    /// `queue_delayed_work(wq, dwork, delay)`.
    pub fn queue_delayed_work(
        &self,
        wq: &Workqueue,
        dwork: &DelayedWork,
        delay: u64,
    ) -> Result<bool, IrqError> {
        self.queue_delayed_work_on(None, wq, dwork, delay)
    }

    /// `schedule_delayed_work(dwork, delay)` on `system_percpu_wq`.
    pub fn schedule_delayed_work(&self, dwork: &DelayedWork, delay: u64) -> Result<bool, IrqError> {
        let s = self.system_wqs()?;
        self.queue_delayed_work(&s.system_percpu_wq, dwork, delay)
    }

    /// `mod_delayed_work_on`: steals PENDING (timer or queue), then re-arms with
    /// `delay` (0 queues now). `Ok(true)` if the work was pending before, `Ok(false)`
    /// if it was idle. A disabled work is left idle.
    pub fn mod_delayed_work_on(
        &self,
        cpu: Option<CpuId>,
        wq: &Workqueue,
        dwork: &DelayedWork,
        delay: u64,
    ) -> Result<bool, IrqError> {
        check_kind(wq, dwork.work())?;
        let flags = self.local_irq_save();
        let was = super::flush::grab_pending(self, dwork.work());
        let r = if dwork.work().0.data.load(Ordering::Acquire) >> 16 != 0 {
            dwork.work().clear_pending();
            Ok(was)
        } else {
            match __queue_delayed_work(self, cpu, wq, &dwork.0, delay) {
                Ok(()) => Ok(was),
                Err(e) => {
                    dwork.work().clear_pending();
                    Err(e)
                }
            }
        };
        self.local_irq_restore(flags);
        r
    }

    /// `mod_delayed_work(wq, dwork, delay)`.
    pub fn mod_delayed_work(
        &self,
        wq: &Workqueue,
        dwork: &DelayedWork,
        delay: u64,
    ) -> Result<bool, IrqError> {
        self.mod_delayed_work_on(None, wq, dwork, delay)
    }
}

/// `__queue_delayed_work`: the caller owns PENDING.
fn __queue_delayed_work(
    sys: &IrqSystem,
    cpu: Option<CpuId>,
    wq: &Workqueue,
    d: &DelayedInner,
    delay: u64,
) -> Result<(), IrqError> {
    if delay == 0 {
        return __queue_work(sys, cpu, wq, &d.work);
    }
    if wq.0.state.load(Ordering::Acquire) & DESTROYED != 0 {
        return Err(IrqError::AlreadyFreed("workqueue destroyed"));
    }
    *d.target.lock_irqsave(sys) = Some((wq.clone(), cpu));
    let expires = sys.jiffies() + delay;
    match cpu {
        Some(c) => {
            if !sys.online_mask().contains(c) {
                return Err(IrqError::CpuOffline(c.0));
            }
            d.timer.add_on(sys, expires, c)
        }
        None => d.timer.add(sys, expires),
    }
}

/// `delayed_work_timer_fn`: the timer expired; queue the work where it was aimed.
pub(crate) fn delayed_work_timer_fn(sys: &IrqSystem, d: &Arc<DelayedInner>) {
    let target = d.target.lock_irqsave(sys).clone();
    let Some((wq, cpu)) = target else {
        d.work.clear_pending();
        return;
    };
    if __queue_work(sys, cpu, &wq, &d.work).is_err() {
        // Nothing is lost silently: the refusal is logged and the work is idle again.
        d.work.clear_pending();
    }
}

/// Public: queue the work of `d` straight away (flush_delayed_work).
pub(crate) fn queue_now(sys: &IrqSystem, d: &DelayedInner) -> Result<(), IrqError> {
    let target = d.target.lock_irqsave(sys).clone();
    let Some((wq, cpu)) = target else {
        return Err(IrqError::NotFound("delayed work never queued"));
    };
    __queue_work(sys, cpu, &wq, &d.work)
}
