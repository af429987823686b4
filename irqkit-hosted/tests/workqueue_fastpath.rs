//! The workqueue's hosted fast paths keep Linux's rules (kernel/workqueue.c): the
//! busy check that assign_work skips for a work with no other unfinished instance
//! still catches a work requeued while it runs, and an idle worker that polls for a
//! kick before sleeping (the hosted machine's bounded idle poll) does go to sleep.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::sched::ThreadState;
use irqkit_core::workqueue::{Work, WQ_UNBOUND};
use irqkit_hosted::{Machine, MachineConfig};

fn machine() -> Machine {
    Machine::new(MachineConfig { nr_cpus: 4, hz: 1000, ..Default::default() }).unwrap()
}

// kernel/workqueue.c assign_work + find_worker_executing_work: a work queued again
// while it runs goes to the worker running it, so it never runs concurrently with
// itself — also in an unbound pool whose other workers are idle and kicked.
#[test]
fn requeued_running_work_goes_to_its_own_worker() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("reenter", WQ_UNBOUND, 0).unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let (running, max_seen, runs) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (g, r, mx, n) = (gate.clone(), running.clone(), max_seen.clone(), runs.clone());
    let wq2 = wq.clone();
    let w = Work::new(move |s, me, _t| {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        mx.fetch_max(now, Ordering::SeqCst);
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            // Requeue ourselves, then keep running until the test opens the gate.
            assert_eq!(s.queue_work(&wq2, me), Ok(true));
            while !g.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        }
        r.fetch_sub(1, Ordering::SeqCst);
    });
    assert_eq!(sys.queue_work(&wq, &w), Ok(true));
    let t0 = Instant::now();
    while !(runs.load(Ordering::SeqCst) == 1 && w.is_pending()) {
        assert!(t0.elapsed() < Duration::from_secs(10), "first run never requeued");
        std::thread::yield_now();
    }
    // Give the pool's idle workers every chance to take the second instance.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "second instance ran beside the first");
    gate.store(true, Ordering::SeqCst);
    while runs.load(Ordering::SeqCst) < 2 {
        assert!(t0.elapsed() < Duration::from_secs(10), "second instance never ran");
        std::thread::yield_now();
    }
    assert_eq!(max_seen.load(Ordering::SeqCst), 1);
}

// kernel/workqueue.c worker_thread: a worker with nothing to do sleeps. The hosted
// machine's idle poll is bounded, so after a burst every kworker ends up asleep.
#[test]
fn idle_workers_sleep_after_the_bounded_poll() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("burst", WQ_UNBOUND, 0).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let works: Vec<Work> = (0..200)
        .map(|_| {
            let d = done.clone();
            Work::new(move |_s, _w, _t| {
                d.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for w in &works {
        sys.queue_work(&wq, w).unwrap();
    }
    let t0 = Instant::now();
    loop {
        let busy: Vec<String> = sys
            .threads()
            .iter()
            .filter(|t| t.name().starts_with("kworker/") && t.state() != ThreadState::Sleeping)
            .map(|t| t.name().to_string())
            .collect();
        if done.load(Ordering::SeqCst) == works.len() && busy.is_empty() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "still awake: {busy:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
