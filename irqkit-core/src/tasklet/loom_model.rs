//! loom models of the tasklet state machine: a schedule on one CPU racing the action on
//! another CPU that already has the tasklet queued (one run per successful schedule,
//! never two callbacks at once); `tasklet_disable` racing the action; and the last
//! handle dropped while the tasklet is queued (run once, freed once, by the action).

use super::{action_step, disable_nosync, sched_claim, Step, TASKLET_STATE_RUN};
use super::{STATE_BITS, TASKLET_STATE_SCHED};
use crate::irq_work::llist::{Llist, LlistNode};
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::sync::counted::{release_if_unowned, CountedNode, NodeRef};
use loom::sync::Arc;

struct T {
    next: AtomicPtr<T>,
    state: AtomicU64,
    runs: Arc<AtomicU32>,
    frees: Arc<AtomicU32>,
    in_cb: AtomicBool,
}
impl Drop for T {
    fn drop(&mut self) {
        self.frees.fetch_add(1, Ordering::Relaxed);
    }
}
// SAFETY: as for TaskletInner.
unsafe impl CountedNode for T {
    const IN_FLIGHT: u64 = STATE_BITS as u64;
    const LISTED: u64 = TASKLET_STATE_SCHED as u64;
    fn word(&self) -> &AtomicU64 {
        &self.state
    }
}
// SAFETY: `next` is the node's own link word.
unsafe impl LlistNode for T {
    fn llist_next(&self) -> &AtomicPtr<T> {
        &self.next
    }
}

fn tasklet(runs: &Arc<AtomicU32>, frees: &Arc<AtomicU32>) -> NodeRef<T> {
    NodeRef::new(T {
        next: AtomicPtr::new(core::ptr::null_mut()),
        state: AtomicU64::new(0),
        runs: runs.clone(),
        frees: frees.clone(),
        in_cb: AtomicBool::new(false),
    })
}

fn schedule(l: &Llist<T>, t: &NodeRef<T>) -> bool {
    if !sched_claim(&t.get().state) {
        return false;
    }
    // SAFETY: we set SCHED from clear.
    unsafe { l.push(t.as_ptr()) };
    true
}

fn run_list(l: &Llist<T>) {
    for p in l.take_all().reverse() {
        // SAFETY: the chain handed over the claim.
        let x = unsafe { p.as_ref() };
        let runs = x.runs.clone();
        let step = action_step(&x.state, || {
            assert!(!x.in_cb.swap(true, Ordering::SeqCst), "tasklet ran on two CPUs");
            runs.fetch_add(1, Ordering::Relaxed);
            x.in_cb.store(false, Ordering::SeqCst);
        });
        match step {
            // SAFETY: RUN was just cleared by us; `x` is not used after this.
            Step::Ran(old) | Step::SchedNotSet(old) => unsafe {
                release_if_unowned(p, old, TASKLET_STATE_RUN as u64);
            },
            // SAFETY: just handed out by the chain.
            Step::Requeue => unsafe {
                l.push(p);
            },
        }
    }
}

#[test]
fn schedule_racing_action_runs_once_per_schedule_and_never_twice_at_once() {
    loom::model(|| {
        let (runs, frees) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let t = tasklet(&runs, &frees);
        let cpu_a = Arc::new(Llist::new());
        let cpu_b = Arc::new(Llist::new());
        let claims = Arc::new(AtomicU32::new(0));
        assert!(schedule(&cpu_b, &t));
        claims.fetch_add(1, Ordering::Relaxed);

        let (t2, a2, c2) = (t.clone(), cpu_a.clone(), claims.clone());
        let th = loom::thread::spawn(move || {
            if schedule(&a2, &t2) {
                c2.fetch_add(1, Ordering::Relaxed);
            }
            run_list(&a2);
        });
        run_list(&cpu_b);
        th.join().unwrap();
        while !cpu_a.is_empty() || !cpu_b.is_empty() {
            run_list(&cpu_a);
            run_list(&cpu_b);
        }
        assert_eq!(runs.load(Ordering::Relaxed), claims.load(Ordering::Relaxed));
        assert_eq!(t.get().state.load(Ordering::Relaxed) as u32, 0);
        drop(t);
        assert_eq!(frees.load(Ordering::Relaxed), 1);
    });
}

// tasklet_disable: once the disable depth is raised and RUN seen clear, the callback
// does not start until enable.
#[test]
fn disable_racing_action_never_lets_the_callback_start_after_it_returns() {
    loom::model(|| {
        let (runs, frees) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let t = tasklet(&runs, &frees);
        let disabled = Arc::new(AtomicBool::new(false));
        let list = Arc::new(Llist::new());
        assert!(schedule(&list, &t));
        let (t2, d2) = (t.clone(), disabled.clone());
        let th = loom::thread::spawn(move || {
            // tasklet_disable: disable_nosync, then unlock_wait's polling.
            disable_nosync(&t2.get().state);
            while t2.get().state.load(Ordering::Acquire) & TASKLET_STATE_RUN as u64 != 0 {
                loom::thread::yield_now();
            }
            d2.store(true, Ordering::SeqCst);
        });
        for p in list.take_all().reverse() {
            // SAFETY: the chain handed over the claim; `t` keeps the tasklet alive.
            let x = unsafe { p.as_ref() };
            let step = action_step(&x.state, || {
                assert!(!disabled.load(Ordering::SeqCst), "ran after tasklet_disable returned");
            });
            if step == Step::Requeue {
                // SAFETY: just handed out by the chain.
                unsafe { list.push(p) };
            }
        }
        th.join().unwrap();
    });
}

// The last handle is dropped on one CPU while the tasklet sits queued for another.
#[test]
fn last_handle_dropped_while_scheduled_runs_once_and_is_freed_once() {
    loom::model(|| {
        let (runs, frees) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let list = Arc::new(Llist::new());
        let t = tasklet(&runs, &frees);
        let keep = t.clone();
        let l2 = list.clone();
        let th = loom::thread::spawn(move || {
            schedule(&l2, &t);
            drop(t);
        });
        drop(keep);
        run_list(&list);
        th.join().unwrap();
        run_list(&list);
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        assert_eq!(frees.load(Ordering::Relaxed), 1);
    });
}
