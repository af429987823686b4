//! Scheduler hooks: let a subsystem learn when one of its threads sleeps or runs again.
//!
//! The workqueue's concurrency management uses them the way Linux uses
//! `wq_worker_sleeping` / `wq_worker_running`.

use super::Thread;
use crate::IrqSystem;

/// Callbacks attached to a kernel thread at creation. Each gets the system whose
/// scheduler calls it, so an implementation needs no handle of its own (upgrading
/// one would touch the system's shared reference count on every switch and tick).
pub trait SchedHooks: Send + Sync {
    /// `thread` is about to block. Called in its own context, before the switch, with
    /// preemption disabled; may wake other threads.
    fn sleeping(&self, sys: &IrqSystem, thread: &Thread);
    /// `thread` runs again after having blocked. Called in its own context.
    fn running(&self, sys: &IrqSystem, thread: &Thread);
    /// The tick found `thread` running (Linux's `scheduler_tick` → `wq_worker_tick`).
    /// Called in hard-interrupt context on the thread's own CPU, with the thread
    /// interrupted, so the callee may read state only that thread writes.
    fn tick(&self, _sys: &IrqSystem, _thread: &Thread) {}
}
