//! Queue nodes whose user handles are counted in the node's state word, so putting a
//! node on a queue takes no reference and the last handle hands an in-flight node to
//! whoever runs it.
//!
//! # Why not `Arc`
//!
//! A queued `Arc` costs two atomic read-modify-writes per queue/run cycle (the clone
//! on push, the drop after the run) on paths where Linux pays none: `tasklet_schedule`
//! and `irq_work_queue` put a *borrowed* node on a list and the caller promises to
//! keep it alive (`tasklet_kill`, `irq_work_sync`). Here the promise is kept by the
//! node itself: its 64-bit state word holds the protocol bits in the low half and the
//! number of user handles in the high half. Because one word holds both, "the last
//! handle went away" and "the node left its list / its callback returned" are ordered
//! by the word's modification order, and exactly one side frees the node:
//!
//! - dropping the last handle frees the node if none of its in-flight bits is set;
//!   otherwise the node is now owned by the list or runner that holds it;
//! - a runner whose read-modify-write clears the last in-flight bit frees the node if
//!   the word it replaced said "no users" ([`release_if_unowned`]).

use alloc::boxed::Box;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use crate::sync::atomic::{AtomicU64, Ordering};

/// One user handle in a counted node's state word.
pub(crate) const USER_ONE: u64 = 1 << 32;

/// The user-handle count in a state word.
#[inline]
pub(crate) const fn users(word: u64) -> u64 {
    word >> 32
}

/// A node whose state word carries its user count in the high 32 bits.
///
/// # Safety
///
/// `word` must always return the same atomic, every transition that sets or clears
/// an [`CountedNode::IN_FLIGHT`] bit must be a read-modify-write of that word, and a
/// node with an in-flight bit set must stay reachable by whoever will clear it.
pub(crate) unsafe trait CountedNode: Sized {
    /// Bits meaning "on a list or running": while one is set, a list or runner holds
    /// the node and the last handle's drop leaves it alone.
    const IN_FLIGHT: u64;
    /// Bits set while the node sits on a list (cleared when a list is torn down).
    const LISTED: u64;
    /// The state word (protocol bits low, user count high).
    fn word(&self) -> &AtomicU64;
}

/// A counted user handle on a heap node; clones share the node.
pub(crate) struct NodeRef<T: CountedNode> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: a NodeRef only hands out `&T`; sharing it across threads is sharing `&T`.
unsafe impl<T: CountedNode + Send + Sync> Send for NodeRef<T> {}
// SAFETY: as above.
unsafe impl<T: CountedNode + Send + Sync> Sync for NodeRef<T> {}

impl<T: CountedNode> NodeRef<T> {
    /// Boxes `node` and returns its first handle; its word's user half must be zero.
    pub(crate) fn new(node: T) -> Self {
        debug_assert_eq!(users(node.word().load(Ordering::Relaxed)), 0);
        node.word().fetch_add(USER_ONE, Ordering::Relaxed);
        NodeRef { ptr: NonNull::from(Box::leak(Box::new(node))), _owns: PhantomData }
    }

    /// The node.
    #[inline]
    pub(crate) fn get(&self) -> &T {
        // SAFETY: a live handle is counted in the word, so the node is not freed.
        unsafe { self.ptr.as_ref() }
    }

    /// The node's address, for putting it on a list without a reference.
    #[inline]
    pub(crate) fn as_ptr(&self) -> NonNull<T> {
        self.ptr
    }

    /// A handle that is not counted and never drops, for passing `&Handle` to a
    /// callback that runs the node.
    ///
    /// # Safety
    ///
    /// `ptr` must be a node that has an in-flight bit set for as long as the result
    /// lives (cloning the result takes a real, counted handle).
    #[inline]
    pub(crate) unsafe fn borrowed(ptr: NonNull<T>) -> ManuallyDrop<Self> {
        ManuallyDrop::new(NodeRef { ptr, _owns: PhantomData })
    }

    /// True if both handles name the same node.
    #[inline]
    pub(crate) fn ptr_eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<T: CountedNode> Clone for NodeRef<T> {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed as for `Arc`: the new handle is made from a live one, so the node
        // cannot be freed meanwhile. From a borrowed handle the count may go 0 -> 1;
        // the runner then sees a user when it clears its in-flight bit and keeps it.
        self.get().word().fetch_add(USER_ONE, Ordering::Relaxed);
        NodeRef { ptr: self.ptr, _owns: PhantomData }
    }
}

impl<T: CountedNode> Drop for NodeRef<T> {
    #[inline]
    fn drop(&mut self) {
        let old = self.get().word().fetch_sub(USER_ONE, Ordering::AcqRel);
        if users(old) == 1 && old & T::IN_FLIGHT == 0 {
            // SAFETY: the last handle of a node no list or runner holds: nobody else
            // can reach it, and it came from `Box::leak` in `new`.
            unsafe { drop(Box::from_raw(self.ptr.as_ptr())) };
        }
    }
}

/// Frees `ptr` if `old` — the word a runner's read-modify-write just replaced, that
/// write clearing `cleared` — says the write left the node with no user and nothing
/// in flight. Returns whether it freed.
///
/// # Safety
///
/// The caller must hold `ptr` in flight up to that write and not touch it afterwards.
#[inline]
pub(crate) unsafe fn release_if_unowned<T: CountedNode>(
    ptr: NonNull<T>,
    old: u64,
    cleared: u64,
) -> bool {
    let new = old & !cleared;
    if users(new) == 0 && new & T::IN_FLIGHT == 0 {
        // SAFETY: no handle is left and the caller gave up the last in-flight bit: it
        // was the only holder. The node came from `Box::leak` in `NodeRef::new`.
        unsafe { drop(Box::from_raw(ptr.as_ptr())) };
        return true;
    }
    false
}

/// Takes a listed node off the books without running it (a list torn down with its
/// system, a chain dropped by a panic): clears its listed and in-flight bits and frees
/// it if no handle is left. A handle that remains may queue it again.
///
/// # Safety
///
/// As for [`release_if_unowned`].
pub(crate) unsafe fn abandon<T: CountedNode>(ptr: NonNull<T>) {
    let bits = T::LISTED | T::IN_FLIGHT;
    // SAFETY: the caller holds the node in flight until this write.
    let old = unsafe { ptr.as_ref() }.word().fetch_and(!bits, Ordering::AcqRel);
    // SAFETY: forwarded from the caller.
    unsafe { release_if_unowned(ptr, old, bits) };
}
