//! What a kernel thread is made from: its id, scheduling class, affinity, lifecycle
//! state, and the creation spec (`KthreadSpec`).

use alloc::string::String;
use alloc::sync::Arc;

use crate::cpu::{CpuId, CpuMask};

use super::SchedHooks;

/// A kernel thread's id, unique within one `IrqSystem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub u64);

/// Scheduling class and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_FIFO` with a priority 1..=99 (higher runs first).
    Fifo(u8),
    /// `SCHED_NORMAL` with a nice value -20..=19.
    Normal(i8),
    /// The per-CPU idle thread: runs only when nothing else can.
    Idle,
}

impl Policy {
    /// A rank for comparisons: FIFO 100+prio, normal 1, idle 0.
    pub(crate) fn rank(&self) -> u32 {
        match self {
            Policy::Fifo(p) => 100 + *p as u32,
            Policy::Normal(_) => 1,
            Policy::Idle => 0,
        }
    }

    /// The CFS load weight of a nice value (kernel/sched/core.c `sched_prio_to_weight`
    /// is a 1.25× step per nice level; 1024 at nice 0).
    pub fn weight(&self) -> u32 {
        const W: [u32; 40] = [
            88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100,
            4904, 3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172,
            137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
        ];
        match self {
            Policy::Normal(n) => W[(*n as i32 + 20).clamp(0, 39) as usize],
            _ => 1024,
        }
    }
}

/// Where a thread may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    /// Bound to one CPU (per-CPU kthreads: ksoftirqd, bound kworkers).
    Bound(CpuId),
    /// Any online CPU of the mask.
    Unbound(CpuMask),
}

/// Lifecycle state of a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// Created, not yet woken for the first time.
    New = 0,
    /// Running or runnable.
    Runnable = 1,
    /// Blocked: off every run queue until woken.
    Sleeping = 2,
    /// Finished; will never run again.
    Dead = 3,
}

impl ThreadState {
    pub(super) fn from_u8(v: u8) -> Self {
        match v {
            0 => ThreadState::New,
            1 => ThreadState::Runnable,
            2 => ThreadState::Sleeping,
            _ => ThreadState::Dead,
        }
    }
}

/// What to create: name, class, affinity, optional scheduler hooks.
#[derive(Clone)]
pub struct KthreadSpec {
    /// Linux-style name (`ksoftirqd/0`, `irq/33-eth0`); at most 15 bytes are shown by
    /// the host's `ps`, the full name by irqkit's views.
    pub name: String,
    /// Scheduling class.
    pub policy: Policy,
    /// Where it may run.
    pub affinity: Affinity,
    /// Sleep/run notifications (workqueue workers).
    pub hooks: Option<Arc<dyn SchedHooks>>,
}

impl KthreadSpec {
    /// A normal-class (nice 0) thread bound to `cpu`.
    pub fn bound(name: impl Into<String>, cpu: CpuId) -> Self {
        KthreadSpec {
            name: name.into(),
            policy: Policy::Normal(0),
            affinity: Affinity::Bound(cpu),
            hooks: None,
        }
    }

    /// Sets the scheduling class.
    pub fn policy(mut self, p: Policy) -> Self {
        self.policy = p;
        self
    }
}
