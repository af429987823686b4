//! Delayed work (kernel/workqueue.c `queue_delayed_work_on`, `mod_delayed_work_on`,
//! `delayed_work_timer_fn`): a work plus a timer on the timer wheel that queues it.

use alloc::sync::Arc;

use super::queue::{__queue_work, check_kind};
use super::work::DelayedInner;
use super::wq::DESTROYED;
use super::{DelayedWork, Workqueue};
use crate::cpu::CpuId;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

impl IrqSystem {
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
            queue_claimed(self, cpu, wq, dwork, delay).map(|()| true)
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
            queue_claimed(self, cpu, wq, dwork, delay).map(|()| was)
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

/// Queues `dwork`, whose PENDING the caller claimed; on failure gives the claim back,
/// so a refused queue leaves the work idle.
fn queue_claimed(
    sys: &IrqSystem,
    cpu: Option<CpuId>,
    wq: &Workqueue,
    dwork: &DelayedWork,
    delay: u64,
) -> Result<(), IrqError> {
    __queue_delayed_work(sys, cpu, wq, &dwork.0, delay)
        .inspect_err(|_| dwork.work().clear_pending())
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
