//! `WaitQueue`: sleep until a condition holds; wake one or all sleepers.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use super::Thread;
use crate::cpu::{CpuMask, Task};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};

/// A queue of sleeping kernel threads (Linux's `wait_queue_head_t`).
pub struct WaitQueue {
    waiters: SpinLockIrq<VecDeque<Arc<Thread>>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub fn new() -> Self {
        WaitQueue { waiters: SpinLockIrq::new(VecDeque::new()) }
    }

    /// `wait_event`: sleeps until `cond()` is true. `cond` runs with interrupts masked
    /// and must not block. Needs task context with preemption enabled.
    pub fn wait_event(
        &self,
        sys: &IrqSystem,
        _task: &Task,
        mut cond: impl FnMut() -> bool,
    ) -> Result<(), IrqError> {
        sys.might_sleep("wait_event")?;
        if cond() {
            return Ok(());
        }
        let me = sys.current_thread().ok_or(IrqError::WrongContext("wait_event off-cpu"))?;
        loop {
            {
                let mut q = self.waiters.lock_irqsave(sys);
                me.set_state(super::ThreadState::Sleeping);
                if !q.iter().any(|t| Arc::ptr_eq(t, &me)) {
                    q.push_back(me.clone());
                }
                if cond() {
                    me.set_state(super::ThreadState::Runnable);
                    q.retain(|t| !Arc::ptr_eq(t, &me));
                    return Ok(());
                }
            }
            sys.schedule();
        }
    }

    /// Wakes the longest sleeper; true if one was woken.
    pub fn wake_one(&self, sys: &IrqSystem) -> bool {
        loop {
            let t = self.waiters.lock_irqsave(sys).pop_front();
            match t {
                Some(t) => {
                    if sys.wake_up_process(&t) {
                        return true;
                    }
                }
                None => return false,
            }
        }
    }

    /// Wakes every sleeper; returns how many were woken.
    pub fn wake_all(&self, sys: &IrqSystem) -> usize {
        self.wake_all_with(sys, |t| sys.wake_up_process(t))
    }

    /// Wakes every sleeper with a placement hint (see
    /// [`IrqSystem::wake_up_process_prefer`]); returns how many were woken.
    pub fn wake_all_prefer(&self, sys: &IrqSystem, prefer: &CpuMask) -> usize {
        self.wake_all_with(sys, |t| sys.wake_up_process_prefer(t, prefer))
    }

    /// Takes every sleeper off the queue and wakes each with `wake`.
    fn wake_all_with(&self, sys: &IrqSystem, wake: impl Fn(&Arc<Thread>) -> bool) -> usize {
        let all: VecDeque<_> = core::mem::take(&mut *self.waiters.lock_irqsave(sys));
        all.iter().filter(|t| wake(t)).count()
    }

    /// True if nobody sleeps here.
    pub fn is_empty(&self, sys: &IrqSystem) -> bool {
        self.waiters.lock_irqsave(sys).is_empty()
    }
}
