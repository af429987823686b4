//! `msleep`: sleep a kernel thread for a number of milliseconds on the timer wheel.
//!
//! Linux's msleep arms a timer for `msecs_to_jiffies(ms) + 1` jiffies (the extra
//! jiffy guarantees at least `ms` elapse, kernel/time/sleep_timeout.c) and sleeps
//! until it fires. Here the sleeper also returns early when its thread is asked to
//! stop, so no kernel thread can hold up a machine shutdown.

use alloc::sync::Arc;

use super::Timer;
use crate::cpu::Task;
use crate::sched::WaitQueue;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::{IrqError, IrqSystem};

struct Sleeper {
    fired: AtomicBool,
    wq: WaitQueue,
}

/// `msleep(ms)`: sleeps at least `ms` milliseconds (rounded up to jiffies). Needs task
/// context; `WrongContext` otherwise. Returns early if the thread is being stopped.
pub fn msleep(sys: &IrqSystem, task: &Task, ms: u64) -> Result<(), IrqError> {
    sys.might_sleep("msleep")?;
    let me = sys.current_thread().ok_or(IrqError::WrongContext("msleep off a kernel thread"))?;
    let s = Arc::new(Sleeper { fired: AtomicBool::new(false), wq: WaitQueue::new() });
    let s2 = s.clone();
    let timer = Timer::new(move |sys, _t, _s| {
        s2.fired.store(true, Ordering::Release);
        s2.wq.wake_all(sys);
    });
    timer.add(sys, sys.jiffies() + sys.msecs_to_jiffies(ms) + 1)?;
    let r = s.wq.wait_event(sys, task, || s.fired.load(Ordering::Acquire) || me.should_stop());
    timer.del(sys);
    r
}
