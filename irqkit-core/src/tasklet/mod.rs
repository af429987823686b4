//! Tasklets: serialized-per-item softirq callbacks on per-CPU lists (kernel/softirq.c).
//!
//! # Model
//!
//! A [`Tasklet`] has two state bits: SCHED (queued) and RUN (its callback executes on
//! some CPU), plus a disable depth. `schedule` sets SCHED; only the caller that flipped
//! it from clear to set appends the tasklet to its CPU's list and raises
//! TASKLET_SOFTIRQ (HI_SOFTIRQ for [`Tasklet::hi_schedule`]). The softirq action takes
//! the whole list and, for each tasklet in FIFO order, sets RUN; if RUN was already set
//! (running on another CPU) or the tasklet is disabled, it goes back on the list and
//! the vector is re-raised. Otherwise SCHED is cleared *before* the callback runs, so
//! a schedule during the callback makes it run once more later. Hence seed 002's
//! guarantees: at least one run after a schedule, one run for several schedules that
//! precede it, never on two CPUs at once.
//!
//! The per-CPU lists are lock-less (see [`crate::irq_work::llist`]), so — unlike in
//! Linux — a tasklet may be scheduled from NMI context too; the action reverses the
//! detached list to keep Linux's FIFO order.

mod action;
mod control;
#[cfg(all(test, loom))]
mod loom_model;
mod schedule;

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::ptr;

use crate::cpu::{PerCpu, SoftIrq};
use crate::irq_work::llist::{Llist, LlistNode};
use crate::softirq::{SoftirqVec, Softirqs};
use crate::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// Queued, waiting to run (`TASKLET_STATE_SCHED`).
pub const TASKLET_STATE_SCHED: u32 = 1 << 0;
/// The callback is executing on some CPU (`TASKLET_STATE_RUN`).
pub const TASKLET_STATE_RUN: u32 = 1 << 1;

type TaskletFn = dyn Fn(&SoftIrq) + Send + Sync;

/// The shared part of a [`Tasklet`]; what the per-CPU lists link.
pub struct TaskletInner {
    next: AtomicPtr<TaskletInner>,
    state: AtomicU32,
    count: AtomicU32,
    func: Box<TaskletFn>,
}

impl LlistNode for TaskletInner {
    fn llist_next(&self) -> &AtomicPtr<Self> {
        &self.next
    }
}

/// A tasklet (`struct tasklet_struct`): cheap to clone; every clone is the same tasklet.
#[derive(Clone)]
pub struct Tasklet(Arc<TaskletInner>);

impl fmt::Debug for Tasklet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tasklet(state {:#x}, count {})", self.state(), self.disable_count())
    }
}

impl Tasklet {
    /// `tasklet_setup`: an enabled, idle tasklet running `func` in softirq context.
    pub fn new(func: impl Fn(&SoftIrq) + Send + Sync + 'static) -> Self {
        Self::build(0, Box::new(func))
    }

    /// `DECLARE_TASKLET_DISABLED`: born disabled (depth 1); schedules queue it, but it
    /// runs only after [`Tasklet::enable`].
    pub fn new_disabled(func: impl Fn(&SoftIrq) + Send + Sync + 'static) -> Self {
        Self::build(1, Box::new(func))
    }

    fn build(count: u32, func: Box<TaskletFn>) -> Self {
        Tasklet(Arc::new(TaskletInner {
            next: AtomicPtr::new(ptr::null_mut()),
            state: AtomicU32::new(0),
            count: AtomicU32::new(count),
            func,
        }))
    }

    /// The state bits ([`TASKLET_STATE_SCHED`], [`TASKLET_STATE_RUN`]).
    pub fn state(&self) -> u32 {
        self.0.state.load(Ordering::Acquire)
    }

    /// True if queued and not yet started.
    pub fn is_scheduled(&self) -> bool {
        self.state() & TASKLET_STATE_SCHED != 0
    }

    /// True while the callback runs on some CPU.
    pub fn is_running(&self) -> bool {
        self.state() & TASKLET_STATE_RUN != 0
    }

    /// The disable depth (0 = enabled).
    pub fn disable_count(&self) -> u32 {
        self.0.count.load(Ordering::Acquire)
    }

    /// True if both handles name the same tasklet.
    pub fn ptr_eq(&self, other: &Tasklet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One CPU's tasklet lists (`tasklet_vec`, `tasklet_hi_vec`).
pub(crate) struct TaskletCpu {
    normal: Llist<TaskletInner>,
    hi: Llist<TaskletInner>,
}

impl TaskletCpu {
    fn list(&self, vec: SoftirqVec) -> &Llist<TaskletInner> {
        if vec == SoftirqVec::Hi {
            &self.hi
        } else {
            &self.normal
        }
    }
}

/// The tasklet state of one [`crate::IrqSystem`].
pub struct TaskletLists {
    cpus: PerCpu<TaskletCpu>,
}

impl TaskletLists {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        TaskletLists {
            cpus: PerCpu::new(nr_cpus, |_| TaskletCpu { normal: Llist::new(), hi: Llist::new() }),
        }
    }
}

/// Installs the HI and TASKLET softirq actions (`softirq_init`).
pub(crate) fn install_softirqs(softirq: &Softirqs) {
    softirq.install(SoftirqVec::Hi, action::tasklet_hi_action);
    softirq.install(SoftirqVec::Tasklet, action::tasklet_action);
}

/// The outcome of offering one listed tasklet to the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The callback ran.
    Ran,
    /// Running elsewhere or disabled: put it back and re-raise.
    Requeue,
    /// Listed without SCHED (a bug Linux WARNs about): dropped without a call.
    SchedNotSet,
}

/// The per-tasklet step of `tasklet_action_common`, on the raw state words so the loom
/// model checks exactly this code.
#[inline]
pub(crate) fn action_step(state: &AtomicU32, count: &AtomicU32, call: impl FnOnce()) -> Step {
    // tasklet_trylock: set RUN; if it was set, the tasklet runs on another CPU.
    if state.fetch_or(TASKLET_STATE_RUN, Ordering::Acquire) & TASKLET_STATE_RUN != 0 {
        return Step::Requeue;
    }
    if count.load(Ordering::Acquire) != 0 {
        state.fetch_and(!TASKLET_STATE_RUN, Ordering::Release);
        return Step::Requeue;
    }
    // Clear SCHED before the call: a schedule from now on queues it again.
    let step = if state.fetch_and(!TASKLET_STATE_SCHED, Ordering::AcqRel) & TASKLET_STATE_SCHED != 0
    {
        call();
        Step::Ran
    } else {
        Step::SchedNotSet
    };
    state.fetch_and(!TASKLET_STATE_RUN, Ordering::Release);
    step
}

/// `test_and_set_bit(TASKLET_STATE_SCHED)`: true if this caller made it scheduled.
#[inline]
pub(crate) fn sched_claim(state: &AtomicU32) -> bool {
    state.fetch_or(TASKLET_STATE_SCHED, Ordering::AcqRel) & TASKLET_STATE_SCHED == 0
}
