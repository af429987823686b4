//! The four KUnit cases of kernel/irq/irq_test.c (suite "irq_test_cases", spec 1.18),
//! rewritten for irqkit: a no-op fake chip that copies affinity to the effective mask
//! (SKIP_SET_WAKE), handle_simple_irq, and a freshly allocated descriptor.

use super::*;
use crate::irq::chip_state::{irq_shutdown_and_deactivate, irq_startup_managed};

struct FakeIrqChip;

impl IrqChip for FakeIrqChip {
    fn name(&self) -> &str {
        "fake"
    }
    fn flags(&self) -> ChipFlags {
        ChipFlags::SKIP_SET_WAKE
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::SET_AFFINITY
    }
    fn set_affinity(
        &self,
        _d: &IrqData,
        m: &CpuMask,
        _f: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        Ok((SetResult::Ok, *m))
    }
}

fn fake_line(sys: &IrqSystem) -> u32 {
    let irq = sys.irq_alloc_descs(1, 1, false).unwrap();
    sys.irq_set_chip_and_handler(irq, Arc::new(FakeIrqChip), FlowHandler::Simple).unwrap();
    irq
}

fn noop(_: &crate::HardIrq) -> IrqReturn {
    IrqReturn::HANDLED
}

// irq_test.c irq_disable_depth_test.
#[test]
fn irq_disable_depth_test() {
    let (sys, _p) = machine(1);
    let irq = fake_line(&sys);
    let r = sys.request_irq(irq, noop, Flags::empty(), "test_irq").unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    sys.disable_irq(irq, &task()).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    sys.enable_irq(irq).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    r.free(&task()).unwrap();
}

// irq_test.c irq_free_disabled_test.
#[test]
fn irq_free_disabled_test() {
    let (sys, _p) = machine(1);
    let irq = fake_line(&sys);
    let r = sys.request_irq(irq, noop, Flags::empty(), "test_irq").unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    sys.disable_irq(irq, &task()).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    r.free(&task()).unwrap();
    assert!(sys.irq_depth(irq).unwrap() >= 1);
    let r = sys.request_irq(irq, noop, Flags::empty(), "test_irq").unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    r.free(&task()).unwrap();
}

// irq_test.c irq_shutdown_depth_test: shutdown increments depth, so
// disable → shutdown → startup_managed keeps the line disabled.
#[test]
fn irq_shutdown_depth_test() {
    let (sys, _p) = machine(2);
    let irq = fake_line(&sys);
    sys.irq_set_managed_affinity(irq, &CpuMask::first_n(2)).unwrap();
    let r = sys.request_irq(irq, noop, Flags::empty(), "test_irq").unwrap();
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(d.is_activated() && d.is_started() && d.is_managed());
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    sys.disable_irq(irq, &task()).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    {
        let mut g = d.inner.lock_irqsave(&sys);
        irq_shutdown_and_deactivate(&sys, d, &mut g);
    }
    assert!(!d.is_activated() && !d.is_started());
    {
        let mut g = d.inner.lock_irqsave(&sys);
        assert!(crate::irq::domain::irq_activate(&sys, d, &mut g).is_ok());
        irq_startup_managed(&sys, d, &mut g);
    }
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    sys.enable_irq(irq).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    r.free(&task()).unwrap();
}

// irq_test.c irq_cpuhotplug_test: a managed line affine to CPU1 survives CPU1 going
// down and up with its disable depth intact.
#[test]
fn irq_cpuhotplug_test() {
    let (sys, _p) = machine(2);
    let irq = fake_line(&sys);
    sys.irq_set_managed_affinity(irq, &CpuMask::single(CpuId(1))).unwrap();
    let r = sys.request_irq(irq, noop, Flags::empty(), "test_irq").unwrap();
    let d = sys.irq_to_desc(irq).unwrap();
    assert!(d.is_activated() && d.is_started() && d.is_managed());
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    sys.disable_irq(irq, &task()).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    sys.irq_cpu_offline(CpuId(1)).unwrap();
    assert!(sys.irq_depth(irq).unwrap() >= 1);
    sys.irq_cpu_online(CpuId(1)).unwrap();
    assert_eq!(sys.irq_depth(irq).unwrap(), 1);
    sys.enable_irq(irq).unwrap();
    assert!(d.is_activated() && d.is_started());
    assert_eq!(sys.irq_depth(irq).unwrap(), 0);
    r.free(&task()).unwrap();
}
