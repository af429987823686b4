//! The workqueue lockup detector (kernel/workqueue.c wq_watchdog_timer_fn,
//! `workqueue.watchdog_thresh`): a pool whose worklist waits without progress for
//! longer than the threshold is reported, with a dump of every workqueue.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use irqkit_core::workqueue::*;
use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

fn machine() -> Machine {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    m.sys().workqueue_init().unwrap();
    // No CPU-intensive auto-detection: a spinning item then keeps its pool's other
    // work waiting for as long as it spins, a real workqueue stall.
    m.sys().wq_set_cpu_intensive_thresh_us(0);
    m
}

/// Queues a spinning item and one behind it on CPU 0's pool; returns the release
/// flag and the "second item ran" flag.
fn stall_cpu0(m: &Machine, wq: &Workqueue) -> (Arc<AtomicBool>, Arc<AtomicBool>, Vec<Work>) {
    let (release, second) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (r2, s2) = (release.clone(), second.clone());
    let hog = Work::new(move |_s, _w, _t| {
        let t0 = Instant::now();
        while !r2.load(Ordering::SeqCst) && t0.elapsed().as_secs() < 30 {
            std::hint::spin_loop();
        }
    });
    let behind = Work::new(move |_s, _w, _t| s2.store(true, Ordering::SeqCst));
    m.sys().queue_work_on(Some(CpuId(0)), wq, &hog).unwrap();
    m.sys().queue_work_on(Some(CpuId(0)), wq, &behind).unwrap();
    (release, second, vec![hog, behind])
}

// wq_watchdog_timer_fn: CPU 0's pool has a work waiting behind a worker that never
// sleeps; after the threshold it is reported ("BUG: workqueue lockup - pool cpus=0
// ... stuck for Ns!") and the workqueues are dumped. Once the pool moves again, with
// its worklist empty, nothing more is reported.
#[test]
fn a_pool_without_progress_is_reported_as_a_workqueue_lockup() {
    let m = machine();
    let sys = m.sys().clone();
    sys.wq_set_watchdog_thresh_ms(50);
    let wq = sys.alloc_workqueue("stall", WQ_PERCPU, 0).unwrap();
    let (release, second, _works) = stall_cpu0(&m, &wq);
    // The report is counted first, then logged, then the dump follows it. On a loaded
    // host another pool may be reported too (a worker kept off its CPU for longer than
    // the 50 ms threshold is a stall as well): look for CPU 0's pool's line.
    const CPU0: &str = "BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for";
    let mut log = Vec::new();
    common::wait_until("lockup reported and workqueues dumped", || {
        log.extend(sys.wq_drain_log());
        log.iter().any(|l| l.starts_with(CPU0)) && log.iter().any(|l| l.starts_with("stall "))
    });
    assert!(sys.wq_watchdog_lockups() >= 1);
    assert!(!second.load(Ordering::SeqCst), "the waiting work really waited");
    let bug = log.iter().find(|l| l.starts_with(CPU0)).unwrap();
    assert!(bug.ends_with("s!"), "{bug}");
    release.store(true, Ordering::SeqCst);
    common::wait_until("the waiting work ran", || second.load(Ordering::SeqCst));
    // Longer than the threshold (50 jiffies), so several check periods (12 jiffies
    // each), with the worklist empty: CPU 0's pool is not reported again, although its
    // last progress is by then older than the threshold.
    let _ = sys.wq_drain_log();
    let j0 = sys.jiffies();
    common::wait_until("80 jiffies", || sys.jiffies() >= j0 + 80);
    let again: Vec<String> =
        sys.wq_drain_log().into_iter().filter(|l| l.starts_with(CPU0)).collect();
    assert!(again.is_empty(), "reported again after moving on: {again:?}");
}

// workqueue.watchdog_thresh=0 disables the detector.
#[test]
fn watchdog_thresh_zero_disables_the_detector() {
    let m = machine();
    let sys = m.sys().clone();
    sys.wq_set_watchdog_thresh_ms(0);
    let wq = sys.alloc_workqueue("stall", WQ_PERCPU, 0).unwrap();
    let (release, second, _works) = stall_cpu0(&m, &wq);
    let j0 = sys.jiffies();
    common::wait_until("100 jiffies", || sys.jiffies() >= j0 + 100);
    assert_eq!(sys.wq_watchdog_lockups(), 0);
    release.store(true, Ordering::SeqCst);
    common::wait_until("the waiting work ran", || second.load(Ordering::SeqCst));
}
