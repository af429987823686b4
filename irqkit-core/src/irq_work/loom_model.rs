//! loom models of irq_work claim/queue/run: a producer (an NMI, say) queueing races the
//! CPU's irq_work_run. Every successful claim is followed by exactly one run, the item
//! ends free, and an item whose last handle is dropped while queued is freed exactly
//! once, by its runner.
use super::llist::{Llist, LlistNode};
use super::{claim, run_single, IRQ_WORK_BUSY, IRQ_WORK_PENDING};
use crate::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::sync::counted::{release_if_unowned, CountedNode, NodeRef};
use loom::sync::Arc;

struct W {
    next: AtomicPtr<W>,
    flags: AtomicU64,
    runs: Arc<AtomicU32>,
    frees: Arc<AtomicU32>,
}
impl Drop for W {
    fn drop(&mut self) {
        self.frees.fetch_add(1, Ordering::Relaxed);
    }
}
// SAFETY: as for IrqWorkInner.
unsafe impl CountedNode for W {
    const IN_FLIGHT: u64 = IRQ_WORK_BUSY as u64;
    const LISTED: u64 = IRQ_WORK_PENDING as u64;
    fn word(&self) -> &AtomicU64 {
        &self.flags
    }
}
// SAFETY: `next` is the node's own link word.
unsafe impl LlistNode for W {
    fn llist_next(&self) -> &AtomicPtr<W> {
        &self.next
    }
}

fn item(runs: &Arc<AtomicU32>, frees: &Arc<AtomicU32>) -> NodeRef<W> {
    NodeRef::new(W {
        next: AtomicPtr::new(core::ptr::null_mut()),
        flags: AtomicU64::new(0),
        runs: runs.clone(),
        frees: frees.clone(),
    })
}

fn queue(l: &Llist<W>, w: &NodeRef<W>) -> bool {
    if claim(&w.get().flags).is_none() {
        return false;
    }
    // SAFETY: the claim proves it is on no list.
    unsafe { l.push(w.as_ptr()) };
    true
}

fn run(l: &Llist<W>) {
    for p in l.take_all() {
        // SAFETY: the chain handed over the claim: the item is BUSY, hence alive.
        let w = unsafe { p.as_ref() };
        let runs = w.runs.clone();
        if let Some(old) = run_single(&w.flags, || {
            runs.fetch_add(1, Ordering::Relaxed);
        }) {
            // SAFETY: BUSY was just cleared by us; `w` is not used after this.
            unsafe { release_if_unowned(p, old, IRQ_WORK_BUSY as u64) };
        }
    }
}

#[test]
fn claim_queue_run_loses_nothing_and_runs_nothing_twice() {
    loom::model(|| {
        let (runs, frees) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let w = item(&runs, &frees);
        let list = Arc::new(Llist::new());
        let claims = Arc::new(AtomicU32::new(0));
        let (w2, l2, c2) = (w.clone(), list.clone(), claims.clone());
        let th = loom::thread::spawn(move || {
            for _ in 0..2 {
                if queue(&l2, &w2) {
                    c2.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        run(&list);
        th.join().unwrap();
        run(&list);
        assert_eq!(runs.load(Ordering::Relaxed), claims.load(Ordering::Relaxed));
        assert_eq!(w.get().flags.load(Ordering::Relaxed) as u32, 0);
        drop(w);
        assert_eq!(frees.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn last_handle_dropped_while_queued_is_run_once_and_freed_once() {
    loom::model(|| {
        let (runs, frees) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let list = Arc::new(Llist::new());
        let w = item(&runs, &frees);
        let keep = w.clone();
        let l2 = list.clone();
        let th = loom::thread::spawn(move || {
            assert!(queue(&l2, &w));
            drop(w);
        });
        drop(keep);
        run(&list);
        th.join().unwrap();
        run(&list);
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        assert_eq!(frees.load(Ordering::Relaxed), 1);
    });
}
