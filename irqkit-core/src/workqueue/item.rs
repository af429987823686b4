//! A queued instance of a work (`Item`) and the uncounted handle on its
//! workqueue that it carries (`WqRef`), with the rule that keeps that handle valid.

use alloc::sync::Arc;
use core::ptr::NonNull;

use super::pool::PoolInner;
use super::work::Work;
use super::WqInner;

/// One queueing instance of a work: the work, its workqueue and its flush color.
#[derive(Clone)]
pub(crate) struct Item {
    pub(crate) work: Work,
    pub(crate) wq: WqRef,
    /// `wq`'s id: how the pool finds the item's pwq without touching the workqueue.
    pub(crate) wq_id: u32,
    pub(crate) color: u64,
}

impl Item {
    /// An instance of `work` on `wq` with flush colour `color`.
    pub(crate) fn new(work: Work, wq: &Arc<WqInner>, color: u64) -> Self {
        Item { work, wq: WqRef(NonNull::from(&**wq)), wq_id: wq.id, color }
    }
}

/// An item's workqueue, held without a reference count: producers and workers
/// would otherwise update the one count every item of the workqueue shares (a
/// cache line bounced twice per item). What keeps the workqueue alive instead is
/// its pool_workqueue: every pool an item can reach holds a [`Pwq`](super::pwq::Pwq) with a counted
/// handle from before the first item is queued there until `destroy_workqueue`
/// has drained it. So an item that its pool's lock holder finds on the pool's
/// lists (or running) names a live workqueue; an item still on the incoming ring is
/// checked by id against the pwqs first (`insert_work`).
#[derive(Clone, Copy)]
pub(crate) struct WqRef(NonNull<WqInner>);

// SAFETY: a shared pointer to `WqInner`, which is `Sync`; dereferenced only under
// the rules of `WqRef::get`.
unsafe impl Send for WqRef {}
// SAFETY: as above.
unsafe impl Sync for WqRef {}

impl WqRef {
    /// True if this names `wq` (a pointer comparison; nothing is dereferenced).
    pub(crate) fn is(self, wq: &Arc<WqInner>) -> bool {
        core::ptr::eq(self.0.as_ptr(), Arc::as_ptr(wq))
    }

    /// The raw pointer, for a caller that holds a count of its own.
    pub(crate) fn as_ptr(self) -> *const WqInner {
        self.0.as_ptr()
    }

    /// The workqueue, for as long as the caller holds the lock of the pool whose
    /// lists hold this item or that runs it (the witness `_locked`).
    pub(crate) fn get(self, _locked: &PoolInner) -> &WqInner {
        // SAFETY: the item is on that pool's lists or current in it, so its pwq
        // there exists (items are inserted only where their pwq is, and a pwq is
        // removed only once nothing of its workqueue is in flight in the pool) and
        // holds a counted handle, which cannot go while the caller holds the lock.
        unsafe { self.0.as_ref() }
    }

    /// A counted handle, under the same rule as [`WqRef::get`].
    pub(crate) fn arc(self, locked: &PoolInner) -> Arc<WqInner> {
        let wq = self.get(locked);
        // SAFETY: `wq` is alive (see `get`) and was allocated by an `Arc`; the
        // count taken here is owned by the returned handle.
        unsafe {
            Arc::increment_strong_count(wq);
            Arc::from_raw(wq)
        }
    }
}
