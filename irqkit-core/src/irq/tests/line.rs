//! Line control (manage.c `disable_irq`, `enable_irq`, `irq_set_irq_wake`,
//! `__irq_set_trigger`; spec 1.6).

use super::*;

// manage.c __enable_irq: depth 0 → WARN "Unbalanced enable", never an underflow.
#[test]
fn unbalanced_enable_warns_and_is_a_typed_error() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    assert!(matches!(sys.enable_irq(irq), Err(IrqError::InvalidArgument(_))));
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    assert!(sys.irq.drain_log(&sys).contains(&format!("Unbalanced enable for IRQ {irq}")));
}

// manage.c: disable depth nests; only the last enable re-enables.
#[test]
fn disable_depth_nests() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    sys.disable_irq(irq, &task()).unwrap();
    sys.disable_irq_nosync(irq).unwrap();
    assert!(sys.disable_hardirq(irq));
    assert_eq!(sys.irq_depth(irq).unwrap(), 3);
    sys.enable_irq(irq).unwrap();
    sys.enable_irq(irq).unwrap();
    assert!(sys.irq_to_desc(irq).unwrap().is_disabled());
    sys.enable_irq(irq).unwrap();
    assert!(!sys.irq_to_desc(irq).unwrap().is_disabled());
}

// Bad input on line control: unknown irq, sleeping call in atomic context.
#[test]
fn line_control_bad_input_is_typed() {
    let (sys, _p) = machine(1);
    assert!(matches!(sys.disable_irq_nosync(12345), Err(IrqError::NotFound(_))));
    assert!(matches!(sys.enable_irq(12345), Err(IrqError::NotFound(_))));
    assert!(!sys.disable_hardirq(12345));
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    sys.preempt_disable();
    assert!(matches!(sys.disable_irq(irq, &task()), Err(IrqError::WrongContext(_))));
    assert!(matches!(sys.synchronize_irq(irq, &task()), Err(IrqError::WrongContext(_))));
    sys.preempt_enable();
    // enable before any setup: no chip.
    let bare = sys.irq_alloc_descs(1, 1, false).unwrap();
    assert!(sys.enable_irq(bare).is_err());
}

// manage.c __irq_set_trigger: SET_TYPE_MASKED masks around the change; LEVEL follows.
#[test]
fn set_irq_type_masks_around_change_and_tracks_level() {
    let (sys, _p) = machine(1);
    let chip = RecChip::new(RecChip::basic().cbs, ChipFlags::SET_TYPE_MASKED);
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    chip.take();
    sys.irq_set_irq_type(irq, Trigger::LEVEL_HIGH).unwrap();
    assert_eq!(chip.take(), ["mask", "set_type", "unmask"]);
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(d.is_level() && d.trigger() == Trigger::LEVEL_HIGH);
    sys.irq_set_irq_type(irq, Trigger::EDGE_RISING).unwrap();
    assert!(!d.is_level());
}

// manage.c irq_set_irq_wake: nested; unbalanced disable warns; no callback → error.
#[test]
fn irq_wake_nests_and_rejects_unbalanced_disable() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Level);
    chip.take();
    sys.irq_set_irq_wake(irq, true).unwrap();
    sys.irq_set_irq_wake(irq, true).unwrap();
    assert_eq!(chip.take(), ["set_wake"], "chip called on the first level only");
    sys.irq_set_irq_wake(irq, false).unwrap();
    assert!(sys.irq_to_desc(irq).unwrap().irqd().contains(IrqdState::WAKEUP_STATE));
    sys.irq_set_irq_wake(irq, false).unwrap();
    assert!(!sys.irq_to_desc(irq).unwrap().irqd().contains(IrqdState::WAKEUP_STATE));
    assert!(sys.irq_set_irq_wake(irq, false).is_err());
    let nowake = RecChip::new(ChipCallbacks::MASK | ChipCallbacks::UNMASK, ChipFlags::empty());
    let irq2 = line(&sys, nowake, FlowHandler::Level);
    assert!(matches!(sys.irq_set_irq_wake(irq2, true), Err(IrqError::Unsupported(_))));
    assert_eq!(sys.irq_to_desc(irq2).unwrap().inner.lock_irqsave(&sys).wake_depth(), 0);
}

// Bad input on the remaining calls: each a typed error, nothing changed.
#[test]
fn remaining_bad_inputs_are_typed_errors() {
    let (sys, _p) = machine(2);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    assert!(matches!(sys.irq_free_descs(irq, 1), Err(IrqError::Busy(_))));
    assert!(sys.irq_to_desc(irq).is_ok());
    assert!(matches!(
        sys.irq_set_irq_type(77_777, Trigger::EDGE_RISING),
        Err(IrqError::NotFound(_))
    ));
    assert!(matches!(
        sys.irq_set_managed_affinity(irq, &CpuMask::new()),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(sys.irq_cpu_offline(CpuId(7)), Err(IrqError::NotFound(_))));
    assert!(matches!(
        sys.irq_set_chained_handler(
            77_777,
            Arc::new(|_: &IrqSystem, _: &IrqDesc, _: &crate::HardIrq| {})
        ),
        Err(IrqError::NotFound(_))
    ));
    let bare = sys.irq_alloc_descs(1, 1, false).unwrap();
    assert!(matches!(
        sys.irq_set_handler(bare, FlowHandler::Edge),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(sys.irq_inject_interrupt(bare), Err(IrqError::InvalidArgument(_))));
}
