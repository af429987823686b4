//! Conformance tests for tasklets, named after the guarantee they check (kernel/softirq.c
//! tasklet_action_common, tasklet_kill; include/linux/interrupt.h), on `FakePlatform`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use irqkit_core::softirq::BhWarning;
use irqkit_core::tasklet::{Tasklet, TASKLET_STATE_RUN, TASKLET_STATE_SCHED};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, IrqError, IrqSystem, Task};

fn in_irq(sys: &IrqSystem, f: impl FnOnce()) {
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    f();
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

fn counter() -> (Arc<AtomicU32>, Tasklet) {
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let t = Tasklet::new(move |_| {
        n2.fetch_add(1, Ordering::SeqCst);
    });
    (n, t)
}

// interrupt.h: "If tasklet_schedule() is called, then tasklet is guaranteed to be
// executed on some cpu at least once after this" and "If the tasklet is already
// scheduled, but its execution is still not started, it will be executed only once."
#[test]
fn several_schedules_before_it_runs_give_exactly_one_run() {
    let (sys, _p) = FakePlatform::system(2);
    let (n, t) = counter();
    in_irq(&sys, || {
        assert_eq!(t.schedule(&sys), Ok(true));
        assert_eq!(t.schedule(&sys), Ok(false));
        assert_eq!(t.schedule(&sys), Ok(false));
        assert_eq!(n.load(Ordering::SeqCst), 0, "not in hardirq");
    });
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(t.state(), 0);
    in_irq(&sys, || {});
    assert_eq!(n.load(Ordering::SeqCst), 1, "runs once, not again");
}

// kernel/softirq.c: SCHED is cleared before the callback, so a schedule from the
// callback itself makes it run once more.
#[test]
fn tasklet_rescheduled_from_its_own_callback_runs_again() {
    let (sys, _p) = FakePlatform::system(1);
    let slot: Arc<OnceLock<(Tasklet, std::sync::Weak<IrqSystem>)>> = Arc::new(OnceLock::new());
    let n = Arc::new(AtomicU32::new(0));
    let (s2, n2) = (slot.clone(), n.clone());
    let t = Tasklet::new(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            let (t, sys) = s2.get().unwrap();
            assert_eq!(t.schedule(&sys.upgrade().unwrap()), Ok(true));
        }
    });
    slot.set((t.clone(), Arc::downgrade(&sys))).ok().unwrap();
    in_irq(&sys, || {
        t.schedule(&sys).unwrap();
    });
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

// kernel/softirq.c tasklet_action_common: a tasklet running on another CPU is put back
// and re-polled ("strictly serialized wrt itself"), then runs exactly once more.
#[test]
fn tasklet_never_runs_on_two_cpus_at_once_and_runs_once_more_after() {
    let (sys, _p) = FakePlatform::system(2);
    let inside = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU32::new(0));
    let slot: Arc<OnceLock<Tasklet>> = Arc::new(OnceLock::new());
    let sysw = Arc::downgrade(&sys);
    let (in2, r2, s2) = (inside.clone(), runs.clone(), slot.clone());
    let t = Tasklet::new(move |_| {
        assert!(!in2.swap(true, Ordering::SeqCst), "ran on two CPUs at once");
        if r2.fetch_add(1, Ordering::SeqCst) == 0 {
            // While running on CPU 0, CPU 1 schedules it and serves its softirqs.
            let sys = sysw.upgrade().unwrap();
            let t = s2.get().unwrap();
            FakePlatform::enter_cpu(CpuId(1));
            assert_eq!(t.schedule(&sys), Ok(true));
            sys.ksoftirqd_run_once(CpuId(1)).unwrap();
            assert_eq!(t.state(), TASKLET_STATE_SCHED | TASKLET_STATE_RUN, "requeued on CPU 1");
            FakePlatform::enter_cpu(CpuId(0));
        }
        in2.store(false, Ordering::SeqCst);
    });
    slot.set(t.clone()).unwrap();
    in_irq(&sys, || {
        t.schedule(&sys).unwrap();
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(sys.ksoftirqd_wakeups(CpuId(1)) >= 1, "re-polling went to ksoftirqd/1");
    FakePlatform::enter_cpu(CpuId(1));
    sys.ksoftirqd_run_once(CpuId(1)).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "exactly once more, on CPU 1");
    assert_eq!(t.state(), 0);
}

// kernel/softirq.c: a disabled tasklet stays SCHED and is requeued every pass until
// enabled; include/linux/interrupt.h DECLARE_TASKLET_DISABLED.
#[test]
fn disabled_tasklet_is_requeued_until_enabled() {
    let (sys, _p) = FakePlatform::system(1);
    let (n, t) = counter();
    t.disable_nosync();
    in_irq(&sys, || {
        t.schedule(&sys).unwrap();
    });
    assert_eq!(n.load(Ordering::SeqCst), 0);
    assert!(t.is_scheduled());
    assert_eq!(sys.softirq_handoffs(CpuId(0)), 1, "re-raised until the restart limit");
    t.enable(&sys).unwrap();
    sys.ksoftirqd_run_once(CpuId(0)).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 1);

    let n2 = Arc::new(AtomicU32::new(0));
    let n3 = n2.clone();
    let born = Tasklet::new_disabled(move |_| {
        n3.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(born.disable_count(), 1);
    in_irq(&sys, || {
        born.schedule(&sys).unwrap();
    });
    assert_eq!(n2.load(Ordering::SeqCst), 0, "disabled at birth");
    born.enable(&sys).unwrap();
    sys.ksoftirqd_run_once(CpuId(0)).unwrap();
    assert_eq!(n2.load(Ordering::SeqCst), 1);
}

// include/linux/interrupt.h tasklet_enable: enabling an enabled tasklet is a bug; here a
// warning and a typed error, and the depth does not underflow.
#[test]
fn enabling_an_enabled_tasklet_warns_without_underflow() {
    let (sys, _p) = FakePlatform::system(1);
    let (_n, t) = counter();
    assert!(matches!(t.enable(&sys), Err(IrqError::InvalidArgument(_))));
    assert_eq!(t.disable_count(), 0);
    assert_eq!(sys.bh_warnings(BhWarning::TaskletEnableUnderflow), 1);
    t.disable(&sys, &Task::entered()).unwrap();
    t.disable_nosync();
    assert_eq!(t.disable_count(), 2);
    t.enable(&sys).unwrap();
    t.enable(&sys).unwrap();
    assert!(t.enable(&sys).is_err());
    assert_eq!(t.disable_count(), 0);
}

// kernel/softirq.c tasklet_kill: "Attempt to kill tasklet from interrupt"; may sleep.
#[test]
fn tasklet_kill_from_atomic_context_is_wrong_context() {
    let (sys, _p) = FakePlatform::system(1);
    let (n, t) = counter();
    in_irq(&sys, || {
        t.schedule(&sys).unwrap();
        assert!(matches!(t.kill(&sys, &Task::entered()), Err(IrqError::WrongContext(_))));
    });
    assert_eq!(sys.bh_warnings(BhWarning::TaskletKillFromInterrupt), 1);
    assert_eq!(n.load(Ordering::SeqCst), 1, "nothing lost");
    sys.local_bh_disable();
    assert!(t.kill(&sys, &Task::entered()).is_err());
    sys.local_bh_enable().unwrap();
    sys.preempt_disable();
    assert!(matches!(t.kill(&sys, &Task::entered()), Err(IrqError::WrongContext(_))));
    assert!(t.disable(&sys, &Task::entered()).is_err());
    assert_eq!(t.disable_count(), 0, "refused disable changed nothing");
    sys.preempt_enable();
}

// kernel/softirq.c tasklet_kill: waits for the queued run, then leaves it idle and
// unschedulable no more.
#[test]
fn tasklet_kill_waits_for_the_queued_run() {
    let (sys, _p) = FakePlatform::system(1);
    let (n, t) = counter();
    t.schedule(&sys).unwrap();
    t.kill(&sys, &Task::entered()).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(t.state(), 0);
    t.kill(&sys, &Task::entered()).unwrap();
    assert_eq!(t.schedule(&sys), Ok(true), "killed tasklets may be scheduled again");
}

// kernel/softirq.c: HI tasklets run in HI_SOFTIRQ (vector 0) before every other vector;
// each list runs in FIFO order.
#[test]
fn hi_tasklets_run_first_and_lists_are_fifo() {
    let (sys, _p) = FakePlatform::system(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mk = |name: &'static str| {
        let o = order.clone();
        Tasklet::new(move |_| o.lock().unwrap().push(name))
    };
    let (a, b, c, h) = (mk("a"), mk("b"), mk("c"), mk("hi"));
    in_irq(&sys, || {
        a.schedule(&sys).unwrap();
        b.schedule(&sys).unwrap();
        h.hi_schedule(&sys).unwrap();
        c.schedule(&sys).unwrap();
    });
    assert_eq!(*order.lock().unwrap(), ["hi", "a", "b", "c"]);
}

// irqkit extension: the lists are lock-free, so NMI may schedule a tasklet.
#[test]
fn tasklet_scheduled_from_nmi_runs_at_next_irq_exit() {
    let (sys, _p) = FakePlatform::system(1);
    let (n, t) = counter();
    let nmi = sys.nmi_enter().unwrap();
    assert_eq!(t.schedule(&sys), Ok(true));
    sys.nmi_exit(nmi);
    assert_eq!(n.load(Ordering::SeqCst), 0);
    in_irq(&sys, || {});
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

// kernel/softirq.c tasklets_cpu_dead: a dead CPU's queued tasklets move, none is lost.
#[test]
fn dead_cpu_tasklets_are_taken_over() {
    let (sys, _p) = FakePlatform::system(2);
    let (n, t) = counter();
    FakePlatform::enter_cpu(CpuId(1));
    sys.local_bh_disable();
    t.schedule(&sys).unwrap();
    sys._local_bh_enable().unwrap();
    FakePlatform::enter_cpu(CpuId(0));
    assert!(matches!(sys.tasklets_takeover(CpuId(1)), Err(IrqError::Busy(_))));
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    sys.tasklets_takeover(CpuId(1)).unwrap();
    assert!(sys.tasklets_takeover(CpuId(9)).is_err());
    in_irq(&sys, || {});
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn schedule_off_the_machine_is_an_error_and_leaves_state_alone() {
    let (sys, _p) = FakePlatform::system(1);
    let (_n, t) = counter();
    FakePlatform::enter_cpu(None);
    assert!(matches!(t.schedule(&sys), Err(IrqError::WrongContext(_))));
    assert_eq!(t.state(), 0);
}

thread_local! {
    static BH_RUNS: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}
fn bh_hi(_: &IrqSystem, _: &irqkit_core::SoftIrq) {
    BH_RUNS.with(|r| r.borrow_mut().push("bh-hi"));
}
fn bh_normal(_: &IrqSystem, _: &irqkit_core::SoftIrq) {
    BH_RUNS.with(|r| r.borrow_mut().push("bh-normal"));
}

// kernel/softirq.c tasklet_action/tasklet_hi_action: the BH workqueue pool of each
// vector runs before its tasklets.
#[test]
fn bh_workqueue_runners_run_before_the_tasklets_of_their_vector() {
    use irqkit_core::softirq::SoftirqVec;
    let (sys, _p) = FakePlatform::system(1);
    sys.set_bh_workqueue_runner(SoftirqVec::Hi, bh_hi).unwrap();
    sys.set_bh_workqueue_runner(SoftirqVec::Tasklet, bh_normal).unwrap();
    assert!(matches!(sys.set_bh_workqueue_runner(SoftirqVec::Hi, bh_hi), Err(IrqError::Busy(_))));
    assert!(matches!(
        sys.set_bh_workqueue_runner(SoftirqVec::NetRx, bh_hi),
        Err(IrqError::InvalidArgument(_))
    ));
    let t = Tasklet::new(|_| BH_RUNS.with(|r| r.borrow_mut().push("tasklet")));
    in_irq(&sys, || {
        t.schedule(&sys).unwrap();
        sys.raise_softirq(SoftirqVec::Hi).unwrap();
    });
    BH_RUNS.with(|r| assert_eq!(*r.borrow(), ["bh-hi", "bh-normal", "tasklet"]));
}

// Linux leaves the tasklet's memory to its owner until tasklet_kill; here the last
// handle may go while the tasklet is queued: it still runs once, and is freed after
// its run (the closure's captures are dropped then, not before and not twice).
#[test]
fn last_handle_dropped_while_scheduled_still_runs_once_then_frees() {
    let (sys, _p) = FakePlatform::system(1);
    let runs = Arc::new(AtomicU32::new(0));
    let token = Arc::new(());
    let (r2, tok2) = (runs.clone(), token.clone());
    let t = Tasklet::new(move |_| {
        let _held = &tok2;
        r2.fetch_add(1, Ordering::SeqCst);
    });
    sys.local_bh_disable();
    assert_eq!(t.schedule(&sys), Ok(true));
    drop(t);
    assert_eq!(Arc::strong_count(&token), 2, "queued: not freed yet");
    sys.local_bh_enable().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(Arc::strong_count(&token), 1, "freed once its run ended");
}
