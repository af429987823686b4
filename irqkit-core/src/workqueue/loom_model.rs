//! loom models of the PENDING protocol (kernel/workqueue.c queue_work_on's
//! test_and_set_bit, process_one_work's clear before the call, try_to_grab_pending):
//! one run per successful claim, and cancel racing execution either removes the
//! queued instance (returns true, nothing runs) or finds it idle (it ran).

use super::Work;
use crate::sync::atomic::{AtomicU32, Ordering};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use loom::sync::Mutex;

/// What the pool lock guards in the model: the worklist and the "on a list" bit.
struct Pool {
    list: Mutex<VecDeque<Work>>,
}

#[test]
fn racing_queuers_claim_pending_once_per_run() {
    loom::model(|| {
        let runs = Arc::new(AtomicU32::new(0));
        let r2 = runs.clone();
        let w = Work::new(move |_s, _w, _t| {
            r2.fetch_add(1, Ordering::Relaxed);
        });
        let pool = Arc::new(Pool { list: Mutex::new(VecDeque::new()) });
        let claims = Arc::new(AtomicU32::new(0));
        let mut hs = alloc::vec::Vec::new();
        for _ in 0..2 {
            let (w, pool, claims) = (w.clone(), pool.clone(), claims.clone());
            hs.push(loom::thread::spawn(move || {
                if w.try_claim_pending() {
                    claims.fetch_add(1, Ordering::Relaxed);
                    let mut l = pool.list.lock().unwrap();
                    assert!(l.is_empty(), "a pending work was queued twice");
                    l.push_back(w);
                }
            }));
        }
        // The worker: take, clear PENDING, "run".
        let mut ran = 0;
        for _ in 0..3 {
            let item = pool.list.lock().unwrap().pop_front();
            if let Some(it) = item {
                it.clear_pending();
                ran += 1;
            }
            loom::thread::yield_now();
        }
        for h in hs {
            h.join().unwrap();
        }
        while let Some(it) = pool.list.lock().unwrap().pop_front() {
            it.clear_pending();
            ran += 1;
        }
        assert_eq!(ran, claims.load(Ordering::Relaxed));
        assert!(ran >= 1);
        assert!(!w.is_pending());
        let _ = runs;
    });
}

/// kernel/workqueue.c `set_work_pool_and_clear_pending`: a queueing that finds
/// PENDING set is folded into the pending instance, so that run must see what the
/// queueing CPU stored before it (else the update is missed: no run follows it).
/// Fails if the worker's clear only releases, or if a claim that finds PENDING set
/// reports it without a write of its own.
#[test]
fn queueing_that_finds_pending_is_seen_by_the_pending_run() {
    loom::model(|| {
        let x = Arc::new(AtomicU32::new(0));
        let w = Work::new(|_s, _w, _t| {});
        let pool = Arc::new(Pool { list: Mutex::new(VecDeque::new()) });
        assert!(w.try_claim_pending());
        pool.list.lock().unwrap().push_back(w.clone());
        let (w2, p2, x2) = (w.clone(), pool.clone(), x.clone());
        let producer = loom::thread::spawn(move || {
            x2.store(1, Ordering::Relaxed);
            if w2.try_claim_pending() {
                p2.list.lock().unwrap().push_back(w2);
            }
        });
        // The worker: take the item, clear PENDING, then "run" it: read `x`.
        let mut seen = alloc::vec::Vec::new();
        let first = pool.list.lock().unwrap().pop_front().expect("queued above");
        first.clear_pending();
        seen.push(x.load(Ordering::Relaxed));
        producer.join().unwrap();
        while let Some(it) = pool.list.lock().unwrap().pop_front() {
            it.clear_pending();
            seen.push(x.load(Ordering::Relaxed));
        }
        assert_eq!(seen.last(), Some(&1), "the last run missed the store: {seen:?}");
    });
}

#[test]
fn cancel_racing_execution_either_removes_or_finds_it_idle() {
    loom::model(|| {
        let w = Work::new(|_s, _w, _t| {});
        let pool = Arc::new(Pool { list: Mutex::new(VecDeque::new()) });
        assert!(w.try_claim_pending());
        pool.list.lock().unwrap().push_back(w.clone());
        let (w2, p2) = (w.clone(), pool.clone());
        // The worker takes the item and clears PENDING under the pool lock.
        let worker = loom::thread::spawn(move || {
            let mut l = p2.list.lock().unwrap();
            match l.pop_front() {
                Some(it) => {
                    it.clear_pending();
                    true
                }
                None => false,
            }
        });
        // cancel_work: grab PENDING: claim an idle work, or remove the queued one.
        let was_pending = loop {
            if w2.claim_pending_raw() {
                break false;
            }
            let mut l = pool.list.lock().unwrap();
            if let Some(i) = l.iter().position(|x| x.ptr_eq(&w2)) {
                l.remove(i);
                break true;
            }
            drop(l);
            loom::thread::yield_now();
        };
        w2.clear_pending();
        let ran = worker.join().unwrap();
        assert!(was_pending != ran, "exactly one of: cancelled while pending, or ran");
        assert!(!w2.is_pending());
    });
}

/// The deferred kick (`PoolInner::kick_deferred` + `Kick::wake`): the kicker claims
/// the idle worker's wake-up under the pool lock and wakes it after unlocking; the
/// worker clears `woken` under the lock and sleeps until it is set. A wake-up issued
/// after the unlock is never lost: the worker either sees `woken` before sleeping or
/// is woken from its sleep (loom reports a worker parked for ever as a deadlock).
#[test]
fn deferred_kick_never_loses_the_wakeup() {
    use crate::sync::atomic::AtomicBool;
    loom::model(|| {
        let pool = Arc::new(Mutex::new(0u32)); // the worklist length
        let woken = Arc::new(AtomicBool::new(true));
        let (p2, w2) = (pool.clone(), woken.clone());
        let worker = loom::thread::spawn(move || {
            // worker_enter_idle: clear `woken` under the lock, then wait for it.
            *p2.lock().unwrap() += 0;
            w2.store(false, Ordering::Release);
            let work_now = *p2.lock().unwrap() > 0;
            if !work_now {
                while !w2.load(Ordering::Acquire) {
                    loom::thread::park();
                }
            }
            true
        });
        let me = worker.thread().clone();
        // A producer: insert under the lock, claim the wake-up, wake after unlock.
        let owed = {
            let mut g = pool.lock().unwrap();
            *g += 1;
            !woken.swap(true, Ordering::AcqRel)
        };
        if owed {
            me.unpark();
        }
        assert!(worker.join().unwrap());
    });
}
