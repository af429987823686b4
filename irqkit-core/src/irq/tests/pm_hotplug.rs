//! Power management (kernel/irq/pm.c, spec 1.14), affinity (manage.c, spec 1.13) and
//! CPU hot-unplug migration (kernel/irq/cpuhotplug.c, spec 1.15).

use super::*;
use std::sync::atomic::Ordering::SeqCst;

// pm.c suspend_device_irqs: suspendable lines are disabled (and masked on
// MASK_ON_SUSPEND chips); NO_SUSPEND lines stay live; resume restores the depth.
#[test]
fn suspend_disables_all_but_no_suspend_lines() {
    let (sys, _p) = machine(1);
    let chip = RecChip::new(RecChip::basic().cbs, ChipFlags::MASK_ON_SUSPEND);
    let a = line(&sys, chip.clone(), FlowHandler::Level);
    let b = line(&sys, RecChip::basic(), FlowHandler::Level);
    let (na, ha) = counting(IrqReturn::HANDLED);
    let (nb, hb) = counting(IrqReturn::HANDLED);
    let _ra = sys.request_irq(a, ha, Flags::empty(), "disk").unwrap();
    let _rb = sys.request_irq(b, hb, Flags::NO_SUSPEND, "timer").unwrap();
    chip.take();
    sys.suspend_device_irqs();
    assert_eq!(chip.take(), ["mask"], "MASK_ON_SUSPEND masks at once");
    fire(&sys, a);
    fire(&sys, b);
    assert_eq!((na.load(SeqCst), nb.load(SeqCst)), (0, 1));
    sys.resume_device_irqs(true);
    sys.resume_device_irqs(false);
    assert_eq!(sys.irq_depth(a).unwrap(), 0);
    fire(&sys, a);
    assert_eq!(na.load(SeqCst), 1);
}

// pm.c irq_pm_handle_wakeup: an armed wakeup line that fires does not run its handler,
// aborts the suspend, and its edge is replayed on resume.
#[test]
fn armed_wakeup_irq_aborts_suspend_and_is_replayed_on_resume() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let (n, h) = counting(IrqReturn::HANDLED);
    let _r = sys.request_irq(irq, h, Flags::TRIGGER_RISING, "power-button").unwrap();
    sys.irq_set_irq_wake(irq, true).unwrap();
    sys.suspend_device_irqs();
    assert!(!sys.irq_pm_wakeup_pending());
    fire(&sys, irq);
    assert_eq!(n.load(SeqCst), 0, "handler does not run while armed");
    assert!(sys.irq_pm_wakeup_pending());
    sys.resume_device_irqs(false);
    assert_eq!(sys.irq_resend_pending(), [irq]);
    sys.irq_resend_run(&crate::SoftIrq::entered());
    assert_eq!(n.load(SeqCst), 1);
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
}

// pm.c resume_irq: enable_irq on a suspended line is refused as unbalanced.
#[test]
fn enable_of_suspended_line_is_refused() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Level);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    sys.suspend_device_irqs();
    assert!(sys.enable_irq(irq).is_err());
    sys.resume_device_irqs(false);
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
}

// manage.c irq_do_set_affinity: online-filtered, effective mask from the chip.
#[test]
fn set_affinity_programs_chip_and_records_effective() {
    let (sys, _p) = machine(4);
    let chip = RecChip::basic();
    let irq = line(&sys, chip.clone(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    let mut m = CpuMask::single(CpuId(2));
    m.set(CpuId(3));
    sys.irq_set_affinity(irq, &m).unwrap();
    assert_eq!(sys.irq_get_affinity(irq).unwrap(), m);
    assert_eq!(sys.irq_get_effective_affinity(irq).unwrap(), CpuMask::single(CpuId(2)));
    // Bad masks change nothing.
    assert!(sys.irq_set_affinity(irq, &CpuMask::single(CpuId(9))).is_err());
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    assert!(matches!(
        sys.irq_set_affinity(irq, &CpuMask::single(CpuId(1))),
        Err(IrqError::InvalidArgument(_))
    ));
    assert_eq!(sys.irq_get_affinity(irq).unwrap(), m);
    assert!(sys.irq_set_default_affinity(&CpuMask::single(CpuId(1))).is_err());
}

// manage.c irq_set_affinity_locked / migration.c irq_move_masked_irq: a MOVE_DEFERRED
// chip's mask waits in pending_mask until the interrupt path applies it; a mask with no
// online CPU is refused up front (Linux would drop it at the next interrupt).
#[test]
fn deferred_set_affinity_waits_for_irq_move_pending() {
    let (sys, _p) = machine(4);
    let chip = RecChip::new(RecChip::basic().cbs, ChipFlags::MOVE_DEFERRED);
    let irq = line(&sys, chip.clone(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    let eff = sys.irq_get_effective_affinity(irq).unwrap();
    chip.take();
    sys.irq_set_affinity(irq, &CpuMask::single(CpuId(3))).unwrap();
    assert!(chip.take().is_empty(), "the chip is not called in process context");
    assert_eq!(sys.irq_get_affinity(irq).unwrap(), CpuMask::single(CpuId(3)));
    assert_eq!(sys.irq_get_effective_affinity(irq).unwrap(), eff);
    sys.cpu(CpuId(2)).unwrap().set_online(false);
    let r = sys.irq_set_affinity(irq, &CpuMask::single(CpuId(2)));
    assert!(matches!(r, Err(IrqError::InvalidArgument(_))), "{r:?}");
    assert!(matches!(
        sys.irq_set_affinity(irq, &CpuMask::new()),
        Err(IrqError::InvalidArgument(_))
    ));
    assert_eq!(sys.irq_get_affinity(irq).unwrap(), CpuMask::single(CpuId(3)), "still pending");
    sys.irq_move_pending(irq).unwrap();
    assert_eq!(chip.take(), ["set_affinity"]);
    assert_eq!(sys.irq_get_effective_affinity(irq).unwrap(), CpuMask::single(CpuId(3)));
    sys.irq_move_pending(irq).unwrap();
    assert!(chip.take().is_empty(), "nothing pending any more");
}

// cpuhotplug.c migrate_one_irq: lines leave a dying CPU; a non-managed line with no
// other CPU in its mask is broken to all online CPUs.
#[test]
fn cpu_offline_migrates_and_breaks_affinity() {
    let (sys, _p) = machine(4);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    let mut m = CpuMask::single(CpuId(2));
    m.set(CpuId(3));
    sys.irq_set_affinity(irq, &m).unwrap();
    assert_eq!(sys.irq_cpu_offline(CpuId(2)).unwrap(), 0);
    assert_eq!(sys.irq_get_effective_affinity(irq).unwrap(), CpuMask::single(CpuId(3)));
    assert_eq!(sys.irq_cpu_offline(CpuId(3)).unwrap(), 1, "affinity broken");
    assert!(sys.irq_get_effective_affinity(irq).unwrap().is_subset_of(&sys.online_mask()));
    assert!(sys.irq.drain_log(&sys).contains(&format!("IRQ {irq}: no longer affine to CPU3")));
}

// irq/affinity.c group_cpus_evenly (one node): contiguous, balanced groups.
#[test]
fn managed_affinity_masks_spread_evenly() {
    let m = irq_create_affinity_masks(3, 8);
    assert_eq!(m.iter().map(|x| x.to_list_string()).collect::<Vec<_>>(), ["0-2", "3-5", "6-7"]);
    let m = irq_create_affinity_masks(6, 4);
    assert_eq!(m[5], CpuMask::single(CpuId(1)));
    assert!(irq_create_affinity_masks(0, 4).is_empty());
}
