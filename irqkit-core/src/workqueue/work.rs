//! Work items: `Work` (a function plus the PENDING bit) and `DelayedWork`; `BhWork` is in `bh_work.rs`.
//!
//! `work->data` in Linux packs PENDING, INACTIVE, PWQ and the off-queue pool id into
//! one word. Here the word keeps PENDING, the BH kind and the disable depth (the
//! things claimed or checked lock-free); the "on a list" bit and the last pool live
//! beside it and change only under the owning pool's lock.
//!
//! # Task works and BH works
//!
//! Linux runs any `work_struct` wherever its workqueue runs it, so a function written
//! for a sleeping worker can end up in softirq context on a `WQ_BH` workqueue. irqkit
//! makes the context part of the item's type: a [`Work`] function receives `&Task`
//! and only ever runs in a kworker; a [`BhWork`](super::BhWork) function receives `&SoftIrq` and only
//! ever runs in a BH pool. The kind is a bit of the data word (Linux has the same
//! bit off-queue, `WORK_OFFQ_BH`), and queueing checks it against the workqueue:
//! a task work on a `WQ_BH` workqueue, or a BH work on a threaded one, is refused
//! with `InvalidArgument` before PENDING is touched.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};

use core::fmt;

use super::Workqueue;
use crate::cpu::{CpuId, SoftIrq, Task};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{LineArc, SpinLockIrq};
use crate::timer::Timer;
use crate::IrqSystem;

/// `WORK_STRUCT_PENDING`: queued, or a delayed work's timer is armed.
pub(crate) const PENDING: u32 = 1;
/// The item is a [`BhWork`](super::BhWork) (set at creation, never changes): Linux's `WORK_OFFQ_BH`.
pub(crate) const BH: u32 = 2;
/// One level of `disable_work` depth (depth lives above the flag bits).
pub(crate) const DISABLE_ONE: u32 = 1 << 16;
/// No pool yet (Linux's all-ones pool id, less the [`QUEUED`] bit).
pub(crate) const NO_POOL: u32 = !QUEUED;
/// In the pool word: the work is on one of its pool's lists.
const QUEUED: u32 = 1 << 31;

/// What [`Work::claim_pending_as`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This caller set PENDING and must queue the work.
    Owned,
    /// Already pending (this queueing is covered by that instance), or disabled.
    Busy,
    /// The work is of the other kind (task versus BH): nothing was changed.
    WrongKind,
}

/// The function a work runs: system, the work itself (so it may requeue), task token.
pub type WorkFn = dyn Fn(&IrqSystem, &Work, &Task) + Send + Sync;

/// The context an item runs in, as its executor proves it.
#[derive(Clone, Copy)]
pub(crate) enum WorkCtx<'a> {
    /// A kworker or rescuer thread.
    Task(&'a Task),
    /// A BH pool, in softirq context.
    Bh(&'a SoftIrq),
}

/// What the item stores: one indirect call taking the context; the public
/// constructors wrap the caller's typed function so it only runs in its own context.
pub(crate) type StoredFn = dyn Fn(&IrqSystem, &Work, WorkCtx<'_>) + Send + Sync;

pub(crate) struct WorkInner {
    /// PENDING bit and disable depth: claimed with atomic read-modify-write.
    pub(crate) data: AtomicU32,
    /// The pool it is queued on or last ran in (`NO_POOL` before the first
    /// queueing), with [`QUEUED`] set while it is on a worklist, an inactive list or
    /// a worker's scheduled list (the PWQ bit): one word, written only under that
    /// pool's lock, so an idle work fits 64 bytes with its handle.
    pool_word: AtomicU32,
    /// Queueing instances so far, less the cancelled ones; and instances finished.
    /// `flush_work` waits until `done` catches up with the `queued` it saw.
    /// Both wrap (32 bits keep an idle work at 64 bytes); compare with [`seq_ge`].
    pub(crate) nr_queued: AtomicU32,
    pub(crate) nr_done: AtomicU32,
    func: Box<StoredFn>,
    /// The delayed work this work belongs to, for cancel to find the timer.
    pub(crate) dwork: Option<Weak<DelayedInner>>,
}

/// `a >= b` for wrapping instance counters (as `time_after_eq` compares jiffies).
pub(crate) fn seq_ge(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) as i32 >= 0
}

/// Bytes of a work item's shared block (its count and state, not the boxed
/// function's captures): for the bytes-per-idle-item figure of the benchmark. The
/// block is cache-line aligned ([`LineArc`]), so it never spans two lines.
pub fn work_block_size() -> usize {
    LineArc::<WorkInner>::block_size()
}

/// A work item (`struct work_struct`): cheap to clone; every clone is the same work.
///
/// The shared block sits alone on one cache line ([`LineArc`]): the queueing CPU
/// claims PENDING, counts the instance and takes a handle for the item, and the
/// worker clears PENDING, runs the function and drops the handle, each side in
/// one line transfer.
#[derive(Clone)]
pub struct Work(pub(crate) LineArc<WorkInner>);

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Work({:#x}, pending {})", self.addr(), self.is_pending())
    }
}

impl Work {
    /// `INIT_WORK`: an idle work running `func`.
    pub fn new(func: impl Fn(&IrqSystem, &Work, &Task) + Send + Sync + 'static) -> Self {
        Self::build(0, task_fn(func), None)
    }

    pub(crate) fn build(kind: u32, func: Box<StoredFn>, dwork: Option<Weak<DelayedInner>>) -> Self {
        Work(LineArc::new(WorkInner {
            data: AtomicU32::new(kind),
            pool_word: AtomicU32::new(NO_POOL),
            nr_queued: AtomicU32::new(0),
            nr_done: AtomicU32::new(0),
            func,
            dwork,
        }))
    }

    /// `work_pending`: PENDING is set (queued, or its delayed timer is armed).
    pub fn is_pending(&self) -> bool {
        self.0.data.load(Ordering::Acquire) & PENDING != 0
    }

    /// True if both handles name the same work.
    pub fn ptr_eq(&self, other: &Work) -> bool {
        LineArc::ptr_eq(&self.0, &other.0)
    }

    /// The work's identity (its address), as the busy hash keys on it.
    pub fn addr(&self) -> usize {
        LineArc::as_ptr(&self.0) as usize
    }

    /// True for the work inside a [`BhWork`](super::BhWork).
    pub fn is_bh(&self) -> bool {
        self.0.data.load(Ordering::Relaxed) & BH != 0
    }

    pub(crate) fn call(&self, sys: &IrqSystem, ctx: WorkCtx<'_>) {
        (self.0.func)(sys, self, ctx)
    }

    /// The test-and-set of `queue_work_on`: true if this caller now owns PENDING. A
    /// disabled work is left as it is and reports false.
    pub(crate) fn try_claim_pending(&self) -> bool {
        let kind = self.0.data.load(Ordering::Relaxed) & BH;
        matches!(self.claim_pending_as(kind), Claim::Owned)
    }

    /// `queue_work_on`'s test-and-set for a workqueue that runs works of `kind` (0
    /// or [`BH`]), with the kind check folded in: a work of the other kind, or a
    /// disabled one, is left untouched.
    pub(crate) fn claim_pending_as(&self, kind: u32) -> Claim {
        // The first touch of the work's line is the exchange itself, guessing the
        // idle value of the expected kind: it fetches the line for writing at once,
        // where a load first would fetch it shared from the CPU that last ran the
        // work and then once more to write.
        match self.0.data.compare_exchange(
            kind,
            kind | PENDING,
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Claim::Owned,
            Err(cur) if cur & BH != kind => return Claim::WrongKind,
            Err(cur) if cur >> 16 != 0 => return Claim::Busy,
            Err(_) => {}
        }
        // PENDING was set. Set it again, as Linux's test_and_set_bit does, rather
        // than report a failed exchange: this write joins the bit's order, so the
        // worker's clear before the pending run acquires it and that run sees what
        // the caller stored before queueing (a failed exchange publishes nothing).
        // It also claims the work if the clear came in between.
        let old = self.0.data.fetch_or(PENDING, Ordering::AcqRel);
        if old & PENDING != 0 {
            return Claim::Busy;
        }
        if old >> 16 != 0 {
            self.0.data.fetch_and(!PENDING, Ordering::Release);
            return Claim::Busy;
        }
        Claim::Owned
    }

    /// Claims PENDING whatever the disable depth (cancel/mod grab it this way).
    pub(crate) fn claim_pending_raw(&self) -> bool {
        self.0.data.fetch_or(PENDING, Ordering::AcqRel) & PENDING == 0
    }

    /// Clears PENDING. Acquire: the run that follows sees every store made before
    /// a queueing that found PENDING set and so was folded into this instance
    /// (Linux's `smp_mb` in `set_work_pool_and_clear_pending`).
    pub(crate) fn clear_pending(&self) {
        self.0.data.fetch_and(!PENDING, Ordering::AcqRel);
    }

    pub(crate) fn disable(&self) {
        self.0.data.fetch_add(DISABLE_ONE, Ordering::AcqRel);
    }

    pub(crate) fn enable(&self) {
        self.0.data.fetch_sub(DISABLE_ONE, Ordering::AcqRel);
    }

    /// The pool it is queued on or last ran in; `NO_POOL` before its first queueing.
    pub(crate) fn last_pool(&self) -> u32 {
        self.0.pool_word.load(Ordering::Acquire) & !QUEUED
    }

    /// True while it is on a list of [`Work::last_pool`] (not running, not idle).
    pub(crate) fn is_queued(&self) -> bool {
        self.0.pool_word.load(Ordering::Acquire) & QUEUED != 0
    }

    /// Records it queued on (`queued`) or taken off the lists of pool `pool_id`.
    /// Call with that pool's lock held. Pool ids stay below the QUEUED bit.
    pub(crate) fn set_pool(&self, pool_id: u32, queued: bool) {
        let q = if queued { QUEUED } else { 0 };
        self.0.pool_word.store((pool_id & !QUEUED) | q, Ordering::Release);
    }

    /// Taken off its pool's lists (cancel grabbed it), keeping the pool id.
    pub(crate) fn clear_queued(&self) {
        let pid = self.last_pool();
        self.set_pool(pid, false);
    }

    /// The delayed work owning this work, if any.
    pub(crate) fn delayed(&self) -> Option<Arc<DelayedInner>> {
        self.0.dwork.as_ref().and_then(|w| w.upgrade())
    }
}

pub(crate) struct DelayedInner {
    pub(crate) work: Work,
    pub(crate) timer: Timer,
    /// Where the expiring timer queues the work: (workqueue, cpu or None = unbound).
    pub(crate) target: SpinLockIrq<Option<(Workqueue, Option<CpuId>)>>,
}

/// A delayed work (`struct delayed_work`): a work plus a timer that queues it.
#[derive(Clone)]
pub struct DelayedWork(pub(crate) Arc<DelayedInner>);

impl fmt::Debug for DelayedWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DelayedWork({:?}, timer {:?})", self.0.work, self.0.timer)
    }
}

impl DelayedWork {
    /// `INIT_DELAYED_WORK`: an idle delayed work running `func`.
    pub fn new(func: impl Fn(&IrqSystem, &Work, &Task) + Send + Sync + 'static) -> Self {
        Self::with_kind(0, task_fn(func))
    }

    /// A delayed work of `kind` (task or BH) whose work runs `func`.
    pub(crate) fn with_kind(kind: u32, func: Box<StoredFn>) -> Self {
        let inner = Arc::new_cyclic(|me: &Weak<DelayedInner>| {
            let work = Work::build(kind, func, Some(me.clone()));
            let me = me.clone();
            DelayedInner {
                work,
                timer: Timer::new(move |sys, _t, _ctx| {
                    if let Some(d) = me.upgrade() {
                        super::delayed::delayed_work_timer_fn(sys, &d);
                    }
                }),
                target: SpinLockIrq::new(None),
            }
        });
        DelayedWork(inner)
    }

    /// The embedded work (`&dwork->work`).
    pub fn work(&self) -> &Work {
        &self.0.work
    }

    /// The timer (`&dwork->timer`).
    pub fn timer(&self) -> &Timer {
        &self.0.timer
    }
}

/// Wraps a task-context function: it is called only with a task token.
fn task_fn(f: impl Fn(&IrqSystem, &Work, &Task) + Send + Sync + 'static) -> Box<StoredFn> {
    Box::new(move |sys, w, ctx| {
        if let WorkCtx::Task(t) = ctx {
            f(sys, w, t)
        }
    })
}

// Plain unit tests: loom's atomics only work inside a loom model.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn instance_counters_compare_across_wrap() {
        assert!(seq_ge(5, 5) && seq_ge(6, 5) && !seq_ge(4, 5));
        assert!(seq_ge(1, u32::MAX), "1 comes after u32::MAX once wrapped");
        assert!(!seq_ge(u32::MAX, 1));
    }

    #[test]
    fn an_idle_work_fits_in_64_bytes() {
        // The handle plus the block (its count and the shared state), which
        // must fit the one cache line it is aligned to.
        let handle = core::mem::size_of::<Work>();
        assert!(work_block_size() <= crate::sync::LINE);
        assert!(handle + work_block_size() <= 64);
        let w = Work::new(|_, _, _| {});
        assert_eq!((w.addr() - core::mem::size_of::<usize>()) % crate::sync::LINE, 0);
    }

    #[test]
    fn the_pool_word_keeps_id_and_queued_apart() {
        let w = Work::new(|_, _, _| {});
        assert_eq!(w.last_pool(), NO_POOL);
        assert!(!w.is_queued());
        w.set_pool(7, true);
        assert!(w.is_queued() && w.last_pool() == 7);
        w.clear_queued();
        assert!(!w.is_queued() && w.last_pool() == 7);
    }
}
