//! GICv3 glue end to end: irq domain + chip + `gic_handle_irq` over the driver and the
//! model (Linux drivers/irqchip/irq-gic-v3.c: `gic_irq_domain_translate`,
//! `gic_irq_domain_map`, `gic_handle_irq`, `gic_eoi_irq`, `gic_set_affinity`).

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_chips::gic::v3::cpu_affinity;
use irqkit_chips::gic::v3_dist::{GICD_ICFGR, GICD_IROUTER, GICD_ISACTIVER, GICD_ISPENDR};
use irqkit_chips::gic::{GicV3, GicV3Config, ModelMemory};
use irqkit_chips::irqchip::gicv3::{GicV3Irq, ModelGicV3Ports, GIC_PPI, GIC_SPI};
use irqkit_chips::mmio::Mmio;
use irqkit_core::irq::{Flags, IrqReturn, Trigger};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem, Task};

const LEVEL_HIGH: u32 = 4;
const EDGE_RISING: u32 = 1;

struct Machine {
    sys: Arc<IrqSystem>,
    gic: Arc<GicV3>,
    irq: GicV3Irq<ModelGicV3Ports>,
}

fn machine() -> Machine {
    machine_with(false)
}

fn machine_with(split_eoi: bool) -> Machine {
    let mem = Arc::new(ModelMemory::new());
    let (sys, gic, irq) =
        common::gicv3_system(GicV3Config::default(), mem, split_eoi, |_, _, _| {});
    Machine { sys, gic, irq }
}

/// The arch entry on `cpu`: mask, irq_enter, gic_handle_irq, irq_exit, restore.
fn cpu_entry(m: &Machine, cpu: u32) -> Result<Option<u32>, IrqError> {
    common::on_cpu_irq(&m.sys, cpu, |ctx| m.irq.handle_irq(&m.sys, ctx))
}

fn asserted_cpus(gic: &GicV3) -> Vec<u32> {
    (0..4).filter(|c| gic.irq_asserted(*c)).collect()
}

fn bit(gic: &GicV3, bank: usize, intid: u32) -> bool {
    gic.dist_view(0).read32(bank + (intid / 32 * 4) as usize) & (1 << (intid % 32)) != 0
}

#[test]
fn level_spi_fasteoi_handler_runs_once_and_eoi_returns_it_to_inactive() {
    let m = machine();
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 8, LEVEL_HIGH]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let (h, g) = (hits.clone(), m.gic.clone());
    // The device's handler clears the device condition: the line drops before the EOI.
    let reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                g.set_line(40, false).unwrap();
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "uart",
        )
        .unwrap();
    m.gic.set_line(40, true).unwrap();
    assert_eq!(asserted_cpus(&m.gic), vec![0], "SPIs route to the boot CPU after init");
    assert_eq!(cpu_entry(&m, 0), Ok(Some(40)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!bit(&m.gic, GICD_ISACTIVER, 40) && !bit(&m.gic, GICD_ISPENDR, 40));
    assert!(asserted_cpus(&m.gic).is_empty());
    assert_eq!(cpu_entry(&m, 0), Ok(None), "nothing pending: IAR reads 1023");
    assert_eq!(m.sys.irq_to_desc(virq).unwrap().total_count(), 1);
    assert_eq!(reg.free(&Task::entered()).unwrap(), "uart");
}

#[test]
fn level_spi_still_asserted_after_eoi_is_taken_again() {
    let m = machine();
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 9, LEVEL_HIGH]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let _reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "stuck",
        )
        .unwrap();
    m.gic.set_line(41, true).unwrap();
    assert_eq!(cpu_entry(&m, 0), Ok(Some(41)));
    assert!(m.gic.irq_asserted(0), "level line still high: pending again after EOI");
    m.gic.set_line(41, false).unwrap();
    assert_eq!(cpu_entry(&m, 0), Ok(None));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn edge_spi_specifier_programs_icfgr_and_is_handled_once() {
    let m = machine();
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 20, EDGE_RISING]).unwrap();
    assert_eq!(m.sys.irq_to_desc(virq).unwrap().trigger(), Trigger::EDGE_RISING);
    let icfgr = m.gic.dist_view(0).read32(GICD_ICFGR + (52 / 16 * 4));
    assert_ne!(icfgr & (2 << (2 * (52 % 16))), 0, "ICFGR marks INTID 52 edge");
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let _reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "edge",
        )
        .unwrap();
    m.gic.set_line(52, true).unwrap();
    m.gic.set_line(52, false).unwrap();
    assert_eq!(cpu_entry(&m, 0), Ok(Some(52)));
    assert_eq!(cpu_entry(&m, 0), Ok(None));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!bit(&m.gic, GICD_ISACTIVER, 52));
}

#[test]
fn set_affinity_writes_irouter_and_the_interrupt_follows() {
    let m = machine();
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 10, LEVEL_HIGH]).unwrap();
    let seen = Arc::new(AtomicU32::new(u32::MAX));
    let (s, g, sys) = (seen.clone(), m.gic.clone(), m.sys.clone());
    let _reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                s.store(sys.current_cpu().unwrap().0, Ordering::SeqCst);
                g.set_line(42, false).unwrap();
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "moved",
        )
        .unwrap();
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(2))).unwrap();
    assert_eq!(m.gic.dist_view(0).read64(GICD_IROUTER + 42 * 8), cpu_affinity(2));
    m.gic.set_line(42, true).unwrap();
    assert_eq!(asserted_cpus(&m.gic), vec![2]);
    assert_eq!(cpu_entry(&m, 2), Ok(Some(42)));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(asserted_cpus(&m.gic).is_empty());
}

#[test]
fn ppi_specifier_maps_a_percpu_devid_line() {
    let m = machine();
    // The arch timer: PPI 14 = INTID 30, level-high.
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_PPI, 14, LEVEL_HIGH]).unwrap();
    let desc = m.sys.irq_to_desc(virq).unwrap();
    assert!(desc.is_per_cpu());
    let e = m.sys.request_irq(virq, |_| IrqReturn::HANDLED, Flags::empty(), "timer");
    assert!(
        matches!(e, Err(IrqError::InvalidArgument(_))),
        "per-cpu-devid needs request_percpu_irq"
    );
}

#[test]
fn bad_specifiers_and_hwirqs_give_typed_errors() {
    let m = machine();
    let inval = |r: Result<u32, IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.irq.map_fwspec(&m.sys, &[7, 1, LEVEL_HIGH])), "unknown type");
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_SPI, 5000, LEVEL_HIGH])), "SPI out of range");
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_SPI, u32::MAX, LEVEL_HIGH])), "overflow");
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_PPI, 16, LEVEL_HIGH])), "PPI out of range");
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_SPI, 3])), "two cells");
    assert!(inval(m.sys.irq_create_mapping(Some(m.irq.domain()), 5000)), "hwirq > TYPER");
    // The GIC accepts level-high and edge-rising only.
    assert!(inval(m.irq.map_fwspec(&m.sys, &[GIC_SPI, 11, 8])), "level-low");
}

#[test]
fn unmapped_spi_is_reported_and_deactivated() {
    let m = machine();
    // Enable INTID 60 behind the domain's back: nobody mapped it.
    let (d, r) = (m.gic.dist_view(0), m.gic.redist_view(0));
    let drv = m.irq.chip().driver();
    drv.set_type(&d, &r, 60, 0, irqkit_chips::trigger::Trigger::EdgeRising).unwrap();
    drv.unmask(&d, &r, 60, 0).unwrap();
    m.gic.set_line(60, true).unwrap();
    m.gic.set_line(60, false).unwrap();
    assert!(matches!(cpu_entry(&m, 0), Err(IrqError::NotFound(_))));
    assert!(!bit(&m.gic, GICD_ISACTIVER, 60), "the entry deactivated it");
    assert!(!m.gic.irq_asserted(0));
}

#[test]
fn eoimode1_priority_drop_in_entry_and_deactivation_by_the_flow_eoi() {
    let m = machine_with(true);
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 12, LEVEL_HIGH]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let (h, g) = (hits.clone(), m.gic.clone());
    let _reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                // Priority already dropped, still active until DIR.
                assert!(bit(&g, GICD_ISACTIVER, 44));
                g.set_line(44, false).unwrap();
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "split",
        )
        .unwrap();
    m.gic.set_line(44, true).unwrap();
    assert_eq!(cpu_entry(&m, 0), Ok(Some(44)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!bit(&m.gic, GICD_ISACTIVER, 44), "DIR from the fasteoi flow deactivated it");
}

#[test]
fn ppi_percpu_devid_is_enabled_and_handled_per_cpu() {
    let m = machine();
    // The arch timer: PPI 14 = INTID 30, level-high.
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_PPI, 14, LEVEL_HIGH]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let (h, g, sys) = (hits.clone(), m.gic.clone(), m.sys.clone());
    let _reg = m
        .sys
        .request_percpu_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                let cpu = sys.current_cpu().unwrap().0;
                g.set_ppi_line(cpu, 30, false).unwrap();
                IrqReturn::HANDLED
            },
            "arch_timer",
            None,
        )
        .unwrap();
    FakePlatform::enter_cpu(CpuId(1));
    m.sys.enable_percpu_irq(virq, Trigger::NONE).unwrap();
    FakePlatform::enter_cpu(CpuId(0));
    m.gic.set_ppi_line(2, 30, true).unwrap();
    assert!(!m.gic.irq_asserted(2), "not enabled on CPU 2's redistributor");
    m.gic.set_ppi_line(1, 30, true).unwrap();
    assert_eq!(asserted_cpus(&m.gic), vec![1]);
    assert_eq!(cpu_entry(&m, 1), Ok(Some(30)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(asserted_cpus(&m.gic).is_empty());
    assert_eq!(m.sys.kstat_irqs_cpu(virq, CpuId(1)), 1, "counted on CPU 1 only");
}

#[test]
fn proc_interrupts_shows_the_gicv3_chip_hwirq_and_level() {
    let m = machine();
    m.sys.irq_set_proc_show_level(true);
    let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, 8, LEVEL_HIGH]).unwrap();
    let _reg = m.sys.request_irq(virq, |_| IrqReturn::HANDLED, Flags::empty(), "uart").unwrap();
    let text = m.sys.show_interrupts();
    let line = text.lines().find(|l| l.ends_with("uart")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[words.len() - 4..], ["GICv3", "40", "Level", "uart"], "{line}");
}

#[test]
fn spis_routed_to_each_of_four_cpus_are_taken_there() {
    let m = machine();
    let hits: Vec<Arc<AtomicU32>> = (0..4).map(|_| Arc::new(AtomicU32::new(0))).collect();
    let mut regs = Vec::new();
    for cpu in 0..4u32 {
        let intid = 48 + cpu;
        let virq = m.irq.map_fwspec(&m.sys, &[GIC_SPI, intid - 32, LEVEL_HIGH]).unwrap();
        let (h, g) = (hits[cpu as usize].clone(), m.gic.clone());
        let f = move |_: &irqkit_core::HardIrq| {
            h.fetch_add(1, Ordering::SeqCst);
            g.set_line(intid, false).unwrap();
            IrqReturn::HANDLED
        };
        regs.push(m.sys.request_irq(virq, f, Flags::empty(), "dev").unwrap());
        m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(cpu))).unwrap();
        m.gic.set_line(intid, true).unwrap();
    }
    assert_eq!(asserted_cpus(&m.gic), vec![0, 1, 2, 3]);
    for cpu in 0..4u32 {
        assert_eq!(cpu_entry(&m, cpu), Ok(Some(48 + cpu)));
        assert_eq!(m.sys.kstat_irqs_cpu(regs[cpu as usize].irq(), CpuId(cpu)), 1);
    }
    assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1));
    assert!(asserted_cpus(&m.gic).is_empty());
}
