//! loom model of the tasklet state machine: a schedule on one CPU racing the action on
//! another CPU that already has the tasklet queued. Checks: one run per successful
//! schedule, never two callbacks at once.

use super::{action_step, disable_nosync, sched_claim, Step};
use crate::irq_work::llist::{Llist, LlistNode};
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use alloc::sync::Arc;

struct T {
    next: AtomicPtr<T>,
    state: AtomicU32,
    runs: AtomicU32,
    in_cb: AtomicBool,
}

// SAFETY: `next` is the node's own link word.
unsafe impl LlistNode for T {
    fn llist_next(&self) -> &AtomicPtr<T> {
        &self.next
    }
}

fn run_list(l: &Llist<T>) {
    for x in l.take_all().reverse() {
        let step = action_step(&x.state, || {
            assert!(!x.in_cb.swap(true, Ordering::SeqCst), "tasklet ran on two CPUs");
            x.runs.fetch_add(1, Ordering::Relaxed);
            x.in_cb.store(false, Ordering::SeqCst);
        });
        if step == Step::Requeue {
            // SAFETY: just handed out by the chain.
            unsafe { l.push(x) };
        }
    }
}

#[test]
fn schedule_racing_action_runs_once_per_schedule_and_never_twice_at_once() {
    loom::model(|| {
        let t = Arc::new(T {
            next: AtomicPtr::new(core::ptr::null_mut()),
            state: AtomicU32::new(0),
            runs: AtomicU32::new(0),
            in_cb: AtomicBool::new(false),
        });
        let cpu_a = Arc::new(Llist::new());
        let cpu_b = Arc::new(Llist::new());
        let claims = Arc::new(AtomicU32::new(0));
        assert!(sched_claim(&t.state));
        claims.fetch_add(1, Ordering::Relaxed);
        // SAFETY (pushes below): each follows a successful SCHED claim.
        unsafe { cpu_b.push(t.clone()) };

        let (t2, a2, c2) = (t.clone(), cpu_a.clone(), claims.clone());
        let th = loom::thread::spawn(move || {
            if sched_claim(&t2.state) {
                c2.fetch_add(1, Ordering::Relaxed);
                unsafe { a2.push(t2.clone()) };
            }
            run_list(&a2);
        });
        run_list(&cpu_b);
        th.join().unwrap();
        while !cpu_a.is_empty() || !cpu_b.is_empty() {
            run_list(&cpu_a);
            run_list(&cpu_b);
        }
        assert_eq!(t.runs.load(Ordering::Relaxed), claims.load(Ordering::Relaxed));
        assert_eq!(t.state.load(Ordering::Relaxed), 0);
    });
}

// tasklet_disable: once the disable depth is raised and RUN seen clear, the callback
// does not start until enable.
#[test]
fn disable_racing_action_never_lets_the_callback_start_after_it_returns() {
    loom::model(|| {
        let t = Arc::new(T {
            next: AtomicPtr::new(core::ptr::null_mut()),
            state: AtomicU32::new(0),
            runs: AtomicU32::new(0),
            in_cb: AtomicBool::new(false),
        });
        let disabled = Arc::new(AtomicBool::new(false));
        let list = Arc::new(Llist::new());
        assert!(sched_claim(&t.state));
        // SAFETY: follows the SCHED claim.
        unsafe { list.push(t.clone()) };
        let (t2, d2) = (t.clone(), disabled.clone());
        let th = loom::thread::spawn(move || {
            // tasklet_disable: disable_nosync, then unlock_wait's polling.
            disable_nosync(&t2.state);
            while t2.state.load(Ordering::Acquire) & super::TASKLET_STATE_RUN != 0 {
                loom::thread::yield_now();
            }
            d2.store(true, Ordering::SeqCst);
        });
        for x in list.take_all().reverse() {
            let step = action_step(&x.state, || {
                assert!(!disabled.load(Ordering::SeqCst), "ran after tasklet_disable returned");
            });
            if step == Step::Requeue {
                // SAFETY: just handed out by the chain.
                unsafe { list.push(x) };
            }
        }
        th.join().unwrap();
    });
}
