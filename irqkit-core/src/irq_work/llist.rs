//! A lock-less list of borrowed counted nodes (`include/linux/llist.h`): push from any
//! context, detach everything at once.
//!
//! Many producers (`push`, one CAS loop) and one consumer (`take_all`, one swap) need
//! no lock, so an NMI may push onto the list of the very CPU it interrupted. There is
//! no single-node pop, hence no ABA problem. As in Linux the list takes no reference:
//! a node may sit on at most one list at a time, which its users (irq_work's PENDING
//! bit, a tasklet's SCHED bit) guarantee by claiming it first, and the claim's
//! in-flight bit keeps it alive ([`crate::sync::counted`]).

use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::sync::atomic::{AtomicPtr, Ordering};
use crate::sync::counted::{abandon, CountedNode};

/// A type that can sit on an [`Llist`]: it owns one link word.
///
/// # Safety
///
/// `llist_next` must always return the same field, used for nothing else.
pub unsafe trait LlistNode: CountedNode {
    /// The node's link word.
    fn llist_next(&self) -> &AtomicPtr<Self>;
}

/// The list head (`struct llist_head`).
pub struct Llist<T: LlistNode> {
    first: AtomicPtr<T>,
    _holds: PhantomData<NonNull<T>>,
}

// SAFETY: the list only holds addresses of nodes that are themselves shareable.
unsafe impl<T: LlistNode + Send + Sync> Send for Llist<T> {}
// SAFETY: as above; every access goes through the atomic head.
unsafe impl<T: LlistNode + Send + Sync> Sync for Llist<T> {}

impl<T: LlistNode> Default for Llist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: LlistNode> Llist<T> {
    /// An empty list.
    pub fn new() -> Self {
        Llist { first: AtomicPtr::new(ptr::null_mut()), _holds: PhantomData }
    }

    /// `llist_add`: pushes `node`; true if the list was empty before.
    ///
    /// # Safety
    ///
    /// The caller must have claimed `node` (set its listed and in-flight bits from
    /// clear), so it is alive and on no list, and hands the list that claim.
    #[inline]
    pub unsafe fn push(&self, node: NonNull<T>) -> bool {
        let new = node.as_ptr();
        let mut first = self.first.load(Ordering::Relaxed);
        loop {
            // SAFETY: the claim keeps the node alive, and nobody else reads its link
            // until the CAS below publishes it.
            unsafe { (*new).llist_next().store(first, Ordering::Relaxed) };
            match self.first.compare_exchange_weak(first, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return first.is_null(),
                Err(f) => first = f,
            }
        }
    }

    /// `llist_del_all`: detaches every node, newest first.
    #[inline]
    pub fn take_all(&self) -> LlChain<T> {
        LlChain { head: self.first.swap(ptr::null_mut(), Ordering::Acquire), _holds: PhantomData }
    }

    /// True if no node is queued (a racy snapshot, as `llist_empty`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.first.load(Ordering::Relaxed).is_null()
    }
}

impl<T: LlistNode> Drop for Llist<T> {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}

/// A detached chain; iterating hands out each node's claim in turn.
pub struct LlChain<T: LlistNode> {
    head: *mut T,
    _holds: PhantomData<NonNull<T>>,
}

impl<T: LlistNode> LlChain<T> {
    /// A chain of the nodes linked from `head` (null: empty).
    ///
    /// # Safety
    ///
    /// Every node linked from `head` is claimed, on no list, and its claim passes to
    /// the chain.
    #[inline]
    pub(crate) unsafe fn from_raw(head: *mut T) -> Self {
        LlChain { head, _holds: PhantomData }
    }

    /// `llist_reverse_order`: oldest first.
    pub fn reverse(mut self) -> Self {
        let mut prev = ptr::null_mut();
        let mut cur = core::mem::replace(&mut self.head, ptr::null_mut());
        while !cur.is_null() {
            // SAFETY: every node on a detached chain is claimed (alive), and no one
            // else touches a detached node's link word.
            let next = unsafe { (*cur).llist_next().load(Ordering::Relaxed) };
            // SAFETY: as above.
            unsafe { (*cur).llist_next().store(prev, Ordering::Relaxed) };
            prev = cur;
            cur = next;
        }
        self.head = prev;
        self
    }
}

impl<T: LlistNode> Iterator for LlChain<T> {
    type Item = NonNull<T>;

    /// The next node, whose claim passes to the caller.
    #[inline]
    fn next(&mut self) -> Option<NonNull<T>> {
        let cur = NonNull::new(self.head)?;
        // SAFETY: the chain holds `cur`'s claim; its link is read *before* the node is
        // handed out, because the receiver may queue it again and overwrite the link.
        self.head = unsafe { cur.as_ref().llist_next().load(Ordering::Relaxed) };
        Some(cur)
    }
}

impl<T: LlistNode> LlChain<T> {
    /// Gives back the claims of the nodes nobody took.
    #[cold]
    #[inline(never)]
    fn abandon_rest(&mut self) {
        for n in self.by_ref() {
            // SAFETY: the chain held this node's claim and hands it over here.
            unsafe { abandon(n) };
        }
    }
}

impl<T: LlistNode> Drop for LlChain<T> {
    #[inline]
    fn drop(&mut self) {
        // Only a torn-down list or a panicking runner leaves nodes here: give the
        // claims back so the nodes are freed or can be queued again. A fully run
        // chain (every action) pays one test, not a call.
        if !self.head.is_null() {
            self.abandon_rest();
        }
    }
}

#[cfg(test)]
pub(crate) mod test_node {
    //! A minimal counted node for the list's own tests and models.
    use super::*;
    use crate::sync::atomic::AtomicU64;
    use crate::sync::counted::{CountedNode, NodeRef};

    /// Listed (and so in flight).
    pub(crate) const QUEUED: u64 = 1;

    pub(crate) struct N {
        next: AtomicPtr<N>,
        word: AtomicU64,
        pub(crate) v: u32,
    }
    // SAFETY: `word` is the node's own state word; QUEUED changes only by RMW.
    unsafe impl CountedNode for N {
        const IN_FLIGHT: u64 = QUEUED;
        const LISTED: u64 = QUEUED;
        fn word(&self) -> &AtomicU64 {
            &self.word
        }
    }
    // SAFETY: `next` is the node's own link word.
    unsafe impl LlistNode for N {
        fn llist_next(&self) -> &AtomicPtr<N> {
            &self.next
        }
    }

    pub(crate) fn n(v: u32) -> NodeRef<N> {
        NodeRef::new(N { next: AtomicPtr::new(ptr::null_mut()), word: AtomicU64::new(0), v })
    }

    /// Claims and pushes `x`; false if it was already queued.
    pub(crate) fn queue(l: &Llist<N>, x: &NodeRef<N>) -> bool {
        if x.get().word().fetch_or(QUEUED, Ordering::AcqRel) & QUEUED != 0 {
            return false;
        }
        // SAFETY: just claimed.
        unsafe { l.push(x.as_ptr()) };
        true
    }

    /// Claims `x` for a push (it must not be queued already).
    pub(crate) fn claim(x: &NodeRef<N>) -> NonNull<N> {
        let old = x.get().word().fetch_or(QUEUED, Ordering::AcqRel);
        assert_eq!(old & QUEUED, 0, "claimed twice");
        x.as_ptr()
    }

    /// Runs a detached node: reads its value and gives the claim back.
    pub(crate) fn consume(p: NonNull<N>) -> u32 {
        // SAFETY: the caller got `p`'s claim from a chain.
        let v = unsafe { p.as_ref() }.v;
        // SAFETY: as above; nothing touches `p` after this.
        unsafe {
            let old = p.as_ref().word().fetch_and(!QUEUED, Ordering::AcqRel);
            crate::sync::counted::release_if_unowned(p, old, QUEUED);
        }
        v
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::test_node::{consume, n, queue};
    use super::*;
    use crate::sync::counted::users;

    #[test]
    fn push_reports_empty_and_take_all_is_lifo_reverse_is_fifo() {
        let l = Llist::new();
        let (a, b, c) = (n(1), n(2), n(3));
        assert!(l.is_empty());
        assert!(queue(&l, &a));
        assert!(!queue(&l, &a), "a claimed node is not queued twice");
        assert!(queue(&l, &b));
        assert!(queue(&l, &c));
        let v: alloc::vec::Vec<u32> = l.take_all().map(consume).collect();
        assert_eq!(v, [3, 2, 1]);
        assert!(l.is_empty());
        queue(&l, &a);
        queue(&l, &b);
        let v: alloc::vec::Vec<u32> = l.take_all().reverse().map(consume).collect();
        assert_eq!(v, [1, 2]);
    }

    #[test]
    fn a_node_whose_last_handle_drops_while_listed_is_freed_by_its_consumer() {
        let l = Llist::new();
        let a = n(7);
        let keep = a.clone();
        queue(&l, &a);
        drop(a);
        assert_eq!(users(keep.get().word().load(Ordering::Relaxed)), 1);
        drop(keep);
        // The list now owns the node; consuming it frees it (Miri/ASan would flag a
        // leak or a double free here).
        let v: alloc::vec::Vec<u32> = l.take_all().map(consume).collect();
        assert_eq!(v, [7]);
    }

    #[test]
    fn dropping_lists_and_chains_gives_claims_back() {
        let a = n(1);
        let l = Llist::new();
        queue(&l, &a);
        queue(&l, &n(2)); // handle dropped at once: the list owns that node
        drop(l.take_all());
        assert_eq!(a.get().word().load(Ordering::Relaxed), crate::sync::counted::USER_ONE);
        assert!(queue(&l, &a), "a given-back node can be queued again");
        drop(l);
        assert_eq!(a.get().word().load(Ordering::Relaxed), crate::sync::counted::USER_ONE);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! Two producers queue while the consumer detaches: every node comes out exactly
    //! once; a producer dropping its handle at once leaves the node to the consumer.
    use super::test_node::{consume, n, queue};
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn concurrent_push_and_take_all_lose_and_duplicate_nothing() {
        loom::model(|| {
            let l = Arc::new(Llist::new());
            let ths: alloc::vec::Vec<_> = (0..2)
                .map(|v| {
                    let l = l.clone();
                    loom::thread::spawn(move || {
                        assert!(queue(&l, &n(1 << v)));
                    })
                })
                .collect();
            let mut seen: u32 = l.take_all().map(consume).sum();
            for t in ths {
                t.join().unwrap();
            }
            seen += l.take_all().map(consume).sum::<u32>();
            assert_eq!(seen, 3);
        });
    }
}
