//! Kernel-thread scheduling: per-CPU run queues, FIFO above normal, wait queues.
//!
//! # Model
//!
//! Every CPU has a [`RunQueue`] holding its runnable kernel threads and the thread
//! currently running (`curr`), plus an idle thread that runs when nothing else can.
//! Two classes, as in Linux: `SCHED_FIFO` priorities 1–99 (irq threads run at 50)
//! always beat the normal class; normal threads share the CPU round-robin with
//! time slices weighted by nice. A waking thread that outranks `curr` sets
//! `need_resched`; the switch happens at the next preemption point: interrupt exit,
//! `preempt_enable`, or a voluntary `schedule`.
//!
//! The core decides *what* runs; [`crate::Platform::switch_to`] makes it run (a futex
//! handoff between OS threads hosted, a stack switch on bare metal).

mod core;
mod hooks;
mod kthread;
mod runqueue;
mod spec;
mod thread;
mod wait;
mod wake;

pub use self::core::Scheduler;
pub use hooks::SchedHooks;
pub use runqueue::{RunQueue, RunQueueStats};
pub use spec::{Affinity, KthreadSpec, Policy, ThreadId, ThreadState};
pub use thread::Thread;
pub use wait::WaitQueue;
