//! Set-up shared by the irqchip glue tests: a CPU taking one interrupt through a
//! controller's entry, a GICv3 brought up by its driver, and counting handlers.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod x86_ports;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_chips::gic::v3_driver::{GicV3Driver, ModelSysRegs};
use irqkit_chips::gic::{GicV3, GicV3Config, ModelMemory};
use irqkit_chips::irqchip::gicv3::{GicV3Irq, ModelGicV3Ports};
use irqkit_core::irq::{Flags, IrqReturn, Registration};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, HardIrq, IrqSystem};

/// Runs `entry` (a controller's `handle_irq`) on `cpu` as the CPU's interrupt entry
/// would: irqs masked, `irq_enter`, the entry, `irq_exit`; then back on CPU 0.
pub fn on_cpu_irq<R>(sys: &IrqSystem, cpu: u32, entry: impl FnOnce(&HardIrq) -> R) -> R {
    FakePlatform::enter_cpu(CpuId(cpu));
    let flags = sys.local_irq_save();
    let ctx = sys.irq_enter();
    let r = entry(&ctx);
    sys.irq_exit(ctx);
    sys.local_irq_restore(flags);
    FakePlatform::enter_cpu(CpuId(0));
    r
}

/// A 4-CPU system with a GICv3 model brought up by its driver (distributor, then per
/// CPU redistributor and CPU interface, then `per_cpu` for extra per-CPU set-up such as
/// LPIs), wrapped in the glue's `GicV3Irq`.
pub fn gicv3_system(
    cfg: GicV3Config,
    mem: Arc<ModelMemory>,
    split_eoi: bool,
    per_cpu: impl Fn(&GicV3Driver, &GicV3, u32),
) -> (Arc<IrqSystem>, Arc<GicV3>, GicV3Irq<ModelGicV3Ports>) {
    let (sys, platform) = FakePlatform::system(4);
    let gic = Arc::new(GicV3::new(cfg, mem).unwrap());
    let drv = GicV3Driver::probe(&gic.dist_view(0), split_eoi);
    drv.dist_init(&gic.dist_view(0), 0).unwrap();
    for cpu in 0..4 {
        drv.redist_init(&gic.redist_view(cpu), cpu).unwrap();
        drv.cpu_init(&ModelSysRegs { gic: &gic, cpu });
        per_cpu(&drv, &gic, cpu);
    }
    let irq = GicV3Irq::new(&sys, ModelGicV3Ports { gic: gic.clone(), platform }, drv).unwrap();
    (sys, gic, irq)
}

/// Requests `virq` with a handler that counts its runs and then calls `after` (e.g. to
/// lower a level line, as a driver reading its device would).
pub fn counting(
    sys: &Arc<IrqSystem>,
    virq: u32,
    name: &str,
    after: impl Fn() + Send + Sync + 'static,
) -> (Arc<AtomicU32>, Registration) {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let handler = move |_: &HardIrq| {
        h.fetch_add(1, Ordering::SeqCst);
        after();
        IrqReturn::HANDLED
    };
    (hits, sys.request_irq(virq, handler, Flags::empty(), name).unwrap())
}

/// A 4-CPU system with four local APIC models set up by their driver and a 24-pin
/// IO-APIC model, as the ports the x86 glue runs on.
pub fn x86_model_ports() -> (Arc<IrqSystem>, irqkit_chips::irqchip::x86::ModelX86Ports) {
    use irqkit_chips::x86::apic_driver::LapicDriver;
    let (sys, platform) = FakePlatform::system(4);
    let lapics = Arc::new(irqkit_chips::x86::LapicSet::new(4).unwrap());
    for cpu in 0..4 {
        LapicDriver::setup(&lapics.mmio_view(cpu));
    }
    let ioapic = irqkit_chips::x86::ioapic::IoApic::new(0, 24, lapics.clone()).unwrap();
    (sys, irqkit_chips::irqchip::x86::ModelX86Ports { lapics, ioapic, platform })
}
