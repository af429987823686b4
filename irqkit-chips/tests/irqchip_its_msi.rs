//! MSI → ITS → GIC hierarchy end to end on the GICv3+ITS model (Linux
//! drivers/irqchip/irq-gic-v3-its.c `its_irq_domain_alloc`, `its_irq_chip`,
//! `its_set_affinity`; irq-gic-v3-its-msi-parent.c `its_msi_prepare`;
//! kernel/irq/irqdomain.c hierarchy allocation).

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_chips::gic::its_driver::ItsDriver;
use irqkit_chips::gic::its_msi::ItsMsiDomain;
use irqkit_chips::gic::{GicV3, GicV3Config, ModelMemory};
use irqkit_chips::irqchip::gicv3::{GicV3Irq, ModelGicV3Ports};
use irqkit_chips::irqchip::its_msi::{ItsMsi, ModelItsPorts};
use irqkit_chips::mmio::Mmio;

use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem, Task};

const PROP: u64 = 0x10_0000;
const PEND: u64 = 0x20_0000;
const QUEUE: u64 = 0x40_0000;
const ITT: u64 = 0x50_0000;
const ITS_PA: u64 = 0x0800_0000;

struct Machine {
    sys: Arc<IrqSystem>,
    gic: Arc<GicV3>,
    irq: GicV3Irq<ModelGicV3Ports>,
    msi: ItsMsi<ModelItsPorts>,
}

fn machine() -> Machine {
    let mem = Arc::new(ModelMemory::new());
    let cfg = GicV3Config { its: true, ..GicV3Config::default() };
    let m2 = mem.clone();
    let (sys, gic, irq) = common::gicv3_system(cfg, mem.clone(), false, move |drv, gic, cpu| {
        let pend = PEND + cpu as u64 * 0x10000;
        drv.lpi_init(&gic.redist_view(cpu), &*m2, cpu, PROP, pend).unwrap();
    });
    let its = ItsDriver::init(&gic.its_view(0), &*mem, ITS_PA, QUEUE).unwrap();
    for cpu in 0..4u32 {
        its.mapc(&gic.its_view(0), &*mem, cpu as u16, cpu).unwrap();
        its.invall(&gic.its_view(0), &*mem, cpu as u16).unwrap();
    }
    let dom = ItsMsiDomain::new(1024, PROP, ITT, 0x1_0000).unwrap();
    let ports = ModelItsPorts { gic: gic.clone() };
    let msi = ItsMsi::new(&sys, irq.domain(), ports, its, dom).unwrap();
    Machine { sys, gic, irq, msi }
}

fn cpu_entry(m: &Machine, cpu: u32) -> Result<Option<u32>, IrqError> {
    common::on_cpu_irq(&m.sys, cpu, |ctx| m.irq.handle_irq(&m.sys, ctx))
}

/// The device's posted write of its MSI message; the bus supplies the DeviceID.
fn device_write(m: &Machine, virq: u32) {
    let (e, msg) = m.msi.msi_msg(virq).unwrap();
    assert_eq!(msg.data, e.event);
    m.gic.its_view(e.dev).write32((msg.address - ITS_PA) as usize, msg.data);
}

fn counter(m: &Machine, virq: u32, name: &str) -> (Arc<AtomicU32>, irqkit_core::irq::Registration) {
    common::counting(&m.sys, virq, name, || {})
}

#[test]
fn msi_vectors_are_mapped_through_the_its_and_delivered_once_each() {
    let m = machine();
    let first = m.msi.msi_alloc(&m.sys, 0x42, 3).unwrap();
    let regs: Vec<_> = (0..3).map(|i| counter(&m, first + i, "nvme")).collect();
    for i in 0..3 {
        let (e, msg) = m.msi.msi_msg(first + i).unwrap();
        assert_eq!((e.dev, e.event), (0x42, i));
        assert_eq!(msg.address, ITS_PA + 0x10040, "GITS_TRANSLATER doorbell");
        assert_eq!(m.gic.its_translate(0x42, i), Ok((e.lpi, 0)), "MAPTI on CPU 0's collection");
    }
    device_write(&m, first + 1);
    assert!(m.gic.irq_asserted(0));
    let lpi = m.msi.msi_msg(first + 1).unwrap().0.lpi;
    assert_eq!(cpu_entry(&m, 0), Ok(Some(lpi)));
    let counts: Vec<u32> = regs.iter().map(|(h, _)| h.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, vec![0, 1, 0]);
    assert!(!m.gic.irq_asserted(0) && !m.gic.lpi_pending(0, lpi));
    assert_eq!(cpu_entry(&m, 0), Ok(None));
    for (_, reg) in regs {
        reg.free(&Task::entered()).unwrap();
    }
    m.msi.msi_free(&m.sys, first, 3).unwrap();
    assert!(m.gic.its_translate(0x42, 1).is_err(), "DISCARD on free");
}

#[test]
fn lpi_is_not_delivered_until_unmask_enables_it_with_inv() {
    let m = machine();
    let virq = m.msi.msi_alloc(&m.sys, 7, 1).unwrap();
    // Mapped but never requested: the property table's Enable bit is clear.
    device_write(&m, virq);
    assert!(!m.gic.irq_asserted(0));
    let (hits, _reg) = counter(&m, virq, "late");
    // request_irq unmasked it (Enable + INV + SYNC): the LPI that stayed pending while
    // disabled is now delivered, once.
    assert!(m.gic.irq_asserted(0));
    let lpi = m.msi.msi_msg(virq).unwrap().0.lpi;
    assert_eq!(cpu_entry(&m, 0), Ok(Some(lpi)));
    assert_eq!(cpu_entry(&m, 0), Ok(None));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn set_affinity_issues_movi_and_the_lpi_follows() {
    let m = machine();
    let virq = m.msi.msi_alloc(&m.sys, 9, 1).unwrap();
    let (hits, _reg) = counter(&m, virq, "moved");
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(3))).unwrap();
    let (e, _) = m.msi.msi_msg(virq).unwrap();
    assert_eq!(m.gic.its_translate(9, 0), Ok((e.lpi, 3)));
    device_write(&m, virq);
    assert!(!m.gic.irq_asserted(0) && m.gic.irq_asserted(3));
    assert_eq!(cpu_entry(&m, 3), Ok(Some(e.lpi)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!m.gic.irq_asserted(3));
}

#[test]
fn bad_msi_allocations_give_typed_errors() {
    let m = machine();
    assert!(matches!(m.msi.msi_alloc(&m.sys, 1, 0), Err(IrqError::InvalidArgument(_))));
    m.msi.msi_alloc(&m.sys, 1, 2).unwrap();
    assert!(matches!(m.msi.msi_alloc(&m.sys, 1, 2), Err(IrqError::Busy(_))), "prepared twice");
    assert!(matches!(m.msi.msi_msg(4000), Err(IrqError::NotFound(_))));
    // An event the device has no mapping for: the ITS drops it, nothing is raised.
    m.gic.its_view(1).write32(0x10040, 5);
    assert!((0..4).all(|c| !m.gic.irq_asserted(c)));
}
