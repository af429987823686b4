//! The workqueue's monitor counters (tools/workqueue/wq_monitor.py over
//! kernel/workqueue.c's per-pwq PWQ_STAT_* counts): started and completed are kept per
//! pool_workqueue and summed over every pool the workqueue feeds.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use irqkit_core::workqueue::*;
use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

// PWQ_STAT_STARTED / PWQ_STAT_COMPLETED: items run on two CPUs' pools of one per-CPU
// workqueue are all counted once, in the sum and in the dump's line for it.
#[test]
fn started_and_completed_sum_every_pool_workqueue() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    sys.workqueue_init().unwrap();
    let wq = sys.alloc_workqueue("counted", WQ_PERCPU, 0).unwrap();
    assert_eq!(wq.started_completed(&sys), (0, 0));
    let ran = Arc::new(AtomicUsize::new(0));
    let works: Vec<Work> = (0..10)
        .map(|_| {
            let r = ran.clone();
            Work::new(move |_s, _w, _t| {
                r.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for (i, w) in works.iter().enumerate() {
        sys.queue_work_on(Some(CpuId(i as u32 % 2)), &wq, w).unwrap();
    }
    let (s, wq2) = (sys.clone(), wq.clone());
    m.run_on(CpuId(0), move |t| s.flush_workqueue(t, &wq2)).unwrap().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert_eq!(wq.started_completed(&sys), (10, 10));
    let dump = sys.wq_dump();
    let line = dump.lines().find(|l| l.starts_with("counted ")).unwrap();
    assert!(line.contains(" started 10 completed 10 "), "{line}");
}
