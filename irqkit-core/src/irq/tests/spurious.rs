//! The spurious detector (kernel/irq/spurious.c `note_interrupt`, spec 1.11 and 9.2).

use super::*;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

/// A line whose handler returns NONE while `mode` is 0, HANDLED otherwise.
fn switchable(sys: &Arc<IrqSystem>, flags: Flags) -> (u32, Arc<AtomicU32>, Registration) {
    let irq = line(sys, RecChip::basic(), FlowHandler::Edge);
    let mode = Arc::new(AtomicU32::new(0));
    let m = mode.clone();
    let r = sys
        .request_irq(irq, move |_| IrqReturn::from_handled(m.load(SeqCst) != 0), flags, "dev")
        .unwrap();
    (irq, mode, r)
}

fn run(sys: &IrqSystem, irq: u32, mode: &AtomicU32, unhandled: u32, handled: u32) {
    mode.store(0, SeqCst);
    for _ in 0..unhandled {
        fire(sys, irq);
    }
    mode.store(1, SeqCst);
    for _ in 0..handled {
        fire(sys, irq);
    }
}

// spurious.c note_interrupt: exactly 99,900 unhandled of 100,000 does not disable.
#[test]
fn spurious_99900_unhandled_of_100000_does_not_disable() {
    let (sys, _p) = machine(1);
    let (irq, mode, _r) = switchable(&sys, Flags::empty());
    run(&sys, irq, &mode, 99_900, 100);
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(!d.is_disabled());
    assert!(!d.inner.lock_irqsave(&sys).istate.contains(IrqsState::SPURIOUS_DISABLED));
    assert_eq!(
        sys.proc_irq_read(irq, ProcIrqFile::Spurious).unwrap(),
        "count 0\nunhandled 0\nlast_unhandled 0 ms\n"
    );
}

// spurious.c note_interrupt: 99,901 unhandled of 100,000 disables the line, reports
// "nobody cared" with the handler list, and arms the poll timer.
#[test]
fn spurious_99901_unhandled_of_100000_disables_with_nobody_cared_report() {
    let (sys, _p) = machine(1);
    let (irq, mode, _r) = switchable(&sys, Flags::empty());
    run(&sys, irq, &mode, 99_901, 99);
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(d.is_disabled());
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    assert!(d.inner.lock_irqsave(&sys).istate.contains(IrqsState::SPURIOUS_DISABLED));
    let log = sys.irq.drain_log(&sys);
    assert_eq!(
        log[0],
        format!("irq {irq}: nobody cared (try booting with the \"irqpoll\" option)")
    );
    assert_eq!(log[1], "handlers:");
    assert!(log[2].ends_with("] dev"));
    assert_eq!(log[3], format!("Disabling IRQ #{irq}"));
    assert!(sys.spurious_poll_armed());
}

// spurious.c note_interrupt: the window only starts at the first unhandled interrupt.
#[test]
fn spurious_counting_starts_at_first_unhandled() {
    let (sys, _p) = machine(1);
    let (irq, mode, _r) = switchable(&sys, Flags::empty());
    run(&sys, irq, &mode, 0, 50);
    assert!(sys
        .proc_irq_read(irq, ProcIrqFile::Spurious)
        .unwrap()
        .starts_with("count 0\nunhandled 0\n"));
    run(&sys, irq, &mode, 1, 2);
    assert!(sys
        .proc_irq_read(irq, ProcIrqFile::Spurious)
        .unwrap()
        .starts_with("count 3\nunhandled 1\n"));
}

// spurious.c note_interrupt: unhandled interrupts more than HZ/10 apart restart at 1.
#[test]
fn spurious_unhandled_count_decays_after_hz_div_10() {
    let (sys, p) = machine(1);
    let (irq, mode, _r) = switchable(&sys, Flags::empty());
    run(&sys, irq, &mode, 5, 0);
    p.set_now(100_000_000); // 100 jiffies: not *more* than HZ/10
    run(&sys, irq, &mode, 1, 0);
    assert!(sys.proc_irq_read(irq, ProcIrqFile::Spurious).unwrap().contains("unhandled 6\n"));
    p.set_now(201_000_000);
    run(&sys, irq, &mode, 1, 0);
    assert_eq!(
        sys.proc_irq_read(irq, ProcIrqFile::Spurious).unwrap(),
        "count 7\nunhandled 1\nlast_unhandled 201 ms\n"
    );
}

// spurious.c note_interrupt: a bogus return value is reported and not counted.
#[test]
fn bogus_return_value_is_reported() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn(4), Flags::empty(), "bogus").unwrap();
    fire(&sys, irq);
    assert_eq!(sys.irq.drain_log(&sys)[0], format!("irq event {irq}: bogus return value 4"));
    assert!(sys.proc_irq_read(irq, ProcIrqFile::Spurious).unwrap().starts_with("count 0\n"));
}

// spurious.c note_interrupt: WAKE_THREAD alone defers the verdict to the next hard
// interrupt, which counts it handled iff a thread handled something meanwhile.
#[test]
fn threaded_result_is_judged_at_the_next_interrupt() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::FastEoi);
    let mode = Arc::new(AtomicU32::new(1));
    let m = mode.clone();
    let r = sys
        .request_threaded_irq(
            irq,
            None,
            Some(Box::new(move |_| IrqReturn::from_handled(m.load(SeqCst) != 0))),
            Flags::ONESHOT,
            "t",
        )
        .unwrap();
    fire(&sys, irq);
    r.thread_run_once(&task());
    fire(&sys, irq);
    r.thread_run_once(&task());
    assert!(sys.proc_irq_read(irq, ProcIrqFile::Spurious).unwrap().contains("unhandled 0\n"));
    mode.store(0, SeqCst);
    fire(&sys, irq);
    r.thread_run_once(&task());
    fire(&sys, irq);
    assert!(sys.proc_irq_read(irq, ProcIrqFile::Spurious).unwrap().contains("unhandled 1\n"));
}

// spurious.c misrouted_irq (irqfixup): an unhandled interrupt polls the other shared
// lines; a poll that handles something takes the unhandled count back.
#[test]
fn irqfixup_polls_other_shared_lines_on_unhandled() {
    let (sys, _p) =
        machine_cfg(SystemConfig { nr_cpus: 1, irqfixup: IrqFixup::Fixup, ..Default::default() });
    let (a, mode, _ra) = switchable(&sys, Flags::SHARED);
    let b = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let (nb, hb) = counting(IrqReturn::HANDLED);
    let _rb = sys.request_irq(b, hb, Flags::SHARED, "other").unwrap();
    run(&sys, a, &mode, 1, 0);
    assert_eq!(nb.load(SeqCst), 1, "the misrouted interrupt was found on line b");
    assert!(sys.proc_irq_read(a, ProcIrqFile::Spurious).unwrap().contains("unhandled 0\n"));
}

// spurious.c poll_spurious_irqs: a disabled line is polled; a new sharer re-enables it
// (manage.c __setup_irq step 12).
#[test]
fn spurious_disabled_line_is_polled_and_reenabled_by_new_sharer() {
    let (sys, _p) = machine(1);
    let (irq, mode, _r) = switchable(&sys, Flags::SHARED);
    run(&sys, irq, &mode, 100_000, 0);
    assert!(sys.irq_to_desc(irq).unwrap().is_disabled());
    let (n2, h2) = counting(IrqReturn::HANDLED);
    mode.store(1, SeqCst);
    let _r2 = sys.request_irq(irq, h2, Flags::SHARED, "new").unwrap();
    assert!(!sys.irq_to_desc(irq).unwrap().is_disabled());
    assert!(!sys
        .irq_to_desc(irq)
        .unwrap()
        .inner
        .lock_irqsave(&sys)
        .istate
        .contains(IrqsState::SPURIOUS_DISABLED));
    sys.poll_spurious_irqs();
    assert_eq!(n2.load(SeqCst), 0, "only disabled lines are polled");
    sys.disable_irq_nosync(irq).unwrap();
    sys.irq_to_desc(irq)
        .unwrap()
        .inner
        .lock_irqsave(&sys)
        .istate
        .insert(IrqsState::SPURIOUS_DISABLED);
    sys.poll_spurious_irqs();
    assert_eq!(n2.load(SeqCst), 1, "forced poll of a spurious-disabled line");
}

// spurious.c note_interrupt (irqpoll): handled interrupts of IRQF_IRQPOLL lines also
// trigger a poll of the other shared lines.
#[test]
fn irqpoll_polls_on_handled_interrupts_of_irqpoll_lines() {
    let (sys, _p) =
        machine_cfg(SystemConfig { nr_cpus: 1, irqfixup: IrqFixup::Poll, ..Default::default() });
    let a = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let _ra = sys
        .request_irq(a, |_| IrqReturn::HANDLED, Flags::SHARED | Flags::IRQPOLL, "timer")
        .unwrap();
    let b = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let (nb, hb) = counting(IrqReturn::HANDLED);
    let _rb = sys.request_irq(b, hb, Flags::SHARED, "disk").unwrap();
    fire(&sys, a);
    assert_eq!(nb.load(SeqCst), 1);
    sys.irq.set_irqfixup(IrqFixup::Fixup);
    fire(&sys, a);
    assert_eq!(nb.load(SeqCst), 1, "irqfixup alone polls only on unhandled");
}
