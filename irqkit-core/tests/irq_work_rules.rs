//! Conformance tests for irq_work (kernel/irq_work.c, include/linux/irq_work.h) on
//! `FakePlatform`: the self-IPI is recorded, and the test plays the IrqWork interrupt.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use irqkit_core::irq_work::{IrqWork, IRQ_WORK_BUSY, IRQ_WORK_CLAIMED, IRQ_WORK_LAZY};
use irqkit_core::softirq::BhWarning;
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, Ipi, IrqError, IrqSystem, Task};

/// The runtime's IrqWork interrupt handler, played by the test.
fn irq_work_interrupt(sys: &IrqSystem) {
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    sys.irq_work_run(&h);
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

fn tick(sys: &IrqSystem) {
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    sys.tick(&h);
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

fn counter() -> (Arc<AtomicU32>, IrqWork) {
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let w = IrqWork::new(move |sys, _, _| {
        assert!(sys.in_hardirq());
        n2.fetch_add(1, Ordering::SeqCst);
    });
    (n, w)
}

fn ipis(p: &FakePlatform) -> Vec<(CpuId, Ipi)> {
    p.ipis.lock().unwrap().clone()
}

// kernel/irq_work.c irq_work_claim: a second queue of a pending item returns false and
// the item runs once.
#[test]
fn second_queue_of_pending_item_returns_false_and_runs_once() {
    let (sys, p) = FakePlatform::system(2);
    let (n, w) = counter();
    assert_eq!(sys.irq_work_queue(&w), Ok(true));
    assert_eq!(w.flags() & IRQ_WORK_CLAIMED, IRQ_WORK_CLAIMED);
    assert_eq!(sys.irq_work_queue(&w), Ok(false));
    assert_eq!(ipis(&p), [(CpuId(0), Ipi::IrqWork)], "one self-IPI");
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(w.flags(), 0, "free again");
}

// kernel/irq_work.c: a BUSY (running) item can be claimed again; queued from its own
// callback it runs again.
#[test]
fn item_requeued_from_its_own_callback_runs_again() {
    let (sys, _p) = FakePlatform::system(1);
    let n = Arc::new(AtomicU32::new(0));
    let me: Arc<OnceLock<Weak<IrqSystem>>> = Arc::new(OnceLock::new());
    let (n2, me2) = (n.clone(), me.clone());
    let w = IrqWork::new(move |_, w, _| {
        assert!(!w.is_pending() && w.is_busy(), "PENDING cleared before the call");
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            let sys = me2.get().unwrap().upgrade().unwrap();
            assert_eq!(sys.irq_work_queue(w), Ok(true));
        }
    });
    me.set(Arc::downgrade(&sys)).unwrap();
    sys.irq_work_queue(&w).unwrap();
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert!(w.is_pending(), "requeued, BUSY kept");
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 2);
    assert_eq!(w.flags() & IRQ_WORK_BUSY, 0);
}

// kernel/irq_work.c __irq_work_queue_local: only the push onto an empty list raises
// the interrupt.
#[test]
fn only_first_item_on_empty_list_raises_the_self_ipi() {
    let (sys, p) = FakePlatform::system(1);
    let (_a, wa) = counter();
    let (_b, wb) = counter();
    sys.irq_work_queue(&wa).unwrap();
    sys.irq_work_queue(&wb).unwrap();
    assert_eq!(ipis(&p).len(), 1);
    irq_work_interrupt(&sys);
    sys.irq_work_queue(&wa).unwrap();
    assert_eq!(ipis(&p).len(), 2);
}

// kernel/irq_work.c: LAZY work raises no interrupt and runs from the tick.
#[test]
fn lazy_work_waits_for_the_tick() {
    let (sys, p) = FakePlatform::system(1);
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let w = IrqWork::with_flags(IRQ_WORK_LAZY, move |_, _, _| {
        n2.fetch_add(1, Ordering::SeqCst);
    });
    sys.irq_work_queue(&w).unwrap();
    assert!(ipis(&p).is_empty());
    assert!(sys.irq_work_needs_cpu());
    tick(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert!(!sys.irq_work_needs_cpu());
}

// include/linux/llist.h: the raised list is detached at once and run newest first.
#[test]
fn raised_list_runs_newest_first() {
    let (sys, _p) = FakePlatform::system(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mk = |i: u32| {
        let o = order.clone();
        IrqWork::new(move |_, _, _| o.lock().unwrap().push(i))
    };
    let ws: Vec<_> = (0..3).map(mk).collect();
    for w in &ws {
        sys.irq_work_queue(w).unwrap();
    }
    irq_work_interrupt(&sys);
    assert_eq!(*order.lock().unwrap(), [2, 1, 0]);
}

// kernel/irq_work.c irq_work_queue: NMI-safe.
#[test]
fn queue_from_nmi_runs_from_the_interrupt() {
    let (sys, p) = FakePlatform::system(1);
    let (n, w) = counter();
    let nmi = sys.nmi_enter().unwrap();
    assert_eq!(sys.irq_work_queue(&w), Ok(true));
    sys.nmi_exit(nmi);
    assert_eq!(ipis(&p), [(CpuId(0), Ipi::IrqWork)]);
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

// kernel/irq_work.c irq_work_queue_on: the remote CPU gets an IPI and runs the item.
#[test]
fn queue_on_remote_cpu_interrupts_it_and_runs_there() {
    let (sys, p) = FakePlatform::system(2);
    let ran_on = Arc::new(AtomicU32::new(99));
    let r2 = ran_on.clone();
    let w = IrqWork::new(move |sys, _, _| r2.store(sys.current_cpu().unwrap().0, Ordering::SeqCst));
    assert_eq!(sys.irq_work_queue_on(&w, CpuId(1)), Ok(true));
    assert_eq!(sys.irq_work_queue_on(&w, CpuId(1)), Ok(false));
    assert_eq!(ipis(&p), [(CpuId(1), Ipi::IrqWork)]);
    irq_work_interrupt(&sys);
    assert_eq!(ran_on.load(Ordering::SeqCst), 99, "not on CPU 0");
    FakePlatform::enter_cpu(CpuId(1));
    irq_work_interrupt(&sys);
    assert_eq!(ran_on.load(Ordering::SeqCst), 1);
}

// kernel/irq_work.c irq_work_queue_on: WARN for an offline CPU — here a typed error and
// the item untouched.
#[test]
fn queue_on_offline_cpu_is_an_error_and_nothing_is_lost() {
    let (sys, p) = FakePlatform::system(2);
    let (n, w) = counter();
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    assert_eq!(sys.irq_work_queue_on(&w, CpuId(1)), Err(IrqError::CpuOffline(1)));
    assert!(sys.irq_work_queue_on(&w, CpuId(7)).is_err());
    assert_eq!(w.flags(), 0);
    assert!(ipis(&p).is_empty());
    assert_eq!(sys.bh_warnings(BhWarning::IrqWorkOfflineCpu), 1);
    assert_eq!(sys.irq_work_queue(&w), Ok(true), "still usable");
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

// kernel/irq_work.c irq_work_queue_on: the remote path is not NMI-safe.
#[test]
fn remote_queue_from_nmi_is_refused() {
    let (sys, _p) = FakePlatform::system(2);
    let (_n, w) = counter();
    let nmi = sys.nmi_enter().unwrap();
    assert!(matches!(sys.irq_work_queue_on(&w, CpuId(1)), Err(IrqError::WrongContext(_))));
    assert_eq!(sys.irq_work_queue_on(&w, CpuId(0)), Ok(true), "the local path is fine");
    sys.nmi_exit(nmi);
    assert_eq!(sys.bh_warnings(BhWarning::IrqWorkRemoteFromNmi), 1);
}

// kernel/irq_work.c irq_work_sync: may sleep; returns once the callback is not running.
#[test]
fn irq_work_sync_needs_task_context_and_waits_for_the_item() {
    let (sys, _p) = FakePlatform::system(1);
    let (n, w) = counter();
    sys.irq_work_queue(&w).unwrap();
    sys.preempt_disable();
    assert!(matches!(sys.irq_work_sync(&w, &Task::entered()), Err(IrqError::WrongContext(_))));
    sys.preempt_enable();
    sys.irq_work_sync(&w, &Task::entered()).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert!(!w.is_busy());
}

#[test]
fn queue_off_the_machine_is_an_error() {
    let (sys, _p) = FakePlatform::system(1);
    let (_n, w) = counter();
    FakePlatform::enter_cpu(None);
    assert!(sys.irq_work_queue(&w).is_err());
    assert_eq!(w.flags(), 0);
}

// kernel/irq_work.c (CPU hotplug): work queued on a CPU that dies is not lost.
#[test]
fn dead_cpu_irq_work_is_taken_over() {
    let (sys, p) = FakePlatform::system(2);
    let (n, w) = counter();
    sys.irq_work_queue_on(&w, CpuId(1)).unwrap();
    assert!(matches!(sys.irq_work_takeover(CpuId(1)), Err(IrqError::Busy(_))));
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    sys.irq_work_takeover(CpuId(1)).unwrap();
    assert_eq!(ipis(&p).last(), Some(&(CpuId(0), Ipi::IrqWork)));
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

// kernel/irq_work.c (PREEMPT_RT): non-HARD items run in irq_work/N with task context;
// the interrupt only wakes the thread.
#[test]
fn threaded_item_runs_in_irq_work_thread_not_in_the_interrupt() {
    let (sys, p) = FakePlatform::system(2);
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let w = IrqWork::new_threaded(move |sys, _, _task| {
        assert!(sys.in_task() && !sys.in_hardirq());
        n2.fetch_add(1, Ordering::SeqCst);
    });
    assert!(w.is_threaded());
    assert_eq!(sys.irq_work_queue(&w), Ok(true));
    assert_eq!(sys.irq_work_queue(&w), Ok(false));
    assert_eq!(ipis(&p), [(CpuId(0), Ipi::IrqWork)]);
    irq_work_interrupt(&sys);
    assert_eq!(n.load(Ordering::SeqCst), 0, "not in hardirq");
    assert_eq!(sys.irq_work_thread_wakeups(CpuId(0)), 1);
    assert!(sys.irq_work_thread_run_once(CpuId(1), &Task::entered()).is_err());
    assert_eq!(sys.irq_work_thread_run_once(CpuId(0), &Task::entered()), Ok(true));
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(w.flags(), 0);
    // Remote: queued on CPU 1's thread list, CPU 1 interrupted.
    assert_eq!(sys.irq_work_queue_on(&w, CpuId(1)), Ok(true));
    assert_eq!(ipis(&p).last(), Some(&(CpuId(1), Ipi::IrqWork)));
    FakePlatform::enter_cpu(CpuId(1));
    sys.irq_work_sync(&w, &Task::entered()).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 2);
    assert!(matches!(sys.start_irq_work_threads(), Err(IrqError::Unsupported(_))));
}

#[test]
fn irq_work_thread_round_and_takeover_refuse_bad_input() {
    let (sys, _p) = FakePlatform::system(2);
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    assert!(matches!(
        sys.irq_work_thread_run_once(CpuId(0), &Task::entered()),
        Err(IrqError::WrongContext(_))
    ));
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
    assert!(sys.irq_work_takeover(CpuId(9)).is_err());
    assert!(matches!(sys.irq_work_takeover(CpuId(0)), Err(IrqError::Busy(_))), "online");
}

// kernel/irq_work.c leaves the item's memory to its owner (irq_work_sync before
// freeing). Here the last handle may go while the item is queued: it still runs once
// and is freed after — unless its callback keeps a clone of itself.
#[test]
fn last_handle_dropped_while_queued_still_runs_once_then_frees() {
    for keep_itself in [false, true] {
        let (sys, _p) = FakePlatform::system(1);
        let runs = Arc::new(AtomicU32::new(0));
        let token = Arc::new(());
        let kept: Arc<Mutex<Option<IrqWork>>> = Arc::new(Mutex::new(None));
        let (r2, tok2, k2) = (runs.clone(), token.clone(), kept.clone());
        let w = IrqWork::new(move |_, me, _| {
            let _held = &tok2;
            if r2.fetch_add(1, Ordering::SeqCst) == 0 && keep_itself {
                *k2.lock().unwrap() = Some(me.clone());
            }
        });
        assert_eq!(sys.irq_work_queue(&w), Ok(true));
        drop(w);
        assert_eq!(Arc::strong_count(&token), 2, "queued: not freed yet");
        irq_work_interrupt(&sys);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        if keep_itself {
            assert_eq!(Arc::strong_count(&token), 2, "the callback's clone keeps it");
            let again = kept.lock().unwrap().take().unwrap();
            assert_eq!(sys.irq_work_queue(&again), Ok(true));
            drop(again);
            irq_work_interrupt(&sys);
            assert_eq!(runs.load(Ordering::SeqCst), 2);
        }
        assert_eq!(Arc::strong_count(&token), 1, "freed once its run ended");
    }
}
