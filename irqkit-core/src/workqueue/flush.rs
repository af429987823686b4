//! Flush, drain and cancel (kernel/workqueue.c `__flush_work`, `__flush_workqueue`,
//! `drain_workqueue`, `try_to_grab_pending`, `__cancel_work(_sync)`).

use alloc::format;

use super::work::{seq_ge, NO_POOL};
use super::wq::DRAINING;
use super::{DelayedWork, Work, Workqueue};
use crate::cpu::Task;
use crate::sync::atomic::{spin_hint, Ordering};
use crate::{IrqError, IrqSystem};

/// `try_to_grab_pending`: makes the caller the owner of PENDING. Returns true if the
/// work was pending (its timer deleted or a queued instance removed), false if it
/// was idle. Spins while a queueing is in flight, as Linux busy-retries.
pub(crate) fn grab_pending(sys: &IrqSystem, work: &Work) -> bool {
    loop {
        if let Some(d) = work.delayed() {
            if d.timer.del(sys) {
                return true;
            }
        }
        if work.claim_pending_raw() {
            return false;
        }
        let pid = work.last_pool();
        if work.is_queued() && pid != NO_POOL {
            if let Some(pool) = sys.wq.pool_by_id(sys, pid) {
                let mut g = pool.lock(sys);
                if let Some(it) = g.remove_queued(sys, work) {
                    it.work.clear_queued();
                    it.work.0.nr_queued.fetch_sub(1, Ordering::SeqCst);
                    g.color_done(it.wq_id, it.color);
                    // Counted: once the lock goes, a destroy may drop the pwq's.
                    let wq = it.wq.arc(&g);
                    drop(g);
                    wq.wake_flushers(sys);
                    sys.wq.wake_work_flushers(sys);
                    return true;
                }
            }
        }
        spin_hint();
    }
}

/// Sleeps until the instance counted as `target` has finished (or was cancelled).
fn wait_done(sys: &IrqSystem, task: &Task, work: &Work, target: u32) -> Result<(), IrqError> {
    let w = &sys.wq;
    w.work_flushers.fetch_add(1, Ordering::SeqCst);
    let r = w.work_flush_wait.wait_event(sys, task, || {
        seq_ge(work.0.nr_done.load(Ordering::SeqCst), target)
            || !seq_ge(work.0.nr_queued.load(Ordering::SeqCst), target)
    });
    w.work_flushers.fetch_sub(1, Ordering::SeqCst);
    r
}

/// The first half of `__cancel_work_sync`: disables `work` (queue attempts fail until
/// the caller re-enables it), takes PENDING and clears it. Returns whether it was
/// pending and the queueing count whose completion the caller must wait for.
pub(crate) fn cancel_disabled(sys: &IrqSystem, work: &Work) -> (bool, u32) {
    work.disable();
    let flags = sys.local_irq_save();
    let was = grab_pending(sys, work);
    work.clear_pending();
    sys.local_irq_restore(flags);
    (was, work.0.nr_queued.load(Ordering::SeqCst))
}

/// Refuses to wait on the work the caller is executing (it would wait for itself).
fn check_not_self(sys: &IrqSystem, work: &Work, what: &'static str) -> Result<(), IrqError> {
    if super::api::current_item(sys).is_some_and(|it| it.work.ptr_eq(work)) {
        sys.wq.log(
            sys,
            format!("workqueue: {what} on the running work {:#x} would deadlock", work.addr()),
        );
        return Err(IrqError::WrongContext(what));
    }
    Ok(())
}

impl IrqSystem {
    /// `flush_work`: waits for the last queueing instance of `work` to finish.
    /// `Ok(true)` if it waited, `Ok(false)` if the work was idle. `WrongContext` from
    /// atomic context or from the work itself.
    pub fn flush_work(&self, task: &Task, work: &Work) -> Result<bool, IrqError> {
        self.might_sleep("flush_work")?;
        check_not_self(self, work, "flush_work")?;
        let target = work.0.nr_queued.load(Ordering::SeqCst);
        if seq_ge(work.0.nr_done.load(Ordering::SeqCst), target) {
            return Ok(false);
        }
        wait_done(self, task, work, target)?;
        Ok(true)
    }

    /// `flush_delayed_work`: an armed timer is cancelled and the work queued at once;
    /// then `flush_work`.
    pub fn flush_delayed_work(&self, task: &Task, dwork: &DelayedWork) -> Result<bool, IrqError> {
        self.might_sleep("flush_delayed_work")?;
        check_not_self(self, dwork.work(), "flush_delayed_work")?;
        let flags = self.local_irq_save();
        if dwork.timer().del(self) && super::delayed::queue_now(self, &dwork.0).is_err() {
            dwork.work().clear_pending();
        }
        self.local_irq_restore(flags);
        self.flush_work(task, dwork.work())
    }

    /// `flush_workqueue`: waits for every work queued before the call to finish;
    /// later ones are not waited for. `WrongContext` from a work of `wq` itself.
    pub fn flush_workqueue(&self, task: &Task, wq: &Workqueue) -> Result<(), IrqError> {
        self.might_sleep("flush_workqueue")?;
        if super::api::current_item(self).is_some_and(|it| it.wq.is(&wq.0)) {
            self.wq.log(self, format!("workqueue: flush of {} from its own work", wq.0.name));
            return Err(IrqError::WrongContext("flush_workqueue from its own work"));
        }
        // Works queued from now on take the next colour; wait for this one and older.
        let color = wq.0.flush_color.fetch_add(1, Ordering::SeqCst);
        wq.0.flushers.fetch_add(1, Ordering::SeqCst);
        let r = wq.0.flush_wait.wait_event(self, task, || wq.0.flushed_upto(self, color));
        wq.0.flushers.fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// `drain_workqueue`: flushes until the workqueue is empty; meanwhile only its
    /// own works may queue to it (others get `Busy`).
    pub fn drain_workqueue(&self, task: &Task, wq: &Workqueue) -> Result<(), IrqError> {
        self.might_sleep("drain_workqueue")?;
        wq.0.state.fetch_or(DRAINING, Ordering::AcqRel);
        let mut tries = 0u32;
        let r = loop {
            if let Err(e) = self.flush_workqueue(task, wq) {
                break Err(e);
            }
            if wq.0.idle(self) {
                break Ok(());
            }
            tries += 1;
            if tries == 10 || (tries.is_multiple_of(100) && tries <= 1000) {
                self.wq.log(
                    self,
                    format!(
                        "workqueue {}: drain_workqueue() isn't complete after {tries} tries",
                        wq.0.name
                    ),
                );
            }
        };
        wq.0.state.fetch_and(!DRAINING, Ordering::AcqRel);
        r
    }

    /// `cancel_work`: removes a queued instance; `true` iff the work was pending. Does
    /// not wait for a running instance. Any context.
    pub fn cancel_work(&self, work: &Work) -> bool {
        let flags = self.local_irq_save();
        let was = grab_pending(self, work);
        work.clear_pending();
        self.local_irq_restore(flags);
        was
    }

    /// `cancel_delayed_work`: as [`IrqSystem::cancel_work`], also disarming the timer.
    pub fn cancel_delayed_work(&self, dwork: &DelayedWork) -> bool {
        self.cancel_work(dwork.work())
    }

    /// `cancel_work_sync`: cancels and waits until no instance runs. `Ok(true)` iff
    /// the work was pending, `Ok(false)` if it was idle or only running. Queue
    /// attempts meanwhile fail (the work is disabled for the duration).
    pub fn cancel_work_sync(&self, task: &Task, work: &Work) -> Result<bool, IrqError> {
        self.might_sleep("cancel_work_sync")?;
        check_not_self(self, work, "cancel_work_sync")?;
        let (was, target) = cancel_disabled(self, work);
        let r = if !seq_ge(work.0.nr_done.load(Ordering::SeqCst), target) {
            wait_done(self, task, work, target)
        } else {
            Ok(())
        };
        work.enable();
        r.map(|_| was)
    }

    /// `cancel_delayed_work_sync`.
    pub fn cancel_delayed_work_sync(
        &self,
        task: &Task,
        dwork: &DelayedWork,
    ) -> Result<bool, IrqError> {
        self.cancel_work_sync(task, dwork.work())
    }

    /// `disable_work`: cancels like [`IrqSystem::cancel_work`] and leaves the work
    /// disabled: queue attempts return `Ok(false)` until [`IrqSystem::enable_work`].
    /// Returns whether it was pending; `Busy` (and no change) at 65535 levels.
    pub fn disable_work(&self, work: &Work) -> Result<bool, IrqError> {
        if work.0.data.load(Ordering::Acquire) >> 16 == 0xffff {
            self.wq
                .log(self, alloc::string::String::from("workqueue: work disable count overflowed"));
            return Err(IrqError::Busy("work disable count overflowed"));
        }
        work.disable();
        Ok(self.cancel_work(work))
    }

    /// `disable_work_sync`: [`IrqSystem::disable_work`] that also waits until no
    /// instance runs.
    pub fn disable_work_sync(&self, task: &Task, work: &Work) -> Result<bool, IrqError> {
        self.might_sleep("disable_work_sync")?;
        check_not_self(self, work, "disable_work_sync")?;
        let was = self.disable_work(work)?;
        let target = work.0.nr_queued.load(Ordering::SeqCst);
        if !seq_ge(work.0.nr_done.load(Ordering::SeqCst), target) {
            wait_done(self, task, work, target)?;
        }
        Ok(was)
    }

    /// `enable_work`: drops one disable level; true iff the work is enabled again.
    /// Enabling a work that is not disabled is `InvalidArgument` (Linux WARNs).
    pub fn enable_work(&self, work: &Work) -> Result<bool, IrqError> {
        let mut cur = work.0.data.load(Ordering::Acquire);
        loop {
            if cur >> 16 == 0 {
                self.wq.log(
                    self,
                    alloc::string::String::from("workqueue: work disable count underflowed"),
                );
                return Err(IrqError::InvalidArgument("work disable count underflowed"));
            }
            let new = cur - super::work::DISABLE_ONE;
            match work.0.data.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(new >> 16 == 0),
                Err(v) => cur = v,
            }
        }
    }

    /// `enable_and_queue_work`: queues only if this enable made the work enabled.
    pub fn enable_and_queue_work(&self, wq: &Workqueue, work: &Work) -> Result<bool, IrqError> {
        if self.enable_work(work)? {
            self.queue_work(wq, work)
        } else {
            Ok(false)
        }
    }
}
