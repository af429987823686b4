//! GICv2 driver against the GICv2 model: the seed-003 init sequence (disable the
//! distributor, configure, enable; per-CPU PMR/CTLR) and end-to-end interrupts on four
//! CPUs (Linux drivers/irqchip/irq-gic.c gic_dist_init / gic_cpu_init / gic_handle_irq).

use irqkit_chips::gic::v2_cpuif::*;
use irqkit_chips::gic::v2_dist::*;
use irqkit_chips::gic::v2_driver::{ChipState, GicV2Driver};
use irqkit_chips::gic::GicV2;
use irqkit_chips::mmio::Mmio;
use irqkit_chips::trigger::Trigger;

fn boot(split_eoi: bool) -> (GicV2, GicV2Driver) {
    let g = GicV2::new(128, 4).unwrap();
    let drv = GicV2Driver::probe(&g.dist_view(0), split_eoi);
    assert_eq!(drv.nr_irqs(), 128);
    let mask = drv.cpu_init(0, &g.dist_view(0), &g.cpuif_view(0)).unwrap();
    drv.dist_init(&g.dist_view(0), mask);
    for cpu in 1..4 {
        assert_eq!(drv.cpu_init(cpu, &g.dist_view(cpu), &g.cpuif_view(cpu)).unwrap(), 1 << cpu);
    }
    (g, drv)
}

#[test]
fn init_sequence_programs_linux_defaults() {
    let (g, _) = boot(false);
    let d = g.dist_view(0);
    assert_eq!(d.read32(GICD_CTLR), 1);
    assert_eq!(d.read8(GICD_ITARGETSR + 100), 1, "SPIs target the boot CPU");
    assert_eq!(d.read8(GICD_IPRIORITYR + 100), 0xA0);
    assert_eq!(d.read32(GICD_ISENABLER + 4), 0, "SPIs disabled");
    assert_eq!(d.read32(GICD_ICFGR + 8), 0, "SPIs level");
    let c = g.cpuif_view(2);
    assert_eq!(c.read32(GICC_PMR), 0xF0);
    assert_eq!(c.read32(GICC_CTLR) & 1, 1);
}

#[test]
fn end_to_end_on_four_cpus_both_eoi_modes() {
    for split in [false, true] {
        let (g, drv) = boot(split);
        let d = g.dist_view(0);
        for cpu in 0..4u32 {
            let spi = 64 + cpu;
            drv.set_type(
                &d,
                spi,
                if cpu % 2 == 0 { Trigger::LevelHigh } else { Trigger::EdgeRising },
            )
            .unwrap();
            drv.set_affinity(&d, spi, cpu).unwrap();
            drv.unmask(&d, spi).unwrap();
            g.set_line(spi, true).unwrap();
        }
        for cpu in 0..4u32 {
            assert!(g.irq_asserted(cpu));
            let c = g.cpuif_view(cpu);
            let mut got = vec![];
            let n = drv.handle_irq(&c, |hwirq, iar| {
                got.push(hwirq);
                g.set_line(hwirq, false).unwrap(); // the device handler quiets the line
                drv.eoi(&c, iar);
            });
            assert_eq!((n, got), (1, vec![64 + cpu]));
            assert!(!g.irq_asserted(cpu));
            assert_eq!(c.read32(GICC_RPR), 0xFF);
        }
    }
}

#[test]
fn ipis_and_chip_state() {
    let (g, drv) = boot(false);
    drv.send_sgi(&g.dist_view(0), 2, 0b1010).unwrap();
    assert!(!g.irq_asserted(0) && g.irq_asserted(1) && g.irq_asserted(3));
    let c = g.cpuif_view(3);
    drv.handle_irq(&c, |hwirq, iar| {
        assert_eq!(hwirq, 2);
        assert_eq!(iar >> 10, 0, "from CPU 0");
        drv.eoi(&c, iar);
    });
    let d = g.dist_view(0);
    drv.retrigger(&d, 70).unwrap();
    assert!(drv.irqchip_state(&d, 70, ChipState::Pending).unwrap());
    assert!(drv.irqchip_state(&d, 70, ChipState::Masked).unwrap());
    drv.unmask(&d, 70).unwrap();
    assert!(!drv.irqchip_state(&d, 70, ChipState::Masked).unwrap());
    drv.mask(&d, 70).unwrap();
    assert!(drv.irqchip_state(&d, 70, ChipState::Masked).unwrap());
}

#[test]
fn driver_rejects_bad_input() {
    let (g, drv) = boot(false);
    let d = g.dist_view(0);
    assert!(drv.set_type(&d, 5, Trigger::LevelHigh).is_err(), "SGIs are edge only");
    assert!(drv.set_type(&d, 40, Trigger::EdgeFalling).is_err());
    assert!(drv.set_type(&d, 200, Trigger::EdgeRising).is_err());
    assert!(drv.set_affinity(&d, 40, 6).is_err(), "CPU 6 has no interface");
    assert!(drv.set_affinity(&d, 20, 1).is_err(), "PPIs have no affinity");
    assert!(drv.mask(&d, 128).is_err());
    assert!(drv.send_sgi(&d, 16, 1).is_err());
    assert!(drv.cpu_init(8, &g.dist_view(0), &g.cpuif_view(0)).is_err());
}
