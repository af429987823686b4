//! A lock-less list of `Arc` nodes (`include/linux/llist.h`): push from any context,
//! detach everything at once.
//!
//! Many producers (`push`, one CAS loop) and one consumer (`take_all`, one swap) need
//! no lock, so an NMI may push onto the list of the very CPU it interrupted. There is
//! no single-node pop, hence no ABA problem. The list owns one strong reference per
//! node it holds; a node may sit on at most one list at a time, which the users
//! (irq_work's PENDING bit, a tasklet's SCHED bit) guarantee by claiming it first.

use alloc::sync::Arc;
use core::marker::PhantomData;
use core::ptr;

use crate::sync::atomic::{AtomicPtr, Ordering};

/// A node that can sit on an [`Llist`]: it embeds the link word.
///
/// # Safety
///
/// `llist_next` must always return the same word, owned by this node and touched by
/// nothing but the list code.
pub unsafe trait LlistNode: Sized {
    /// The node's link word, used only while the node is on a list.
    fn llist_next(&self) -> &AtomicPtr<Self>;
}

/// The head of a lock-less list (`struct llist_head`).
pub struct Llist<T: LlistNode> {
    first: AtomicPtr<T>,
    _owns: PhantomData<Arc<T>>,
}

impl<T: LlistNode> Default for Llist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: LlistNode> Llist<T> {
    /// An empty list.
    pub fn new() -> Self {
        Llist { first: AtomicPtr::new(ptr::null_mut()), _owns: PhantomData }
    }

    /// `llist_add`: pushes `node`; returns true if the list was empty before. Lock-free
    /// and allocation-free.
    ///
    /// # Safety
    ///
    /// `node` must be on no list and in no undrained [`LlChain`]: the users prove it
    /// with a claim bit (irq_work's PENDING, a tasklet's SCHED) or by pushing a node
    /// just handed out by a chain.
    #[inline]
    pub unsafe fn push(&self, node: Arc<T>) -> bool {
        let new = Arc::into_raw(node).cast_mut();
        let mut first = self.first.load(Ordering::Relaxed);
        loop {
            // SAFETY: `new` came from `Arc::into_raw` above; the list now owns that
            // strong reference, so the node is alive, and nobody else reads its link
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
        LlChain { head: self.first.swap(ptr::null_mut(), Ordering::Acquire), _owns: PhantomData }
    }

    /// True if the list holds no node (a racy snapshot).
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

/// Nodes detached from an [`Llist`]; iterating hands out the list's references.
pub struct LlChain<T: LlistNode> {
    head: *mut T,
    _owns: PhantomData<Arc<T>>,
}

impl<T: LlistNode> LlChain<T> {
    /// `llist_reverse_order`: oldest first (FIFO), for users that need queue order.
    pub fn reverse(mut self) -> Self {
        let mut prev = ptr::null_mut();
        let mut cur = core::mem::replace(&mut self.head, ptr::null_mut());
        while !cur.is_null() {
            // SAFETY: the chain owns every node on it (detached by `take_all`), and no
            // one else touches a detached node's link word.
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
    type Item = Arc<T>;

    #[inline]
    fn next(&mut self) -> Option<Arc<T>> {
        if self.head.is_null() {
            return None;
        }
        let cur = self.head;
        // SAFETY: the chain owns `cur`; its link is read *before* the node is handed
        // out, because the receiver may queue it again and overwrite the link.
        self.head = unsafe { (*cur).llist_next().load(Ordering::Relaxed) };
        // SAFETY: `cur` came from `Arc::into_raw` in `push`; this returns that reference.
        Some(unsafe { Arc::from_raw(cur) })
    }
}

impl<T: LlistNode> Drop for LlChain<T> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct N {
        next: AtomicPtr<N>,
        v: u32,
    }
    // SAFETY: `next` is the node's own link word.
    unsafe impl LlistNode for N {
        fn llist_next(&self) -> &AtomicPtr<N> {
            &self.next
        }
    }
    fn n(v: u32) -> Arc<N> {
        Arc::new(N { next: AtomicPtr::new(ptr::null_mut()), v })
    }

    #[test]
    fn push_reports_empty_and_take_all_is_lifo_reverse_is_fifo() {
        let l = Llist::new();
        // SAFETY (all pushes in these tests): each node is fresh or just handed out.
        unsafe {
            assert!(l.push(n(1)));
            assert!(!l.push(n(2)));
            assert!(!l.push(n(3)));
        }
        let v: alloc::vec::Vec<u32> = l.take_all().map(|x| x.v).collect();
        assert_eq!(v, [3, 2, 1]);
        assert!(l.is_empty());
        unsafe {
            l.push(n(1));
            l.push(n(2));
        }
        let v: alloc::vec::Vec<u32> = l.take_all().reverse().map(|x| x.v).collect();
        assert_eq!(v, [1, 2]);
    }

    #[test]
    fn dropping_lists_and_chains_releases_nodes() {
        let a = n(1);
        let l = Llist::new();
        unsafe {
            l.push(a.clone());
            l.push(n(2));
        }
        let c = l.take_all();
        assert_eq!(Arc::strong_count(&a), 2);
        drop(c);
        assert_eq!(Arc::strong_count(&a), 1);
        unsafe { l.push(a.clone()) };
        drop(l);
        assert_eq!(Arc::strong_count(&a), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! Two producers push while the consumer detaches: every node comes out exactly once.
    use super::*;

    struct N {
        next: AtomicPtr<N>,
        v: u32,
    }
    // SAFETY: `next` is the node's own link word.
    unsafe impl LlistNode for N {
        fn llist_next(&self) -> &AtomicPtr<N> {
            &self.next
        }
    }

    #[test]
    fn concurrent_push_and_take_all_lose_and_duplicate_nothing() {
        loom::model(|| {
            let l = Arc::new(Llist::new());
            let ths: alloc::vec::Vec<_> = (0..2)
                .map(|v| {
                    let l = l.clone();
                    loom::thread::spawn(move || {
                        let node = Arc::new(N { next: AtomicPtr::new(ptr::null_mut()), v: 1 << v });
                        // SAFETY: a fresh node.
                        unsafe { l.push(node) };
                    })
                })
                .collect();
            let mut seen: u32 = l.take_all().map(|n| n.v).sum();
            for t in ths {
                t.join().unwrap();
            }
            seen += l.take_all().map(|n| n.v).sum::<u32>();
            assert_eq!(seen, 3);
        });
    }
}
