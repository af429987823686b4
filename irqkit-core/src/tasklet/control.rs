//! Disabling, enabling and killing tasklets, and waiting for a running callback.

use super::{Tasklet, TASKLET_STATE_RUN, TASKLET_STATE_SCHED};
use crate::cpu::Task;
use crate::softirq::BhWarning;
use crate::sync::atomic::{spin_hint, Ordering};
use crate::{IrqError, IrqSystem};

impl Tasklet {
    /// `tasklet_disable_nosync`: raises the disable depth; a callback already running
    /// may still be running on return.
    pub fn disable_nosync(&self) {
        super::disable_nosync(&self.0.get().state);
    }

    /// `tasklet_disable`: raises the disable depth and waits until the callback is not
    /// running. May sleep: needs task context (checked before anything changes).
    pub fn disable(&self, sys: &IrqSystem, task: &Task) -> Result<(), IrqError> {
        sys.might_sleep("tasklet_disable")?;
        self.disable_nosync();
        self.unlock_wait(sys, task)
    }

    /// `tasklet_disable_in_atomic`: as [`Tasklet::disable`] but spins instead of
    /// sleeping. Calling it from the tasklet's own callback would spin forever.
    pub fn disable_in_atomic(&self) {
        self.disable_nosync();
        while self.0.get().state.load(Ordering::Acquire) & TASKLET_STATE_RUN as u64 != 0 {
            spin_hint();
        }
    }

    /// `tasklet_enable`: lowers the disable depth. Enabling an enabled tasklet is a
    /// bug Linux only WARNs about; here the depth stays 0, the warning is counted and
    /// the call returns `InvalidArgument`.
    pub fn enable(&self, sys: &IrqSystem) -> Result<(), IrqError> {
        if super::enable(&self.0.get().state) {
            Ok(())
        } else {
            sys.softirq.warn(BhWarning::TaskletEnableUnderflow);
            Err(IrqError::InvalidArgument("tasklet_enable of an enabled tasklet"))
        }
    }

    /// `tasklet_unlock_wait`: waits until the callback is not running on any CPU.
    /// May sleep: needs task context.
    pub fn unlock_wait(&self, sys: &IrqSystem, task: &Task) -> Result<(), IrqError> {
        sys.might_sleep("tasklet_unlock_wait")?;
        while self.0.get().state.load(Ordering::Acquire) & TASKLET_STATE_RUN as u64 != 0 {
            sys.bh_wait_step(task);
        }
        Ok(())
    }

    /// `tasklet_kill`: waits for a queued run to happen and a running callback to end,
    /// leaving the tasklet neither queued nor running. From interrupt (or any atomic)
    /// context: `WrongContext`, nothing changed. Killing a scheduled but disabled
    /// tasklet waits until someone enables it, as in Linux.
    pub fn kill(&self, sys: &IrqSystem, task: &Task) -> Result<(), IrqError> {
        if sys.with_this_cpu(|c| c.in_interrupt()).unwrap_or(false) {
            sys.softirq.warn(BhWarning::TaskletKillFromInterrupt);
            return Err(IrqError::WrongContext("tasklet_kill from interrupt"));
        }
        sys.might_sleep("tasklet_kill")?;
        // Owning SCHED blocks new schedules while we wait for RUN to clear.
        while self.0.get().state.fetch_or(TASKLET_STATE_SCHED as u64, Ordering::AcqRel)
            & TASKLET_STATE_SCHED as u64
            != 0
        {
            while self.0.get().state.load(Ordering::Acquire) & TASKLET_STATE_SCHED as u64 != 0 {
                sys.bh_wait_step(task);
            }
        }
        let r = self.unlock_wait(sys, task);
        self.0.get().state.fetch_and(!(TASKLET_STATE_SCHED as u64), Ordering::Release);
        r
    }
}

impl IrqSystem {
    /// `tasklet_kill` in Linux's spelling.
    pub fn tasklet_kill(&self, t: &Tasklet, task: &Task) -> Result<(), IrqError> {
        t.kill(self, task)
    }
}
