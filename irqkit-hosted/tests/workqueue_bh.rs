//! WQ_BH workqueues on the hosted machine (kernel/workqueue.c `bh_worker`,
//! `kick_bh_pool`, `__flush_work` / `__cancel_work_sync` for BH works): the system BH
//! workqueues exist, works run in softirq context on the queueing CPU, and flush /
//! cancel_work_sync from task context wait for a running BH work.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_core::sched::ThreadState;
use irqkit_core::workqueue::*;
use irqkit_core::{CpuId, IrqError, IrqSystem, Task};
use irqkit_hosted::{Machine, MachineConfig};

fn machine() -> Machine {
    Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap()
}

/// A BH work that records it started, spins until `gate` opens, then records it ended.
fn gated(started: &Arc<AtomicBool>, gate: &Arc<AtomicBool>, done: &Arc<AtomicBool>) -> BhWork {
    let (s, g, d) = (started.clone(), gate.clone(), done.clone());
    BhWork::new(move |_sys, _w, _ctx| {
        s.store(true, Ordering::SeqCst);
        while !g.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        d.store(true, Ordering::SeqCst);
    })
}

/// Opens `gate` from a plain OS thread once the BH work started and the waiter (the
/// `run_on/0` thread) sleeps: the work cannot finish before the waiter looks, so a
/// waiter that returned without waiting would be caught.
fn open_later(
    m: &Machine,
    started: Arc<AtomicBool>,
    gate: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let sys = m.sys().clone();
    std::thread::spawn(move || {
        common::wait_until("BH work started", || started.load(Ordering::SeqCst));
        common::wait_until("waiter sleeps", || {
            sys.threads()
                .iter()
                .any(|t| t.name() == "run_on/0" && t.state() == ThreadState::Sleeping)
        });
        gate.store(true, Ordering::SeqCst);
    })
}

// kernel/workqueue.c workqueue_init_early: system_bh_wq ("events_bh") and
// system_bh_highpri_wq ("events_bh_highpri") are BH|PERCPU workqueues.
/// Queues a gated BH work on CPU 1, waits until it runs, then calls `f` from task
/// context on CPU 0 while the gate opens later. Returns the work, `f`'s result with
/// whether the work had finished when `f` returned, and the gate opener to join.
fn while_bh_work_runs<R: Send + 'static>(
    m: &Machine,
    wq: &Workqueue,
    f: impl FnOnce(&IrqSystem, &Task, &BhWork) -> R + Send + 'static,
) -> (BhWork, (R, bool), std::thread::JoinHandle<()>) {
    let (started, gate, done) = Default::default();
    let w = gated(&started, &gate, &done);
    assert_eq!(m.sys().queue_work_on(Some(CpuId(1)), wq, w.work()), Ok(true));
    let opener = open_later(m, started.clone(), gate.clone());
    common::wait_until("BH work started", || started.load(Ordering::SeqCst));
    let (sys, w2, d2) = (m.sys().clone(), w.clone(), done.clone());
    let r = m.run_on(CpuId(0), move |t| (f(&sys, t, &w2), d2.load(Ordering::SeqCst)));
    (w, r.unwrap(), opener)
}

#[test]
fn system_bh_workqueues_exist_and_run_in_softirq_on_the_queueing_cpu() {
    let m = machine();
    let s = m.sys().system_wqs().unwrap();
    assert_eq!(s.system_bh_wq.name(), "events_bh");
    assert_eq!(s.system_bh_highpri_wq.name(), "events_bh_highpri");
    assert_eq!(s.system_bh_wq.flags(), WQ_BH | WQ_PERCPU);
    assert_eq!(s.system_bh_highpri_wq.flags(), WQ_BH | WQ_HIGHPRI | WQ_PERCPU);
    for wq in [s.system_bh_wq.clone(), s.system_bh_highpri_wq.clone()] {
        let seen = Arc::new(AtomicU32::new(u32::MAX));
        let softirq = Arc::new(AtomicBool::new(false));
        let (s2, f2) = (seen.clone(), softirq.clone());
        let w = BhWork::new(move |sys, _w, _ctx| {
            f2.store(sys.in_serving_softirq(), Ordering::SeqCst);
            s2.store(sys.current_cpu().unwrap().0, Ordering::SeqCst);
        });
        let (sys, w2) = (m.sys().clone(), w.clone());
        // Queued from task context on CPU 1: ksoftirqd/1 (or an interrupt exit) runs it.
        let queued = m.run_on(CpuId(1), move |_t| sys.queue_work(&wq, w2.work())).unwrap();
        assert_eq!(queued, Ok(true));
        common::wait_until("BH work ran", || seen.load(Ordering::SeqCst) != u32::MAX);
        assert_eq!(seen.load(Ordering::SeqCst), 1, "on the queueing CPU");
        assert!(softirq.load(Ordering::SeqCst), "in softirq context");
    }
    let dump = m.sys().wq_dump();
    assert!(dump.contains("events_bh_highpri"), "{dump}");
    assert!(dump.contains("cpu   1 bh"), "{dump}");
}

// kernel/workqueue.c __flush_work: flush_work of a running BH work returns true once
// it has finished (task context sleeps meanwhile).
#[test]
fn flush_work_waits_for_a_running_bh_work() {
    let m = machine();
    let wq = m.sys().system_wqs().unwrap().system_bh_wq;
    let (_w, (flushed, done_at_return), opener) =
        while_bh_work_runs(&m, &wq, |sys, t, w| sys.flush_work(t, w.work()));
    assert_eq!(flushed, Ok(true));
    assert!(done_at_return, "flush_work returned before the BH work finished");
    opener.join().unwrap();
}

// kernel/workqueue.c __cancel_work_sync: a BH work that is only running is not
// pending (false), and cancel_work_sync waits for it to finish.
#[test]
fn cancel_work_sync_waits_for_a_running_bh_work() {
    let m = machine();
    let wq = m.sys().system_wqs().unwrap().system_bh_highpri_wq;
    let (w, (cancelled, done_at_return), opener) =
        while_bh_work_runs(&m, &wq, |sys, t, w| sys.cancel_work_sync(t, w.work()));
    assert_eq!(cancelled, Ok(false), "it was running, not pending");
    assert!(done_at_return, "cancel_work_sync returned while the BH work ran");
    assert_eq!(m.sys().work_busy(w.work()), 0);
    opener.join().unwrap();
}

// Context typing: a task work cannot be queued on a BH workqueue, nor a BH work on a
// threaded one; PENDING stays clear in both cases.
#[test]
fn work_kind_must_match_the_workqueue() {
    let m = machine();
    let s = m.sys().system_wqs().unwrap();
    let task_work = Work::new(|_s, _w, _t| {});
    let bh_work = BhWork::new(|_s, _w, _c| {});
    let inval = |r: Result<bool, IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.sys().queue_work(&s.system_bh_wq, &task_work)));
    assert!(inval(m.sys().queue_work(&s.system_wq, bh_work.work())));
    assert!(inval(m.sys().queue_work(&s.system_unbound_wq, bh_work.work())));
    assert!(!task_work.is_pending() && !bh_work.is_pending());
    let (task_dw, bh_dw) =
        (DelayedWork::new(|_s, _w, _t| {}), DelayedWork::new_bh(|_s, _w, _c| {}));
    assert!(inval(m.sys().queue_delayed_work(&s.system_bh_wq, &task_dw, 5)));
    assert!(inval(m.sys().queue_delayed_work(&s.system_wq, &bh_dw, 5)));
    for dw in [&task_dw, &bh_dw] {
        assert!(!dw.work().is_pending() && !dw.timer().pending(), "PENDING and timer untouched");
    }
}

// kernel/workqueue.c __cancel_work_sync → __flush_work(from_cancel): a BH work may be
// cancelled synchronously from softirq context; the wait for an instance running on
// another CPU busy-waits. Here a tasklet on CPU 0 cancels a BH work spinning on CPU 1.
#[test]
fn cancel_bh_work_sync_from_a_tasklet_waits_for_a_bh_work_running_elsewhere() {
    use irqkit_core::tasklet::Tasklet;
    use std::sync::Mutex;
    let m = machine();
    let wq = m.sys().system_wqs().unwrap().system_bh_wq;
    let (started, gate, done) = <(Arc<AtomicBool>, Arc<AtomicBool>, Arc<AtomicBool>)>::default();
    let w = gated(&started, &gate, &done);
    assert_eq!(m.sys().queue_work_on(Some(CpuId(1)), &wq, w.work()), Ok(true));
    common::wait_until("BH work started", || started.load(Ordering::SeqCst));

    let cancelling = Arc::new(AtomicBool::new(false));
    // The cancel's result, and whether the BH work had finished when it returned.
    type Outcome = (Result<bool, IrqError>, bool);
    let result: Arc<Mutex<Option<Outcome>>> = Arc::default();
    let (sys, w2, c2, d2, r2) =
        (m.sys().clone(), w.clone(), cancelling.clone(), done.clone(), result.clone());
    let t = Tasklet::new(move |_| {
        c2.store(true, Ordering::SeqCst);
        let r = sys.cancel_bh_work_sync(&w2);
        *r2.lock().unwrap() = Some((r, d2.load(Ordering::SeqCst)));
    });
    // The gate opens well after the cancel started: a cancel that did not wait would
    // have returned (and recorded `done == false`) long before.
    let (c3, g3) = (cancelling.clone(), gate.clone());
    let opener = std::thread::spawn(move || {
        common::wait_until("cancel started", || c3.load(Ordering::SeqCst));
        std::thread::sleep(std::time::Duration::from_millis(20));
        g3.store(true, Ordering::SeqCst);
    });
    let sys = m.sys().clone();
    m.run_on(CpuId(0), move |_t| {
        sys.local_bh_disable();
        sys.tasklet_schedule(&t).unwrap();
        sys.local_bh_enable().unwrap(); // runs the tasklet here, in softirq context
    })
    .unwrap();
    opener.join().unwrap();
    let (r, done_at_return) = result.lock().unwrap().take().expect("the tasklet ran");
    assert_eq!(r, Ok(false), "it was running, not pending");
    assert!(done_at_return, "cancel returned while the BH work ran");
    assert_eq!(m.sys().work_busy(w.work()), 0);
}
