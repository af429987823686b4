//! Conformance tests of WQ_BH workqueues on the fake platform (kernel/workqueue.c:
//! `bh_worker`, `kick_bh_pool`, `alloc_workqueue`'s BH checks; kernel/softirq.c: the
//! tasklet actions run the BH pools first). No threads: BH pools need none.

use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Mutex;

use super::*;
use crate::cpu::{CpuId, Task};
use crate::platform::Ipi;
use crate::softirq::SoftirqVec;
use crate::tasklet::Tasklet;
use crate::testing::FakePlatform;

type Log = Arc<Mutex<Vec<(&'static str, u32, bool)>>>;

/// A BH work that logs (tag, cpu, in_serving_softirq).
fn logging(tag: &'static str, log: &Log) -> BhWork {
    let log = log.clone();
    BhWork::new(move |sys, _w, _ctx| {
        let cpu = sys.current_cpu().map_or(u32::MAX, |c| c.0);
        log.lock().unwrap().push((tag, cpu, sys.in_serving_softirq()));
    })
}

/// Runs `f` as a hard-interrupt handler on the current CPU; softirqs run at its exit.
fn in_hardirq(sys: &IrqSystem, f: impl FnOnce()) {
    let flags = sys.local_irq_save();
    let hard = sys.irq_enter();
    f();
    sys.irq_exit(hard);
    sys.local_irq_restore(flags);
}

// kernel/workqueue.c kick_bh_pool + bh_worker: a BH work runs in softirq context
// (TASKLET_SOFTIRQ) on the CPU it was queued on.
#[test]
fn bh_work_runs_in_softirq_on_the_queueing_cpu() {
    let (sys, _p) = FakePlatform::system(2);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let w = logging("w", &log);
    FakePlatform::enter_cpu(CpuId(1));
    in_hardirq(&sys, || assert_eq!(sys.queue_work(&wq, w.work()), Ok(true)));
    assert_eq!(*log.lock().unwrap(), [("w", 1, true)]);
    assert_eq!(sys.softirq_count(CpuId(1), SoftirqVec::Tasklet), 1);
    assert!(!w.is_pending());
    FakePlatform::enter_cpu(CpuId(0));
}

// kernel/softirq.c tasklet_hi_action / tasklet_action run the highpri / normal BH
// pool before their tasklets, and HI (vector 0) runs before TASKLET (vector 6).
#[test]
fn bh_highpri_runs_from_hi_before_normal_and_before_tasklets() {
    let (sys, _p) = FakePlatform::system(1);
    let lo = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let hi = sys.alloc_workqueue("bh_hi", WQ_BH | WQ_HIGHPRI, 0).unwrap();
    let log = Log::default();
    let (wl, wh) = (logging("normal", &log), logging("highpri", &log));
    let l2 = log.clone();
    let t = Tasklet::new(move |_| l2.lock().unwrap().push(("tasklet", 0, true)));
    in_hardirq(&sys, || {
        sys.tasklet_schedule(&t).unwrap();
        sys.queue_work(&lo, wl.work()).unwrap();
        sys.queue_work(&hi, wh.work()).unwrap();
    });
    let tags: Vec<_> = log.lock().unwrap().iter().map(|e| e.0).collect();
    assert_eq!(tags, ["highpri", "normal", "tasklet"]);
    assert_eq!(sys.softirq_count(CpuId(0), SoftirqVec::Hi), 1);
}

// kernel/workqueue.c bh_worker: at most BH_WORKER_RESTARTS (10) works per softirq
// invocation, then the pool re-kicks itself; the softirq loop comes back for the rest.
#[test]
fn bh_worker_yields_after_ten_works_and_reraises() {
    let (sys, _p) = FakePlatform::system(1);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let works: Vec<_> = (0..25).map(|_| logging("w", &log)).collect();
    in_hardirq(&sys, || {
        for w in works.iter() {
            sys.queue_work(&wq, w.work()).unwrap();
        }
    });
    assert_eq!(log.lock().unwrap().len(), 25, "nothing lost");
    // 10 + 10 + 5: three TASKLET_SOFTIRQ passes of one handle_softirqs loop.
    assert_eq!(sys.softirq_count(CpuId(0), SoftirqVec::Tasklet), 3);
}

// kernel/workqueue.c bh_worker: the pool also yields once BH_WORKER_JIFFIES (2 ms)
// have passed, even under the count.
#[test]
fn bh_worker_yields_after_its_time_budget() {
    let (sys, p) = FakePlatform::system(1);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let p2 = p.clone();
    let slow = BhWork::new(move |sys, _w, _c| {
        // 3 ms pass: the tick that interrupts the work moves jiffies.
        p2.now.fetch_add(3_000_000, std::sync::atomic::Ordering::SeqCst);
        let flags = sys.local_irq_save();
        let hard = sys.irq_enter();
        sys.tick(&hard);
        sys.irq_exit(hard);
        sys.local_irq_restore(flags);
    });
    let rest: Vec<_> = (0..3).map(|_| logging("w", &log)).collect();
    in_hardirq(&sys, || {
        sys.queue_work(&wq, slow.work()).unwrap();
        for w in rest.iter() {
            sys.queue_work(&wq, w.work()).unwrap();
        }
    });
    // The slow work used up both budgets: the rest waits, TASKLET is raised again.
    assert!(log.lock().unwrap().is_empty());
    assert_ne!(sys.local_softirq_pending() & (1 << SoftirqVec::Tasklet.nr()), 0);
    in_hardirq(&sys, || {});
    assert_eq!(log.lock().unwrap().len(), 3, "the next softirq runs the rest");
}

// kernel/workqueue.c __queue_work: a work running in one pool is queued to that pool
// again, so it never runs on two CPUs at once (BH pools included).
#[test]
fn bh_work_is_not_reentrant_across_cpus() {
    let (sys, p) = FakePlatform::system(2);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let (l2, wq2) = (log.clone(), wq.clone());
    let w = BhWork::new(move |sys, me, _ctx| {
        let cpu = sys.current_cpu().unwrap().0;
        let first = l2.lock().unwrap().is_empty();
        l2.lock().unwrap().push(("run", cpu, true));
        if first {
            // Another CPU queues it while it runs here.
            FakePlatform::enter_cpu(CpuId(1));
            assert_eq!(sys.queue_work(&wq2, me.work()), Ok(true));
            FakePlatform::enter_cpu(CpuId(cpu));
        }
    });
    in_hardirq(&sys, || {
        sys.queue_work(&wq, w.work()).unwrap();
    });
    assert_eq!(*log.lock().unwrap(), [("run", 0, true), ("run", 0, true)]);
    let to_cpu1 = p.ipis.lock().unwrap().iter().any(|&(c, i)| c == CpuId(1) && i == Ipi::IrqWork);
    assert!(!to_cpu1, "redirected to the running pool, CPU 1 was never kicked");
}

// kernel/workqueue.c kick_bh_pool: queueing for another CPU interrupts it through
// irq_work, which raises the softirq there.
#[test]
fn bh_work_queued_for_another_cpu_runs_there() {
    let (sys, p) = FakePlatform::system(2);
    let wq = sys.alloc_workqueue("bh", WQ_BH | WQ_HIGHPRI, 0).unwrap();
    let log = Log::default();
    let w = logging("w", &log);
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, w.work()), Ok(true));
    assert!(p.ipis.lock().unwrap().contains(&(CpuId(1), Ipi::IrqWork)));
    assert!(log.lock().unwrap().is_empty());
    FakePlatform::enter_cpu(CpuId(1));
    in_hardirq(&sys, || sys.irq_work_run(&crate::HardIrq::entered()));
    FakePlatform::enter_cpu(CpuId(0));
    assert_eq!(*log.lock().unwrap(), [("w", 1, true)]);
}

// kernel/workqueue.c cancel_work / cancel_work_sync / flush_work on a BH work: the
// same return values as for any work.
#[test]
fn bh_cancel_and_flush_return_values() {
    let (sys, _p) = FakePlatform::system(1);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let w = logging("w", &log);
    let task = Task::entered();
    // From task context the kick only marks TASKLET pending (no ksoftirqd here).
    assert_eq!(sys.queue_work(&wq, w.work()), Ok(true));
    assert!(sys.cancel_work(w.work()), "was pending");
    assert_eq!(sys.queue_work(&wq, w.work()), Ok(true));
    assert_eq!(sys.cancel_work_sync(&task, w.work()), Ok(true));
    assert_eq!(sys.cancel_work_sync(&task, w.work()), Ok(false), "idle");
    assert_eq!(sys.queue_work(&wq, w.work()), Ok(true));
    assert!(log.lock().unwrap().is_empty());
    sys.local_bh_disable();
    sys.local_bh_enable().unwrap(); // runs the pending softirq

    assert_eq!(log.lock().unwrap().len(), 1, "only the last queueing ran");
    assert_eq!(sys.flush_work(&task, w.work()), Ok(false), "finished already");
    assert_eq!(sys.work_busy(w.work()), 0);
}

// kernel/workqueue.c __alloc_workqueue: WQ_BH combines only with HIGHPRI (and
// PERCPU) and requires max_active 0; a BH workqueue takes BH works only.
#[test]
fn bh_workqueue_bad_input_is_a_typed_error() {
    let (sys, _p) = FakePlatform::system(1);
    let inval = |r: Result<Workqueue, IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(sys.alloc_workqueue("x", WQ_BH | WQ_UNBOUND, 0)));
    assert!(inval(sys.alloc_workqueue("x", WQ_BH | WQ_MEM_RECLAIM, 0)));
    assert!(inval(sys.alloc_workqueue("x", WQ_BH | WQ_FREEZABLE, 0)));
    assert!(inval(sys.alloc_workqueue("x", WQ_BH, 1)));
    assert!(inval(sys.alloc_workqueue("x", WQ_BH, -1)));
    let wq = sys.alloc_workqueue("x", WQ_BH | WQ_HIGHPRI | WQ_PERCPU, 0).unwrap();
    let task_work = Work::new(|_s, _w, _t| {});
    assert!(matches!(sys.queue_work(&wq, &task_work), Err(IrqError::InvalidArgument(_))));
    assert!(!task_work.is_pending(), "PENDING untouched");
    let dw = DelayedWork::new(|_s, _w, _t| {});
    assert!(matches!(sys.queue_delayed_work(&wq, &dw, 5), Err(IrqError::InvalidArgument(_))));
    assert!(!dw.work().is_pending() && !dw.timer().pending(), "PENDING and timer untouched");
    assert!(dw.bh_work().is_none());
    assert!(matches!(
        sys.queue_work_on(Some(CpuId(7)), &wq, &task_work),
        Err(IrqError::NotFound(_))
    ));
    // max_active means nothing for a BH workqueue: left alone.
    sys.workqueue_set_max_active(&wq, 4);
    assert_eq!(wq.max_active(), i32::MAX as u32, "Linux's INT_MAX");
    assert!(wq.0.pools.iter().all(|p| p.bh_worker.is_some()));
}

// kernel/workqueue.c workqueue_softirq_dead / drain_dead_softirq_workfn: what is
// left in an offline CPU's BH pool runs on a live CPU, from a BH work that requeues
// itself while the dead pool has work (never more than one BH budget at a time).
#[test]
fn dead_cpu_bh_works_run_on_a_live_cpu() {
    let (sys, _p) = FakePlatform::system(2);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let works: Vec<_> = (0..25).map(|_| logging("w", &log)).collect();
    FakePlatform::enter_cpu(CpuId(1));
    // Task context, no ksoftirqd: TASKLET is only marked pending on CPU 1.
    for w in works.iter() {
        sys.queue_work(&wq, w.work()).unwrap();
    }
    FakePlatform::enter_cpu(CpuId(0));
    assert!(matches!(sys.workqueue_softirq_dead(CpuId(1)), Err(IrqError::Busy(_))));
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    let drains = sys.workqueue_softirq_dead(CpuId(1)).unwrap();
    assert_eq!(drains.len(), 1, "only the normal pool had work");
    assert!(log.lock().unwrap().is_empty());
    sys.local_bh_disable();
    sys.local_bh_enable().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 25, "nothing lost");
    assert!(log.iter().all(|e| e.1 == 0 && e.2), "on CPU 0, in softirq");
    assert!(drains.iter().all(|d| sys.work_busy(d) == 0), "drain finished");
    assert!(works.iter().all(|w| !w.is_pending()));
}

// kernel/workqueue.c __cancel_work_sync → __flush_work(from_cancel): a BH work may be
// cancelled synchronously from softirq context (here a HI tasklet); the cancel
// busy-waits instead of sleeping, and returns what cancel_work_sync returns. From a
// hard interrupt it is refused and changes nothing.
#[test]
fn cancel_bh_work_sync_from_softirq_context() {
    let (sys, _p) = FakePlatform::system(1);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let victim = logging("victim", &log);

    // From task context the queueing only marks TASKLET_SOFTIRQ pending.
    assert_eq!(sys.queue_work(&wq, victim.work()), Ok(true));
    in_hardirq(&sys, || {
        assert!(matches!(sys.cancel_bh_work_sync(&victim), Err(IrqError::WrongContext(_))));
        assert!(victim.is_pending(), "a refused cancel leaves the work queued");
    });
    assert_eq!(log.lock().unwrap().len(), 1, "the interrupt's exit ran it");

    let results: Arc<Mutex<Vec<Result<bool, IrqError>>>> = Arc::default();
    let (s2, v2, r2) = (sys.clone(), victim.clone(), results.clone());
    let t = Tasklet::new(move |_| {
        assert!(s2.in_serving_softirq());
        r2.lock().unwrap().push(s2.cancel_bh_work_sync(&v2));
        r2.lock().unwrap().push(s2.cancel_bh_work_sync(&v2));
    });
    sys.local_bh_disable();
    sys.tasklet_hi_schedule(&t).unwrap();
    assert_eq!(sys.queue_work(&wq, victim.work()), Ok(true));
    sys.local_bh_enable().unwrap();
    // HI (the tasklet) runs before TASKLET (the BH pool): the first cancel found the
    // work queued, the second found it idle.
    assert_eq!(*results.lock().unwrap(), [Ok(true), Ok(false)]);
    assert_eq!(log.lock().unwrap().len(), 1, "the cancelled instance never ran");
    assert!(!victim.is_pending());
    assert_eq!(sys.work_busy(victim.work()), 0);
}

// kernel/workqueue.c: waiting on the work one is executing deadlocks; irqkit refuses
// it with a typed error and a warning instead of spinning forever.
#[test]
fn cancel_bh_work_sync_from_the_work_itself_is_refused() {
    let (sys, _p) = FakePlatform::system(1);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let got: Arc<Mutex<Option<Result<bool, IrqError>>>> = Arc::default();
    let g2 = got.clone();
    let w = BhWork::new(move |sys, me, _ctx| {
        *g2.lock().unwrap() = Some(sys.cancel_bh_work_sync(me));
    });
    sys.local_bh_disable();
    assert_eq!(sys.queue_work(&wq, w.work()), Ok(true));
    sys.local_bh_enable().unwrap();
    assert!(matches!(*got.lock().unwrap(), Some(Err(IrqError::WrongContext(_)))));
    assert!(sys.wq_drain_log().iter().any(|l| l.contains("would deadlock")));
    // The refusal left the work usable.
    assert_eq!(sys.queue_work(&wq, w.work()), Ok(true));
}

/// Moves the fake clock to jiffy `j` (HZ=1000) and plays the tick interrupt.
fn tick_to(sys: &IrqSystem, p: &FakePlatform, j: u64) {
    p.now.store(j * 1_000_000, std::sync::atomic::Ordering::SeqCst);
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    sys.tick(&h);
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

// kernel/workqueue.c queue_delayed_work_on / delayed_work_timer_fn on a BH workqueue:
// the timer (TIMER_SOFTIRQ, on the queueing CPU) queues the work, which runs in
// softirq context from the BH pool, never before its delay; mod_delayed_work and
// cancel_bh_work_sync keep their return values.
#[test]
fn delayed_bh_work_runs_in_softirq_after_its_delay() {
    let (sys, p) = FakePlatform::system(2);
    let wq = sys.alloc_workqueue("bh", WQ_BH, 0).unwrap();
    let log = Log::default();
    let l2 = log.clone();
    let dw = DelayedWork::new_bh(move |sys, _w, _ctx| {
        let cpu = sys.current_cpu().map_or(u32::MAX, |c| c.0);
        l2.lock().unwrap().push(("dw", cpu, sys.in_serving_softirq()));
    });
    FakePlatform::enter_cpu(CpuId(1));
    tick_to(&sys, &p, 1);
    let j0 = sys.jiffies();
    assert_eq!(sys.queue_delayed_work(&wq, &dw, 3), Ok(true));
    assert_eq!(sys.queue_delayed_work(&wq, &dw, 1), Ok(false), "pending: timer untouched");
    for j in j0 + 1..j0 + 3 {
        tick_to(&sys, &p, j);
        assert!(log.lock().unwrap().is_empty(), "ran early at jiffy {j}");
    }
    tick_to(&sys, &p, j0 + 3);
    tick_to(&sys, &p, j0 + 4);
    assert_eq!(*log.lock().unwrap(), [("dw", 1, true)]);
    assert!(!dw.work().is_pending());

    // mod_delayed_work on an idle work: false; then cancelled while its timer is armed.
    assert_eq!(sys.mod_delayed_work_on(None, &wq, &dw, 5), Ok(false));
    assert_eq!(sys.mod_delayed_work_on(None, &wq, &dw, 2), Ok(true), "timer was armed");
    let bh = dw.bh_work().unwrap();
    assert_eq!(sys.cancel_bh_work_sync(&bh), Ok(true));
    assert!(!dw.timer().pending());
    for j in j0 + 5..j0 + 12 {
        tick_to(&sys, &p, j);
    }
    assert_eq!(log.lock().unwrap().len(), 1, "the cancelled instance never ran");
    FakePlatform::enter_cpu(CpuId(0));
}
