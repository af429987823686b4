//! request_irq / free_irq rules (kernel/irq/manage.c `request_threaded_irq`,
//! `__setup_irq`, `free_irq`; spec 1.7–1.10).

use super::*;
use std::sync::atomic::Ordering::SeqCst;

fn handled(_: &crate::HardIrq) -> IrqReturn {
    IrqReturn::HANDLED
}

// manage.c __setup_irq: sharers must agree on SHARED.
#[test]
fn shared_irq_requires_shared_on_both_sides() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _a = sys.request_irq(irq, handled, Flags::SHARED, "a").unwrap();
    assert!(matches!(sys.request_irq(irq, handled, Flags::empty(), "b"), Err(IrqError::Busy(_))));
    let _b = sys.request_irq(irq, handled, Flags::SHARED, "b").unwrap();
    assert!(sys
        .irq
        .drain_log(&sys)
        .iter()
        .any(|l| l.starts_with(&format!("Flags mismatch irq {irq}."))));
}

// manage.c __setup_irq: sharers must agree on the trigger type and ONESHOT.
#[test]
fn shared_irq_trigger_or_oneshot_mismatch_is_busy() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _a = sys.request_irq(irq, handled, Flags::SHARED | Flags::TRIGGER_HIGH, "a").unwrap();
    assert!(matches!(
        sys.request_irq(irq, handled, Flags::SHARED | Flags::TRIGGER_LOW, "b"),
        Err(IrqError::Busy(_))
    ));
    assert!(matches!(
        sys.request_irq(irq, handled, Flags::SHARED | Flags::ONESHOT, "c"),
        Err(IrqError::Busy(_))
    ));
    // PROBE_SHARED: same refusal, but no report.
    sys.irq.drain_log(&sys);
    assert!(sys.request_irq(irq, handled, Flags::PROBE_SHARED, "d").is_err());
    assert!(sys.irq.drain_log(&sys).is_empty());
    // No trigger bits: inherits the line's type.
    let _e = sys.request_irq(irq, handled, Flags::SHARED, "e").unwrap();
}

// manage.c __setup_irq: COND_ONESHOT adopts the line's ONESHOT.
#[test]
fn cond_oneshot_sharer_adopts_oneshot() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _a = sys
        .request_threaded_irq(
            irq,
            None,
            Some(Box::new(|_| IrqReturn::HANDLED)),
            Flags::SHARED | Flags::ONESHOT,
            "a",
        )
        .unwrap();
    let b = sys.request_irq(irq, handled, Flags::SHARED | Flags::COND_ONESHOT, "b").unwrap();
    assert!(b.action().flags().contains(Flags::ONESHOT));
    assert_ne!(b.action().thread_mask.load(SeqCst), _a.action().thread_mask.load(SeqCst));
}

// manage.c __setup_irq step 9: handler=NULL needs ONESHOT unless the chip is ONESHOT_SAFE.
#[test]
fn default_primary_handler_without_oneshot_is_refused() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let r = sys.request_threaded_irq(
        irq,
        None,
        Some(Box::new(|_| IrqReturn::HANDLED)),
        Flags::empty(),
        "t",
    );
    assert!(matches!(r, Err(IrqError::InvalidArgument(_))));
    assert!(
        !sys.irq_to_desc(irq).unwrap().inner.lock_irqsave(&sys).has_action(),
        "nothing changed"
    );
    let safe = RecChip::new(RecChip::basic().cbs, ChipFlags::ONESHOT_SAFE);
    let irq2 = line(&sys, safe, FlowHandler::Edge);
    let r = sys
        .request_threaded_irq(
            irq2,
            None,
            Some(Box::new(|_| IrqReturn::HANDLED)),
            Flags::ONESHOT,
            "t",
        )
        .unwrap();
    assert!(!r.action().flags().contains(Flags::ONESHOT), "ONESHOT_SAFE chips drop ONESHOT");
}

// manage.c request_threaded_irq: argument validation, each a typed error.
#[test]
fn bad_requests_are_typed_errors() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    assert!(matches!(
        sys.request_threaded_irq(irq, None, None, Flags::empty(), "x"),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        sys.request_irq(999_999, handled, Flags::empty(), "x"),
        Err(IrqError::NotFound(_))
    ));
    assert!(matches!(
        sys.request_irq(irq, handled, Flags::SHARED | Flags::NO_AUTOEN, "x"),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        sys.request_irq(irq, handled, Flags::COND_SUSPEND, "x"),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        sys.request_irq(irq, handled, Flags::SHARED | Flags::NO_SUSPEND | Flags::COND_SUSPEND, "x"),
        Err(IrqError::InvalidArgument(_))
    ));
    let nochip = sys.irq_alloc_descs(1, 1, false).unwrap();
    assert!(matches!(
        sys.request_irq(nochip, handled, Flags::empty(), "x"),
        Err(IrqError::Unsupported(_))
    ));
    sys.irq_modify_status(irq, IrqSettings::empty(), IrqSettings::NOREQUEST).unwrap();
    assert!(matches!(
        sys.request_irq(irq, handled, Flags::empty(), "x"),
        Err(IrqError::InvalidArgument(_))
    ));
    // A per-CPU-devid line cannot go through request_irq, and request_percpu_irq
    // refuses ordinary lines.
    let pc = line(&sys, RecChip::basic(), FlowHandler::PerCpuDevid);
    sys.irq_set_percpu_devid(pc).unwrap();
    assert!(matches!(
        sys.request_irq(pc, handled, Flags::empty(), "x"),
        Err(IrqError::InvalidArgument(_))
    ));
    let plain = line(&sys, RecChip::basic(), FlowHandler::Level);
    assert!(matches!(
        sys.request_percpu_irq(plain, handled, "x", None),
        Err(IrqError::InvalidArgument(_))
    ));
}

// manage.c __setup_irq: NO_AUTOEN leaves the line off (depth 1) until enable_irq.
#[test]
fn no_autoen_keeps_line_disabled_until_enable_irq() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::NO_AUTOEN, "x").unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    assert!(!sys.irq_to_desc(irq).unwrap().is_started());
    fire(&sys, irq);
    assert_eq!(n.load(SeqCst), 0);
    sys.enable_irq(irq).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    fire(&sys, irq);
    assert_eq!(n.load(SeqCst), 1);
}

// manage.c free_irq: returns the devname; the line is shut down after the last action.
#[test]
fn free_irq_returns_name_and_shuts_down_last_action() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let a = sys.request_irq(irq, handled, Flags::SHARED, "first").unwrap();
    let b = sys.request_irq(irq, handled, Flags::SHARED, "second").unwrap();
    assert_eq!(sys.free_irq(a, &task()).unwrap(), "first");
    assert!(sys.irq_to_desc(irq).unwrap().is_started());
    assert_eq!(b.free(&task()).unwrap(), "second");
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(!d.is_started() && d.is_disabled() && !d.is_activated());
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
}

// Registration is RAII: dropping it frees the handler (Rust-for-Linux irq::Registration).
#[test]
fn dropping_registration_frees_the_handler() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let (n, h) = counting(IrqReturn::HANDLED);
    {
        let _r = sys.request_irq(irq, h, Flags::empty(), "x").unwrap();
        fire(&sys, irq);
    }
    fire(&sys, irq);
    assert_eq!(n.load(SeqCst), 1, "no handler runs after its registration is gone");
    assert!(sys.request_irq(irq, handled, Flags::empty(), "y").is_ok());
}

// handle.c __handle_irq_event_percpu: shared handlers run in registration order and
// results are OR-ed.
#[test]
fn shared_handlers_run_in_registration_order() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let order = Arc::new(Mutex::new(Vec::new()));
    let regs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let o = order.clone();
            let name = *n;
            sys.request_irq(
                irq,
                move |_| {
                    o.lock().unwrap().push(name);
                    IrqReturn::NONE
                },
                Flags::SHARED,
                n,
            )
            .unwrap()
        })
        .collect();
    fire(&sys, irq);
    assert_eq!(*order.lock().unwrap(), ["a", "b", "c"]);
    drop(regs);
}

// Panic containment: the runtime's guard catches a panicking handler; the action is
// marked broken and the other handlers keep running.
#[test]
fn panicking_handler_is_contained_by_the_runtime_guard() {
    fn guard(f: &mut dyn FnMut() -> IrqReturn) -> Result<IrqReturn, ()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| ())
    }
    let (sys, _p) = machine(1);
    assert!(sys.irq.set_handler_guard(guard));
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let bad = sys.request_irq(irq, |_| panic!("driver bug"), Flags::SHARED, "bad").unwrap();
    let (n, h) = counting(IrqReturn::HANDLED);
    let _good = sys.request_irq(irq, h, Flags::SHARED, "good").unwrap();
    fire(&sys, irq);
    fire(&sys, irq);
    assert!(bad.action().is_broken());
    assert_eq!(n.load(SeqCst), 2);
    assert!(!sys.irq_to_desc(irq).unwrap().in_progress());
}

// handle.c __handle_irq_event_percpu: WAKE_THREAD without a thread warns once.
#[test]
fn wake_thread_without_thread_fn_warns_once() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn::WAKE_THREAD, Flags::empty(), "w").unwrap();
    fire(&sys, irq);
    fire(&sys, irq);
    let n =
        sys.irq.drain_log(&sys).iter().filter(|l| l.contains("returned IRQ_WAKE_THREAD")).count();
    assert_eq!(n, 1);
}
