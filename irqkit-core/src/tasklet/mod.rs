//! Tasklets: serialized-per-item softirq callbacks on per-CPU lists (kernel/softirq.c).
//!
//! # Model
//!
//! A [`Tasklet`] has two state bits: SCHED (queued) and RUN (its callback executes on
//! some CPU), plus a disable depth kept in the same atomic word (Linux uses a second
//! word; one word lets a single RMW order "disabled?" against "running?", which the
//! loom model showed two words need full barriers for). `schedule` sets SCHED; only the caller that flipped
//! it from clear to set appends the tasklet to its CPU's list and raises
//! TASKLET_SOFTIRQ (HI_SOFTIRQ for [`Tasklet::hi_schedule`]). The softirq action takes
//! the whole list and, for each tasklet in FIFO order, sets RUN; if RUN was already set
//! (running on another CPU) or the tasklet is disabled, it goes back on the list and
//! the vector is re-raised. Otherwise SCHED is cleared *before* the callback runs, so
//! a schedule during the callback makes it run once more later. Hence seed 002's
//! guarantees: at least one run after a schedule, one run for several schedules that
//! precede it, never on two CPUs at once.
//!
//! The per-CPU lists are FIFOs that only their CPU touches, with interrupts masked,
//! as Linux's are (`queue.rs`); unlike in Linux a tasklet may also be scheduled from
//! NMI context, onto a lock-less side list that the action splices in.
//!
//! Waiting calls need task context, so they do not compile from a handler:
//!
//! ```compile_fail
//! use irqkit_core::tasklet::Tasklet;
//! use irqkit_core::{HardIrq, IrqSystem};
//! fn handler(sys: &IrqSystem, t: &Tasklet, ctx: &HardIrq) {
//!     t.kill(sys, ctx).unwrap(); // error: expected `&Task`, found `&HardIrq`
//! }
//! ```

mod action;
mod control;
#[cfg(all(test, loom))]
mod loom_model;
mod queue;
mod schedule;
mod state;

use alloc::boxed::Box;
use core::fmt;
use core::ptr;

use crate::cpu::{PerCpu, SoftIrq};
use crate::irq_work::llist::LlistNode;
use crate::softirq::{SoftirqAction, SoftirqVec, Softirqs};
use crate::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use crate::sync::counted::{CountedNode, NodeRef};
use crossbeam_utils::atomic::AtomicCell;

use queue::CpuQueue;
pub(crate) use state::{action_step, disable_nosync, enable, sched_claim, Step};
use state::{disable_depth, COUNT_SHIFT, STATE_BITS};
pub use state::{TASKLET_STATE_RUN, TASKLET_STATE_SCHED};

type TaskletFn = dyn Fn(&SoftIrq) + Send + Sync;

/// The shared part of a [`Tasklet`]; what the per-CPU lists link.
pub(crate) struct TaskletInner {
    next: AtomicPtr<TaskletInner>,
    /// SCHED, RUN and (from bit 2) the disable depth.
    /// SCHED, RUN and the disable depth low; the number of handles high.
    state: AtomicU64,
    func: Box<TaskletFn>,
}

// SAFETY: SCHED and RUN change only by RMWs on `state`; a tasklet with SCHED set is on
// a list (or held by `kill`, which has a handle), one with RUN set is in its runner.
unsafe impl CountedNode for TaskletInner {
    const IN_FLIGHT: u64 = STATE_BITS as u64;
    const LISTED: u64 = TASKLET_STATE_SCHED as u64;
    fn word(&self) -> &AtomicU64 {
        &self.state
    }
}

// SAFETY: `next` is the tasklet's own link word, used only by the lists.
unsafe impl LlistNode for TaskletInner {
    fn llist_next(&self) -> &AtomicPtr<Self> {
        &self.next
    }
}

/// A tasklet (`struct tasklet_struct`): cheap to clone; every clone is the same tasklet.
#[derive(Clone)]
pub struct Tasklet(NodeRef<TaskletInner>);

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
        Tasklet(NodeRef::new(TaskletInner {
            next: AtomicPtr::new(ptr::null_mut()),
            state: AtomicU64::new((count as u64) << COUNT_SHIFT),
            func,
        }))
    }

    /// The state bits ([`TASKLET_STATE_SCHED`], [`TASKLET_STATE_RUN`]).
    pub fn state(&self) -> u32 {
        self.0.get().state.load(Ordering::Acquire) as u32 & STATE_BITS
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
        disable_depth(self.0.get().state.load(Ordering::Acquire))
    }

    /// True if both handles name the same tasklet.
    pub fn ptr_eq(&self, other: &Tasklet) -> bool {
        self.0.ptr_eq(&other.0)
    }
}

/// One CPU's tasklet lists (`tasklet_vec`, `tasklet_hi_vec`).
pub(crate) struct TaskletCpu {
    normal: CpuQueue<TaskletInner>,
    hi: CpuQueue<TaskletInner>,
}

impl TaskletCpu {
    fn list(&self, vec: SoftirqVec) -> &CpuQueue<TaskletInner> {
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
    /// BH workqueue pools run first by each action (`bh_worker` in Linux): [hi, normal].
    bh_work: [AtomicCell<Option<SoftirqAction>>; 2],
}

impl TaskletLists {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        TaskletLists {
            cpus: PerCpu::new(nr_cpus, |_| TaskletCpu {
                normal: CpuQueue::new(),
                hi: CpuQueue::new(),
            }),
            bh_work: [AtomicCell::new(None), AtomicCell::new(None)],
        }
    }
}

impl crate::IrqSystem {
    /// Installs the BH workqueue runner that HI_SOFTIRQ (`vec` = `Hi`, the highpri
    /// pool) or TASKLET_SOFTIRQ (`vec` = `Tasklet`) calls before its tasklets, as
    /// Linux's tasklet actions run `WQ_BH` pools first. One per vector: `Busy` if set,
    /// `InvalidArgument` for other vectors.
    pub fn set_bh_workqueue_runner(
        &self,
        vec: SoftirqVec,
        runner: SoftirqAction,
    ) -> Result<(), crate::IrqError> {
        let slot = match vec {
            SoftirqVec::Hi => &self.tasklets.bh_work[0],
            SoftirqVec::Tasklet => &self.tasklets.bh_work[1],
            _ => return Err(crate::IrqError::InvalidArgument("BH workqueues use HI or TASKLET")),
        };
        slot.compare_exchange(None, Some(runner))
            .map(|_| ())
            .map_err(|_| crate::IrqError::Busy("BH workqueue runner already set"))
    }
}

/// Installs the HI and TASKLET softirq actions (`softirq_init`).
pub(crate) fn install_softirqs(softirq: &Softirqs) {
    softirq.install(SoftirqVec::Hi, action::tasklet_hi_action);
    softirq.install(SoftirqVec::Tasklet, action::tasklet_action);
}
