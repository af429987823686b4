//! One CPU's tasklet queue (`struct tasklet_head`): a FIFO only its own CPU touches,
//! with interrupts masked, plus a lock-less side list for schedules from NMI.
//!
//! Linux appends to `tasklet_head` with plain stores under `local_irq_save`: nothing
//! else on the CPU can run in between, and no other CPU looks at the list. irqkit
//! does the same (the words are atomics only so the type is `Sync`; `Relaxed` loads
//! and stores compile to plain moves), which saves the two locked instructions a
//! lock-less push and detach cost on every schedule → run. An NMI is the one thing
//! the mask does not hold off, so NMI schedules go to an [`Llist`] of their own that
//! the masked side splices in with one swap, only when it is non-empty (the same
//! split as the softirq pending word and its NMI twin).

use core::ptr::{self, NonNull};

use crate::irq_work::llist::{LlChain, Llist, LlistNode};
use crate::sync::atomic::{AtomicPtr, Ordering::Relaxed};

/// A per-CPU FIFO of claimed nodes, linked through their [`LlistNode`] word.
pub(crate) struct CpuQueue<T: LlistNode> {
    head: AtomicPtr<T>,
    /// The last node; meaningful only while `head` is non-null.
    tail: AtomicPtr<T>,
    nmi: Llist<T>,
}

impl<T: LlistNode> CpuQueue<T> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        CpuQueue {
            head: AtomicPtr::new(ptr::null_mut()),
            tail: AtomicPtr::new(ptr::null_mut()),
            nmi: Llist::new(),
        }
    }

    /// Appends `node` at the tail.
    ///
    /// # Safety
    ///
    /// The caller runs on the queue's CPU with interrupts masked (or owns the queue
    /// outright, as hotplug does a dead CPU's), and hands over `node`'s claim: the node
    /// is alive and on no list.
    #[inline]
    pub(crate) unsafe fn push_irqoff(&self, node: NonNull<T>) {
        let new = node.as_ptr();
        // SAFETY: the claim keeps the node alive and nobody else reads its link.
        unsafe { (*new).llist_next().store(ptr::null_mut(), Relaxed) };
        let tail = self.tail.load(Relaxed);
        if self.head.load(Relaxed).is_null() {
            self.head.store(new, Relaxed);
        } else {
            // SAFETY: a non-empty queue's tail is a claimed node it holds.
            unsafe { (*tail).llist_next().store(new, Relaxed) };
        }
        self.tail.store(new, Relaxed);
    }

    /// Pushes `node` from NMI context, which the interrupt mask does not hold off.
    ///
    /// # Safety
    ///
    /// As for [`Llist::push`]; the caller runs on the queue's CPU.
    #[inline]
    pub(crate) unsafe fn push_nmi(&self, node: NonNull<T>) {
        // SAFETY: forwarded from the caller.
        unsafe { self.nmi.push(node) };
    }

    /// True if nothing is queued (NMI side included).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Relaxed).is_null() && self.nmi.is_empty()
    }

    /// Detaches every queued node, oldest first; NMI-queued ones follow the others.
    ///
    /// # Safety
    ///
    /// As for [`CpuQueue::push_irqoff`]: on the queue's CPU with interrupts masked, or
    /// with the queue owned outright.
    #[inline]
    pub(crate) unsafe fn take_irqoff(&self) -> LlChain<T> {
        if !self.nmi.is_empty() {
            for n in self.nmi.take_all().reverse() {
                // SAFETY: forwarded from the caller; the chain handed over the claim.
                unsafe { self.push_irqoff(n) };
            }
        }
        let head = self.head.load(Relaxed);
        self.head.store(ptr::null_mut(), Relaxed);
        // SAFETY: every node linked from `head` is claimed, and detaching it here
        // hands those claims to the chain.
        unsafe { LlChain::from_raw(head) }
    }
}

impl<T: LlistNode> Drop for CpuQueue<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nothing else can reach the queue.
        drop(unsafe { self.take_irqoff() });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::irq_work::llist::test_node::{claim, consume, n};
    use crate::sync::counted::CountedNode;

    #[test]
    fn queue_is_fifo_and_nmi_schedules_follow() {
        let q = CpuQueue::new();
        let xs: alloc::vec::Vec<_> = (0..4).map(n).collect();
        // SAFETY: each node is claimed just before it is pushed, once.
        unsafe {
            q.push_irqoff(claim(&xs[0]));
            q.push_nmi(claim(&xs[3]));
            q.push_irqoff(claim(&xs[1]));
            q.push_irqoff(claim(&xs[2]));
        }
        assert!(!q.is_empty());
        // SAFETY: this test plays the queue's CPU.
        let order: alloc::vec::Vec<u32> = unsafe { q.take_irqoff() }.map(consume).collect();
        assert_eq!(order, [0, 1, 2, 3]);
        assert!(q.is_empty());
        // Reusable after a take: the tail of an empty queue is never followed.
        // SAFETY: as above.
        unsafe { q.push_irqoff(claim(&xs[2])) };
        // SAFETY: as above.
        let again: alloc::vec::Vec<u32> = unsafe { q.take_irqoff() }.map(consume).collect();
        assert_eq!(again, [2]);
    }

    #[test]
    fn dropping_a_queue_gives_the_claims_back() {
        let x = n(7);
        {
            let q = CpuQueue::new();
            // SAFETY: claimed just before.
            unsafe { q.push_irqoff(claim(&x)) };
        }
        let queued = crate::irq_work::llist::test_node::QUEUED;
        assert_eq!(x.get().word().load(Relaxed) & queued, 0, "claim abandoned, node reusable");
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use crate::irq_work::llist::test_node::{claim, consume, n};
    use loom::sync::Arc;

    // The CPU appends and detaches with plain stores while an NMI (the only thing its
    // mask does not hold off) pushes: both nodes come out, exactly once.
    #[test]
    fn nmi_push_racing_the_masked_queue_is_never_lost() {
        loom::model(|| {
            let q = Arc::new(CpuQueue::new());
            let (a, b) = (n(1), n(2));
            let (q2, b2) = (q.clone(), b.clone());
            // SAFETY: the spawned thread plays the NMI and pushes only to the NMI side.
            let nmi = loom::thread::spawn(move || unsafe { q2.push_nmi(claim(&b2)) });
            // SAFETY: this thread plays the CPU, masked.
            unsafe { q.push_irqoff(claim(&a)) };
            // SAFETY: as above.
            let mut seen: alloc::vec::Vec<u32> = unsafe { q.take_irqoff() }.map(consume).collect();
            nmi.join().unwrap();
            // SAFETY: as above.
            seen.extend(unsafe { q.take_irqoff() }.map(consume));
            seen.sort_unstable();
            assert_eq!(seen, [1, 2]);
        });
    }
}
