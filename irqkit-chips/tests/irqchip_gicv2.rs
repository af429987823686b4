//! GICv2 glue end to end: domain + chip + `gic_handle_irq` over the driver and the
//! model (Linux drivers/irqchip/irq-gic.c `gic_irq_domain_translate`,
//! `gic_irq_domain_map`, `gic_handle_irq`, `gic_eoi_irq`, `gic_set_affinity`).

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_chips::gic::v2_dist::{GICD_ISACTIVER, GICD_ITARGETSR};
use irqkit_chips::gic::v2_driver::GicV2Driver;
use irqkit_chips::gic::GicV2;
use irqkit_chips::irqchip::gicv2::{GicV2Irq, ModelGicV2Ports};
use irqkit_chips::irqchip::gicv3::{GIC_IRQ_TYPE_LPI, GIC_PPI, GIC_SPI};
use irqkit_chips::mmio::Mmio;

use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem};

const LEVEL_HIGH: u32 = 4;
const EDGE_RISING: u32 = 1;

struct Machine {
    sys: Arc<IrqSystem>,
    gic: Arc<GicV2>,
    irq: GicV2Irq<ModelGicV2Ports>,
}

fn machine(split_eoi: bool) -> Machine {
    let (sys, platform) = FakePlatform::system(4);
    let gic = Arc::new(GicV2::new(128, 4).unwrap());
    let drv = GicV2Driver::probe(&gic.dist_view(0), split_eoi);
    let mask = drv.cpu_init(0, &gic.dist_view(0), &gic.cpuif_view(0)).unwrap();
    drv.dist_init(&gic.dist_view(0), mask);
    for cpu in 1..4 {
        drv.cpu_init(cpu, &gic.dist_view(cpu), &gic.cpuif_view(cpu)).unwrap();
    }
    let irq = GicV2Irq::new(&sys, 0, ModelGicV2Ports { gic: gic.clone(), platform }, drv).unwrap();
    Machine { sys, gic, irq }
}

fn cpu_entry(m: &Machine, cpu: u32) -> Result<u32, IrqError> {
    common::on_cpu_irq(&m.sys, cpu, |ctx| m.irq.handle_irq(&m.sys, ctx))
}

fn active(m: &Machine, intid: u32) -> bool {
    m.gic.dist_view(0).read32(GICD_ISACTIVER + (intid / 32 * 4) as usize) & (1 << (intid % 32)) != 0
}

fn counting(
    m: &Machine,
    virq: u32,
    clear: Option<u32>,
) -> (Arc<AtomicU32>, irqkit_core::irq::Registration) {
    let g = m.gic.clone();
    common::counting(&m.sys, virq, "dev", move || {
        if let Some(l) = clear {
            g.set_line(l, false).unwrap();
        }
    })
}

#[test]
fn level_spi_runs_once_and_returns_to_inactive_in_both_eoi_modes() {
    for split in [false, true] {
        let m = machine(split);
        let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 32, LEVEL_HIGH]).unwrap();
        let (hits, _reg) = counting(&m, virq, Some(64));
        m.gic.set_line(64, true).unwrap();
        assert!(m.gic.irq_asserted(0));
        assert_eq!(cpu_entry(&m, 0), Ok(1));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(!active(&m, 64) && !m.gic.irq_asserted(0), "split_eoi={split}");
    }
}

#[test]
fn edge_spi_is_handled_once() {
    let m = machine(false);
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 40, EDGE_RISING]).unwrap();
    let (hits, _reg) = counting(&m, virq, None);
    m.gic.set_line(72, true).unwrap();
    m.gic.set_line(72, false).unwrap();
    assert_eq!(cpu_entry(&m, 0), Ok(1));
    assert_eq!(cpu_entry(&m, 0), Ok(0));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!active(&m, 72));
}

#[test]
fn set_affinity_writes_itargetsr_and_the_interrupt_follows() {
    let m = machine(false);
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 33, LEVEL_HIGH]).unwrap();
    let (hits, _reg) = counting(&m, virq, Some(65));
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(3))).unwrap();
    assert_eq!(m.gic.dist_view(0).read8(GICD_ITARGETSR + 65), 1 << 3);
    m.gic.set_line(65, true).unwrap();
    assert!(!m.gic.irq_asserted(0) && m.gic.irq_asserted(3));
    assert_eq!(cpu_entry(&m, 3), Ok(1));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn bad_specifiers_give_typed_errors() {
    let m = machine(false);
    let inval = |r: Result<u32, IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.irq.map_fwspec(&m.sys, &[9, 1, LEVEL_HIGH])), "unknown type");
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_SPI, 96, LEVEL_HIGH])), "beyond 128 INTIDs");
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_PPI, 16, LEVEL_HIGH])));
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_IRQ_TYPE_LPI, 8192, EDGE_RISING])), "no LPIs");
    assert!(inval(m.sys.irq_create_mapping(Some(m.irq.domain()), 128)));
}
