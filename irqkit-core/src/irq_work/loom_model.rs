//! loom model of irq_work claim/queue/run: a producer (an NMI, say) queueing twice races the
//! CPU's irq_work_run. Every successful claim must be followed by exactly one run,
//! and the item must end free.
use super::llist::{Llist, LlistNode};
use super::{claim, run_single};
use crate::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use alloc::sync::Arc;

struct W {
    next: AtomicPtr<W>,
    flags: AtomicU32,
    runs: AtomicU32,
}
// SAFETY: `next` is the node's own link word.
unsafe impl LlistNode for W {
    fn llist_next(&self) -> &AtomicPtr<W> {
        &self.next
    }
}

fn run(l: &Llist<W>) {
    for x in l.take_all() {
        run_single(&x.flags, || {
            x.runs.fetch_add(1, Ordering::Relaxed);
        });
    }
}

#[test]
fn claim_queue_run_loses_nothing_and_runs_nothing_twice() {
    loom::model(|| {
        let w = Arc::new(W {
            next: AtomicPtr::new(core::ptr::null_mut()),
            flags: AtomicU32::new(0),
            runs: AtomicU32::new(0),
        });
        let list = Arc::new(Llist::new());
        let claims = Arc::new(AtomicU32::new(0));
        let (w2, l2, c2) = (w.clone(), list.clone(), claims.clone());
        let th = loom::thread::spawn(move || {
            for _ in 0..2 {
                if claim(&w2.flags).is_some() {
                    c2.fetch_add(1, Ordering::Relaxed);
                    // SAFETY: the claim proves it is on no list.
                    unsafe { l2.push(w2.clone()) };
                }
            }
        });
        run(&list);
        th.join().unwrap();
        run(&list);
        assert_eq!(w.runs.load(Ordering::Relaxed), claims.load(Ordering::Relaxed));
        assert_eq!(w.flags.load(Ordering::Relaxed), 0);
    });
}
