//! Flow-handler callback order (kernel/irq/chip.c, spec 1.3–1.4).

use super::*;
use std::sync::atomic::Ordering::SeqCst;

// chip.c handle_level_irq: mask_ack first, handle, cond_unmask.
#[test]
fn level_irq_masks_and_acks_before_handling_then_unmasks() {
    let (sys, _p) = machine(2);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::empty(), "lvl").unwrap();
    chip.take();
    fire(&sys, irq);
    assert_eq!(chip.take(), ["mask", "ack", "unmask"]);
    assert_eq!(n.load(SeqCst), 1);
}

// chip.c mask_ack_irq: a chip with irq_mask_ack gets that single call.
#[test]
fn level_irq_uses_mask_ack_when_the_chip_has_it() {
    let (sys, _p) = machine(1);
    let chip = RecChip::new(
        ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::MASK_ACK,
        ChipFlags::empty(),
    );
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "lvl").unwrap();
    chip.take();
    fire(&sys, irq);
    assert_eq!(chip.take(), ["mask_ack", "unmask"]);
}

// chip.c irq_disable: lazy disable — no chip call until an interrupt arrives; the
// level flow then leaves the line masked and never resends it (resend.c).
#[test]
fn lazy_disable_masks_level_line_only_when_it_fires_and_never_resends() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::TRIGGER_HIGH, "lvl").unwrap();
    chip.take();
    sys.disable_irq_nosync(irq).unwrap();
    assert_eq!(chip.take(), Vec::<&str>::new(), "lazy: no hardware access at disable");
    fire(&sys, irq);
    assert_eq!(chip.take(), ["mask", "ack"]);
    assert_eq!(n.load(SeqCst), 0);
    sys.enable_irq(irq).unwrap();
    assert_eq!(chip.take(), ["unmask"]);
    assert!(sys.irq_resend_pending().is_empty(), "level lines are never resent");
}

// chip.c __irq_disable: a chip with irq_disable is disabled eagerly.
#[test]
fn disable_is_eager_when_the_chip_has_irq_disable() {
    let (sys, _p) = machine(1);
    let chip = RecChip::new(
        ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::DISABLE,
        ChipFlags::empty(),
    );
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    chip.take();
    sys.disable_irq_nosync(irq).unwrap();
    assert_eq!(chip.take(), ["disable"]);
    assert!(sys.irq_to_desc(irq).unwrap().is_masked());
}

// chip.c handle_edge_irq: ack only, no mask.
#[test]
fn edge_irq_acks_without_masking() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "e").unwrap();
    chip.take();
    fire(&sys, irq);
    assert_eq!(chip.take(), ["ack"]);
}

// chip.c handle_edge_irq: edges arriving on another CPU while the handler runs set
// PENDING and mask+ack; the running CPU unmasks and runs exactly once more.
#[test]
fn edge_irq_in_progress_elsewhere_is_replayed_exactly_once() {
    let (sys, _p) = machine(2);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Edge);
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (s2, r2) = (sys.clone(), runs.clone());
    let _r = sys
        .request_irq(
            irq,
            move |_| {
                if r2.fetch_add(1, SeqCst) == 0 {
                    // Three more edges land on CPU 1 while CPU 0 is in the handler.
                    FakePlatform::enter_cpu(CpuId(1));
                    for _ in 0..3 {
                        fire(&s2, irq);
                    }
                    FakePlatform::enter_cpu(CpuId(0));
                }
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "e",
        )
        .unwrap();
    chip.take();
    fire(&sys, irq);
    assert_eq!(runs.load(SeqCst), 2, "one replay for any number of edges");
    assert_eq!(chip.take(), ["ack", "mask", "ack", "ack", "ack", "unmask"]);
    assert!(!sys.irq_to_desc(irq).unwrap().is_masked());
}

// chip.c handle_edge_irq + resend.c: an edge on a disabled line is remembered and
// replayed through irq_retrigger (or the software resend list) at enable.
#[test]
fn edge_on_disabled_line_is_replayed_at_enable() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Edge);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::TRIGGER_RISING, "e").unwrap();
    sys.disable_irq_nosync(irq).unwrap();
    chip.take();
    fire(&sys, irq);
    assert_eq!(chip.take(), ["mask", "ack"]);
    sys.enable_irq(irq).unwrap();
    assert_eq!(chip.take(), ["unmask"], "basic chip has no irq_retrigger");
    assert_eq!(sys.irq_resend_pending(), [irq], "no hw retrigger: software resend");
    sys.irq_resend_run(&crate::SoftIrq::entered());
    assert_eq!(n.load(SeqCst), 1);
}

// chip.c handle_simple_irq: no chip callbacks at all.
#[test]
fn simple_irq_makes_no_chip_calls() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Simple);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::empty(), "s").unwrap();
    chip.take();
    fire(&sys, irq);
    assert!(chip.take().is_empty());
    assert_eq!(n.load(SeqCst), 1);
    assert_eq!(sys.kstat_irqs_cpu(irq, CpuId(0)), 1);
}

// chip.c handle_untracked_irq: no statistics.
#[test]
fn untracked_irq_counts_nothing() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Untracked);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::empty(), "u").unwrap();
    fire(&sys, irq);
    assert_eq!((n.load(SeqCst), sys.kstat_irqs_cpu(irq, CpuId(0))), (1, 0));
}
