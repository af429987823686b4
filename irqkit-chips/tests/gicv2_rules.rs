//! GICv2 model against the architecture rules (spec §7.2; QEMU hw/intc/arm_gic.c models
//! the same state machine, Linux drivers/irqchip/irq-gic.c relies on it).

use irqkit_chips::gic::v2_cpuif::*;
use irqkit_chips::gic::v2_dist::*;
use irqkit_chips::gic::{GicV2, INTID_SPURIOUS};
use irqkit_chips::mmio::{Mmio, MmioError, Width};

const SPI: u32 = 40;

/// A GIC with distributor and both CPU interfaces enabled, PMR 0xF0, SPI 40 enabled,
/// priority 0xA0, targeted at CPU 0.
fn gic(edge: bool) -> GicV2 {
    let g = GicV2::new(64, 2).unwrap();
    let d = g.dist_view(0);
    d.write32(GICD_CTLR, 1);
    for cpu in 0..2 {
        let c = g.cpuif_view(cpu);
        c.write32(GICC_PMR, 0xF0);
        c.write32(GICC_CTLR, ctlr::ENABLE_GRP0);
    }
    d.write8(GICD_IPRIORITYR + SPI as usize, 0xA0);
    d.write8(GICD_ITARGETSR + SPI as usize, 1);
    if edge {
        d.write32(GICD_ICFGR + 8, 2 << (2 * (SPI % 16)));
    }
    d.write32(GICD_ISENABLER + 4, 1 << (SPI % 32));
    g
}

fn iar(g: &GicV2, cpu: u32) -> u32 {
    g.cpuif_view(cpu).read32(GICC_IAR)
}
fn eoi(g: &GicV2, cpu: u32, v: u32) {
    g.cpuif_view(cpu).write32(GICC_EOIR, v)
}

#[test]
fn level_spi_stays_pending_after_eoi_while_line_asserted() {
    let g = gic(false);
    g.set_line(SPI, true).unwrap();
    assert!(g.irq_asserted(0));
    assert_eq!(iar(&g, 0), SPI);
    // Active and (because the line is high) still pending; not signalled while active.
    assert!(!g.irq_asserted(0));
    assert_ne!(g.dist_view(0).read32(GICD_ISPENDR + 4) & (1 << 8), 0);
    eoi(&g, 0, SPI);
    assert!(g.irq_asserted(0), "level line still high: signalled again");
    assert_eq!(iar(&g, 0), SPI);
    g.set_line(SPI, false).unwrap();
    eoi(&g, 0, SPI);
    assert!(!g.irq_asserted(0));
    assert_eq!(iar(&g, 0), INTID_SPURIOUS);
}

#[test]
fn level_icpendr_clears_only_the_latch() {
    let g = gic(false);
    g.set_line(SPI, true).unwrap();
    g.dist_view(0).write32(GICD_ICPENDR + 4, 1 << 8);
    assert!(g.irq_asserted(0));
}

#[test]
fn edge_while_active_becomes_active_pending_and_is_taken_after_eoi() {
    let g = gic(true);
    g.set_line(SPI, true).unwrap();
    g.set_line(SPI, false).unwrap();
    assert_eq!(iar(&g, 0), SPI);
    g.set_line(SPI, true).unwrap(); // second edge while active
    let d = g.dist_view(0);
    assert_ne!(d.read32(GICD_ISACTIVER + 4) & (1 << 8), 0);
    assert_ne!(d.read32(GICD_ISPENDR + 4) & (1 << 8), 0);
    assert!(!g.irq_asserted(0), "active INTIDs are not candidates");
    eoi(&g, 0, SPI);
    assert!(g.irq_asserted(0));
    assert_eq!(iar(&g, 0), SPI);
    eoi(&g, 0, SPI);
    // A held-high edge line does not re-trigger.
    assert_eq!(iar(&g, 0), INTID_SPURIOUS);
}

#[test]
fn iar_returns_1023_when_nothing_above_pmr() {
    let g = gic(false);
    g.cpuif_view(0).write32(GICC_PMR, 0xA0); // equal priority is masked
    g.set_line(SPI, true).unwrap();
    assert!(!g.irq_asserted(0));
    assert_eq!(iar(&g, 0), INTID_SPURIOUS);
    assert_eq!(g.cpuif_view(0).read32(GICC_HPPIR), INTID_SPURIOUS);
    g.cpuif_view(0).write32(GICC_PMR, 0xA8);
    assert_eq!(g.cpuif_view(0).read32(GICC_HPPIR), SPI);
    assert_eq!(iar(&g, 0), SPI);
}

#[test]
fn higher_priority_preempts_only_with_higher_group_priority() {
    let g = gic(false);
    let d = g.dist_view(0);
    // SPI 41 at 0x90: with BPR 2 the group priority is bits [7:3] => 0x90 < 0xA0 preempts.
    d.write8(GICD_IPRIORITYR + 41, 0x90);
    d.write8(GICD_ITARGETSR + 41, 1);
    d.write32(GICD_ISENABLER + 4, 1 << 9);
    g.set_line(SPI, true).unwrap();
    assert_eq!(iar(&g, 0), SPI);
    assert_eq!(g.cpuif_view(0).read32(GICC_RPR), 0xA0);
    g.set_line(41, true).unwrap();
    assert!(g.irq_asserted(0));
    assert_eq!(iar(&g, 0), 41);
    eoi(&g, 0, 41);
    eoi(&g, 0, SPI);
    g.set_line(41, false).unwrap();
    // BPR 5: group priority is bits [7:6], so 0x90 and 0xA0 share group priority 0x80.
    g.cpuif_view(0).write32(GICC_BPR, 5);
    assert_eq!(iar(&g, 0), SPI);
    assert_eq!(g.cpuif_view(0).read32(GICC_RPR), 0x80);
    g.set_line(41, true).unwrap();
    assert!(!g.irq_asserted(0), "equal group priority never preempts");
    assert_eq!(iar(&g, 0), INTID_SPURIOUS);
    // 0x70 has group priority 0x40 < 0x80: preempts.
    d.write8(GICD_IPRIORITYR + 42, 0x70);
    d.write8(GICD_ITARGETSR + 42, 1);
    d.write32(GICD_ISENABLER + 4, 1 << 10);
    g.set_line(42, true).unwrap();
    assert_eq!(iar(&g, 0), 42);
    eoi(&g, 0, 42);
    g.set_line(42, false).unwrap();
    g.set_line(SPI, false).unwrap();
    eoi(&g, 0, SPI);
    assert_eq!(iar(&g, 0), 41);
}

#[test]
fn eoimode1_needs_dir_to_deactivate() {
    let g = gic(true);
    let c = g.cpuif_view(0);
    c.write32(GICC_CTLR, ctlr::ENABLE_GRP0 | ctlr::EOI_MODE);
    g.set_line(SPI, true).unwrap();
    assert_eq!(iar(&g, 0), SPI);
    eoi(&g, 0, SPI);
    assert_eq!(c.read32(GICC_RPR), 0xFF, "priority dropped");
    assert_ne!(g.dist_view(0).read32(GICD_ISACTIVER + 4) & (1 << 8), 0, "still active");
    g.set_line(SPI, false).unwrap();
    g.set_line(SPI, true).unwrap();
    assert_eq!(iar(&g, 0), INTID_SPURIOUS, "active: not taken again before DIR");
    // Deactivation from another CPU is allowed.
    g.cpuif_view(1).write32(GICC_CTLR, ctlr::ENABLE_GRP0 | ctlr::EOI_MODE);
    g.cpuif_view(1).write32(GICC_DIR, SPI);
    assert_eq!(g.dist_view(0).read32(GICD_ISACTIVER + 4) & (1 << 8), 0);
    assert_eq!(iar(&g, 0), SPI);
}

#[test]
fn dir_in_eoimode0_is_ignored() {
    let g = gic(true);
    g.set_line(SPI, true).unwrap();
    assert_eq!(iar(&g, 0), SPI);
    g.cpuif_view(0).write32(GICC_DIR, SPI);
    assert_ne!(g.dist_view(0).read32(GICD_ISACTIVER + 4) & (1 << 8), 0);
}

#[test]
fn sgi_source_cpu_is_reported() {
    let g = gic(false);
    g.dist_view(0).write8(GICD_IPRIORITYR + 3, 0x80);
    // CPU 1 sends SGI 3 to CPU 0 (target list), CPU 0 sends it to itself (filter 2).
    g.dist_view(1).write32(GICD_SGIR, (1 << 16) | 3);
    g.dist_view(0).write32(GICD_SGIR, (2 << 24) | 3);
    assert_eq!(g.dist_view(0).read8(GICD_SPENDSGIR + 3), 0b11);
    let v = iar(&g, 0);
    assert_eq!(v, 3, "lowest source CPU (0) first");
    eoi(&g, 0, v);
    let v = iar(&g, 0);
    assert_eq!(v, 3 | (1 << 10), "then source CPU 1 in bits [12:10]");
    eoi(&g, 0, v);
    assert_eq!(iar(&g, 0), INTID_SPURIOUS);
}

#[test]
fn sgi_filter_all_but_self() {
    let g = gic(false);
    g.dist_view(0).write32(GICD_SGIR, (1 << 24) | 5);
    assert_eq!(g.dist_view(0).read8(GICD_SPENDSGIR + 5), 0);
    assert_eq!(g.dist_view(1).read8(GICD_SPENDSGIR + 5), 1);
    assert_eq!(iar(&g, 1), 5);
}

#[test]
fn group1_is_not_acknowledged_without_ackctl() {
    let g = gic(false);
    g.dist_view(0).write32(GICD_CTLR, 3);
    g.dist_view(0).write32(GICD_IGROUPR + 4, 1 << 8);
    g.cpuif_view(0).write32(GICC_CTLR, 3);
    g.set_line(SPI, true).unwrap();
    assert_eq!(iar(&g, 0), 1022);
    g.cpuif_view(0).write32(GICC_CTLR, 3 | ctlr::ACK_CTL);
    assert_eq!(iar(&g, 0), SPI);
}

#[test]
fn group0_with_fiqen_signals_fiq() {
    let g = gic(false);
    g.cpuif_view(0).write32(GICC_CTLR, ctlr::ENABLE_GRP0 | ctlr::FIQ_EN);
    g.set_line(SPI, true).unwrap();
    let l = g.cpu_lines(0);
    assert!(l.fiq && !l.irq);
}

#[test]
fn spi_routed_to_no_cpu_is_never_signalled() {
    let g = gic(false);
    g.dist_view(0).write8(GICD_ITARGETSR + SPI as usize, 0);
    g.set_line(SPI, true).unwrap();
    assert!(!g.irq_asserted(0) && !g.irq_asserted(1));
    assert_eq!(iar(&g, 0), INTID_SPURIOUS);
    assert_eq!(iar(&g, 1), INTID_SPURIOUS);
}

#[test]
fn ties_go_to_the_lowest_intid() {
    let g = gic(false);
    let d = g.dist_view(0);
    d.write8(GICD_IPRIORITYR + 33, 0xA0);
    d.write8(GICD_ITARGETSR + 33, 1);
    d.write32(GICD_ISENABLER + 4, 1 << 1);
    g.set_line(SPI, true).unwrap();
    g.set_line(33, true).unwrap();
    assert_eq!(iar(&g, 0), 33);
}

#[test]
fn bad_accesses_are_typed_errors() {
    let g = gic(false);
    let d = g.dist_view(0);
    assert_eq!(d.read(0x1000, Width::W32), Err(MmioError::OutOfRange { offset: 0x1000 }));
    assert!(matches!(d.read(GICD_CTLR, Width::W8), Err(MmioError::BadWidth { .. })));
    assert!(matches!(d.read(GICD_CTLR, Width::W64), Err(MmioError::BadWidth { .. })));
    assert!(matches!(d.read(GICD_CTLR + 2, Width::W32), Err(MmioError::BadWidth { .. })));
    assert!(g.cpuif_view(0).write(0x2000, Width::W32, 0).is_err());
    assert_eq!(g.cpuif_view(7).read(GICC_IAR, Width::W32), Err(MmioError::NoSuchCpu(7)));
    assert!(g.set_line(5, true).is_err());
    assert!(g.set_line(64, true).is_err());
    assert!(g.set_ppi_line(9, 20, true).is_err());
    assert!(GicV2::new(33, 1).is_err());
    assert!(GicV2::new(64, 9).is_err());
    // Reserved offsets inside the frame are RAZ/WI.
    assert_eq!(d.read(0xE00, Width::W32), Ok(0));
}

#[test]
fn typer_reports_lines_and_cpus() {
    let g = gic(false);
    assert_eq!(g.dist_view(0).read32(GICD_TYPER), 1 | (1 << 5));
    assert_eq!(g.dist_view(0).read32(GICD_IIDR) & 0xFF0FFF, 0x02043B);
    // SGIs are edge and always enabled.
    assert_eq!(g.dist_view(0).read32(GICD_ICFGR), 0xAAAA_AAAA);
    g.dist_view(0).write32(GICD_ICENABLER, 0xFFFF_FFFF);
    assert_eq!(g.dist_view(0).read32(GICD_ISENABLER) & 0xFFFF, 0xFFFF);
}

#[test]
fn priority_and_bpr_are_masked_to_implemented_bits() {
    let g = gic(false);
    g.dist_view(0).write8(GICD_IPRIORITYR + 50, 0xFF);
    assert_eq!(g.dist_view(0).read8(GICD_IPRIORITYR + 50), 0xF8);
    g.cpuif_view(0).write32(GICC_BPR, 0);
    assert_eq!(g.cpuif_view(0).read32(GICC_BPR), 2);
}

#[test]
fn notifier_reports_line_changes() {
    use std::sync::{Arc, Mutex};
    let g = gic(false);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    g.set_notifier(Arc::new(move |cpu, l| s2.lock().unwrap().push((cpu, l.irq))));
    g.set_line(SPI, true).unwrap();
    let v = iar(&g, 0);
    g.set_line(SPI, false).unwrap();
    eoi(&g, 0, v);
    assert_eq!(*seen.lock().unwrap(), vec![(0, true), (0, false)]);
}

#[test]
fn eoi_of_an_unimplemented_intid_is_ignored() {
    let g = gic(false);
    g.set_line(SPI, true).unwrap();
    assert_eq!(iar(&g, 0), SPI);
    eoi(&g, 0, 100); // beyond the 64 implemented INTIDs
    eoi(&g, 0, 1023);
    assert_eq!(g.cpuif_view(0).read32(GICC_RPR), 0xA0, "no priority drop");
    eoi(&g, 0, SPI);
    assert_eq!(g.cpuif_view(0).read32(GICC_RPR), 0xFF);
}

#[test]
fn a_ppi_is_private_to_its_cpu() {
    let g = gic(false);
    for cpu in 0..2 {
        g.dist_view(cpu).write8(GICD_IPRIORITYR + 27, 0x80);
        g.dist_view(cpu).write32(GICD_ISENABLER, 1 << 27);
    }
    g.set_ppi_line(1, 27, true).unwrap();
    assert!(!g.irq_asserted(0) && g.irq_asserted(1));
    assert_eq!(g.dist_view(0).read32(GICD_ISPENDR) & (1 << 27), 0, "banked view of CPU 0");
    assert_ne!(g.dist_view(1).read32(GICD_ISPENDR) & (1 << 27), 0);
    assert_eq!(iar(&g, 1), 27);
    g.set_ppi_line(1, 27, false).unwrap();
    eoi(&g, 1, 27);
    assert_eq!(iar(&g, 1), INTID_SPURIOUS);
    assert!(g.set_ppi_line(0, 40, true).is_err(), "not a PPI");
}
