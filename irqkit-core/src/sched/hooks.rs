//! Scheduler hooks: let a subsystem learn when one of its threads sleeps or runs again.
//!
//! The workqueue's concurrency management uses them the way Linux uses
//! `wq_worker_sleeping` / `wq_worker_running`.

use super::Thread;

/// Callbacks attached to a kernel thread at creation.
pub trait SchedHooks: Send + Sync {
    /// `thread` is about to block. Called in its own context, before the switch, with
    /// preemption disabled; may wake other threads.
    fn sleeping(&self, thread: &Thread);
    /// `thread` runs again after having blocked. Called in its own context.
    fn running(&self, thread: &Thread);
    /// The tick found `thread` running (Linux's `scheduler_tick` → `wq_worker_tick`).
    /// Called in hard-interrupt context on the thread's own CPU, with the thread
    /// interrupted, so the callee may read state only that thread writes.
    fn tick(&self, _thread: &Thread) {}
}
