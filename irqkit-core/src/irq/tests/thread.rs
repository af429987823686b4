//! Threaded handlers (kernel/irq/manage.c `irq_thread`, `irq_finalize_oneshot`,
//! `irq_setup_forced_threading`; spec 1.8–1.9).

use super::*;
use crate::sched::Policy;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

fn counter() -> (Arc<AtomicU32>, ThreadHandler) {
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    (
        n,
        Box::new(move |_| {
            n2.fetch_add(1, SeqCst);
            IrqReturn::HANDLED
        }),
    )
}

// manage.c setup_irq_thread: "irq/<n>-<name>", SCHED_FIFO 50.
#[test]
fn irq_thread_is_named_irq_n_name_at_fifo_50() {
    let (sys, p) = machine(2);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let (_n, t) = counter();
    let r = sys.request_threaded_irq(irq, None, Some(t), Flags::ONESHOT, "eth0").unwrap();
    assert_eq!(*p.spawned.lock().unwrap(), [format!("irq/{irq}-eth0")]);
    assert_eq!(r.action().thread().unwrap().policy(), Policy::Fifo(50));
}

// manage.c irq_finalize_oneshot: a ONESHOT line stays masked until *all* woken
// threads of the line finished.
#[test]
fn oneshot_line_unmasks_only_after_the_last_thread() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let (na, ta) = counter();
    let (nb, tb) = counter();
    let a =
        sys.request_threaded_irq(irq, None, Some(ta), Flags::SHARED | Flags::ONESHOT, "a").unwrap();
    let b =
        sys.request_threaded_irq(irq, None, Some(tb), Flags::SHARED | Flags::ONESHOT, "b").unwrap();
    chip.take();
    fire(&sys, irq);
    assert_eq!(chip.take(), ["mask", "ack"]);
    let d = sys.irq_to_desc(irq).unwrap();
    assert_eq!(d.threads_active(), 2);
    assert!(a.thread_run_once(&task()));
    assert!(d.is_masked() && chip.take().is_empty(), "b still runs: stay masked");
    assert!(b.thread_run_once(&task()));
    assert_eq!(chip.take(), ["unmask"]);
    assert_eq!((na.load(SeqCst), nb.load(SeqCst), d.threads_active()), (1, 1, 0));
}

// handle.c __irq_wake_thread: RUNTHREAD coalesces wake-ups; threads_active counts once.
#[test]
fn wakeups_coalesce_until_the_thread_runs() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let (n, t) = counter();
    let _r = sys
        .request_threaded_irq(
            irq,
            Some(Box::new(|_| IrqReturn::WAKE_THREAD)),
            Some(t),
            Flags::empty(),
            "c",
        )
        .unwrap();
    fire(&sys, irq);
    fire(&sys, irq);
    assert_eq!(sys.irq_to_desc(irq).unwrap().threads_active(), 1);
    assert_eq!(sys.irq_thread_run_once(irq, &task()), 1);
    assert_eq!(sys.irq_thread_run_once(irq, &task()), 0);
    assert_eq!(n.load(SeqCst), 1);
    sys.synchronize_irq(irq, &task()).unwrap();
}

// manage.c irq_setup_forced_threading: under threadirqs the hard handler moves to
// "irq/N-name", the thread_fn to the secondary "irq/N-s-name" at FIFO 49.
#[test]
fn threadirqs_forces_threading_with_a_secondary_thread() {
    let (sys, p) = machine_cfg(SystemConfig { nr_cpus: 1, threadirqs: true, ..Default::default() });
    let irq = line(&sys, RecChip::basic(), FlowHandler::FastEoi);
    let hard_in_task = Arc::new(AtomicU32::new(0));
    let h2 = hard_in_task.clone();
    let (n, t) = counter();
    let r = sys
        .request_threaded_irq(
            irq,
            Some(Box::new(move |_| {
                h2.fetch_add(1, SeqCst);
                IrqReturn::WAKE_THREAD
            })),
            Some(t),
            Flags::empty(),
            "nic",
        )
        .unwrap();
    assert_eq!(*p.spawned.lock().unwrap(), [format!("irq/{irq}-nic"), format!("irq/{irq}-s-nic")]);
    assert!(r.action().is_forced_thread() && r.action().flags().contains(Flags::ONESHOT));
    assert_eq!(r.action().secondary().unwrap().thread().unwrap().policy(), Policy::Fifo(49));
    fire(&sys, irq);
    assert_eq!(hard_in_task.load(SeqCst), 0, "the hard handler no longer runs in hard irq");
    assert_eq!(sys.irq_thread_run_once(irq, &task()), 2, "primary, then the secondary it woke");
    assert_eq!((hard_in_task.load(SeqCst), n.load(SeqCst)), (1, 1));
    assert_eq!(sys.irq_to_desc(irq).unwrap().threads_active(), 0);
}

// manage.c irq_setup_forced_threading: NO_THREAD (and IRQF_TIMER) are never threaded.
#[test]
fn threadirqs_leaves_no_thread_handlers_alone() {
    let (sys, p) = machine_cfg(SystemConfig { nr_cpus: 1, threadirqs: true, ..Default::default() });
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::TIMER, "timer").unwrap();
    assert!(p.spawned.lock().unwrap().is_empty());
    fire(&sys, irq);
    assert_eq!(n.load(SeqCst), 1);
}

// manage.c free_irq: waits for woken threads; a thread that never ran is accounted
// so the line is not left masked or synchronize_irq stuck.
#[test]
fn free_with_a_pending_thread_releases_oneshot_and_accounting() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let (_a_n, ta) = counter();
    let (_b_n, tb) = counter();
    let a =
        sys.request_threaded_irq(irq, None, Some(ta), Flags::SHARED | Flags::ONESHOT, "a").unwrap();
    let b =
        sys.request_threaded_irq(irq, None, Some(tb), Flags::SHARED | Flags::ONESHOT, "b").unwrap();
    fire(&sys, irq);
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(b.thread_run_once(&task()));
    // `a` is woken but its thread never ran: free must not wait forever (the test
    // platform has no scheduler to sleep on) and must release the oneshot mask.
    drop(a);
    assert_eq!(d.threads_active(), 0);
    assert!(!d.is_masked());
    drop(b);
}
