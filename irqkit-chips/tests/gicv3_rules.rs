//! GICv3 + ITS model against the architecture rules and the Linux driver sequences
//! (spec §7.2, §7.4, §7.5; Linux drivers/irqchip/irq-gic-v3.c and irq-gic-v3-its.c,
//! QEMU hw/intc/arm_gicv3_its.c for command semantics).

use std::sync::Arc;

use irqkit_chips::gic::its_cmd::{its_error, opcode, CAUSE_UNMAPPED_DEVICE};
use irqkit_chips::gic::its_driver::ItsDriver;
use irqkit_chips::gic::v3_dist::*;
use irqkit_chips::gic::v3_driver::{GicV3Driver, ModelSysRegs};
use irqkit_chips::gic::{GicV3, GicV3Config, IccReg, ModelMemory, INTID_SPURIOUS};
use irqkit_chips::mmio::{Mmio, MmioError, Width};
use irqkit_chips::trigger::Trigger;

const PROP: u64 = 0x10_0000;
const PEND: u64 = 0x20_0000; // + cpu * 64 KiB
const QUEUE: u64 = 0x40_0000;
const ITT: u64 = 0x50_0000;
const ITS_PA: u64 = 0x0800_0000;

struct Machine {
    gic: GicV3,
    drv: GicV3Driver,
    its: Option<ItsDriver>,
}

fn machine(split_eoi: bool, its: bool) -> Machine {
    let mem = Arc::new(ModelMemory::new());
    let cfg = GicV3Config { its, ..GicV3Config::default() };
    let gic = GicV3::new(cfg, mem.clone()).unwrap();
    let drv = GicV3Driver::probe(&gic.dist_view(0), split_eoi);
    drv.dist_init(&gic.dist_view(0), 0).unwrap();
    for cpu in 0..4 {
        drv.redist_init(&gic.redist_view(cpu), cpu).unwrap();
        drv.cpu_init(&ModelSysRegs { gic: &gic, cpu });
        drv.lpi_init(&gic.redist_view(cpu), &*mem, cpu, PROP, PEND + cpu as u64 * 0x10000).unwrap();
    }
    let its = its.then(|| {
        let d = ItsDriver::init(&gic.its_view(0), &*mem, ITS_PA, QUEUE).unwrap();
        for cpu in 0..4u32 {
            d.mapc(&gic.its_view(0), &*mem, cpu as u16, cpu).unwrap();
            d.invall(&gic.its_view(0), &*mem, cpu as u16).unwrap();
        }
        d
    });
    Machine { gic, drv, its }
}

fn icc(m: &Machine, cpu: u32) -> ModelSysRegs<'_> {
    ModelSysRegs { gic: &m.gic, cpu }
}

#[test]
fn driver_init_sequence_leaves_distributor_enabled_with_affinity_routing() {
    let m = machine(false, false);
    let ctlr = m.gic.dist_view(0).read32(GICD_CTLR);
    assert_eq!(ctlr & (CTLR_ARE | CTLR_ENABLE_G1), CTLR_ARE | CTLR_ENABLE_G1);
    assert_eq!(m.gic.dist_view(0).read64(GICD_IROUTER + 40 * 8), 0);
    assert_eq!(m.gic.dist_view(0).read8(GICD_IPRIORITYR + 40), 0xA0);
    assert_eq!(m.gic.sysreg_read(1, IccReg::Pmr).unwrap(), 0xF0);
    assert_eq!(m.gic.sysreg_read(1, IccReg::Igrpen1).unwrap(), 1);
}

#[test]
fn end_to_end_spis_on_four_cpus() {
    let m = machine(true, false);
    let (d, r) = (m.gic.dist_view(0), m.gic.redist_view(0));
    for cpu in 0..4u32 {
        let spi = 40 + cpu;
        m.drv.set_type(&d, &r, spi, 0, Trigger::LevelHigh).unwrap();
        m.drv.set_affinity(&d, spi, cpu, 4).unwrap();
        m.drv.unmask(&d, &r, spi, 0).unwrap();
        m.gic.set_line(spi, true).unwrap();
    }
    for cpu in 0..4u32 {
        assert!(m.gic.irq_asserted(cpu));
        let irq = m.drv.handle_irq(&icc(&m, cpu)).unwrap();
        assert_eq!(irq, 40 + cpu);
        m.gic.set_line(irq, false).unwrap();
        m.drv.eoi(&icc(&m, cpu), irq);
        assert!(!m.gic.irq_asserted(cpu));
        assert_eq!(m.drv.handle_irq(&icc(&m, cpu)), None);
    }
}

#[test]
fn eoimode1_needs_dir_to_deactivate_v3() {
    let m = machine(true, false);
    let (d, r) = (m.gic.dist_view(0), m.gic.redist_view(0));
    m.drv.set_type(&d, &r, 50, 0, Trigger::LevelHigh).unwrap();
    m.drv.unmask(&d, &r, 50, 0).unwrap();
    m.gic.set_line(50, true).unwrap();
    let irq = m.drv.handle_irq(&icc(&m, 0)).unwrap(); // EOIR1 = priority drop only
    assert_eq!(m.gic.sysreg_read(0, IccReg::Rpr).unwrap(), 0xFF);
    assert_ne!(d.read32(GICD_ISACTIVER + 4) & (1 << 18), 0);
    assert_eq!(m.gic.iar1(0), INTID_SPURIOUS, "still active");
    m.gic.dir(0, irq);
    assert_eq!(d.read32(GICD_ISACTIVER + 4) & (1 << 18), 0);
    assert_eq!(m.gic.iar1(0), 50, "level line still asserted");
}

#[test]
fn sgi_via_sgi1r_reaches_targets_and_irm_excludes_self() {
    let m = machine(false, false);
    for cpu in 0..4 {
        m.drv.unmask(&m.gic.dist_view(0), &m.gic.redist_view(0), 1, cpu).unwrap();
    }
    m.drv.send_sgi(&icc(&m, 0), 1, 0b0110).unwrap();
    assert!(!m.gic.irq_asserted(0));
    assert!(m.gic.irq_asserted(1) && m.gic.irq_asserted(2));
    assert_eq!(m.gic.iar1(2), 1);
    m.drv.send_sgi_others(&icc(&m, 3), 1).unwrap();
    assert!(m.gic.irq_asserted(0) && !m.gic.irq_asserted(3));
    assert!(m.drv.send_sgi(&icc(&m, 0), 16, 1).is_err());
}

#[test]
fn spi_routed_to_no_cpu_is_never_signalled_v3() {
    let m = machine(false, false);
    let d = m.gic.dist_view(0);
    m.drv.unmask(&d, &m.gic.redist_view(0), 60, 0).unwrap();
    d.write64(GICD_IROUTER + 60 * 8, 0x0F0F); // affinity 15.15: no such CPU
    m.gic.set_line(60, true).unwrap();
    assert!((0..4).all(|c| !m.gic.irq_asserted(c)));
    assert!(m.drv.set_affinity(&d, 60, 9, 4).is_err());
    assert!(m.drv.set_affinity(&d, 20, 1, 4).is_err(), "PPIs have no affinity");
}

#[test]
fn irm_routing_goes_to_whichever_cpu_acknowledges_first() {
    let m = machine(false, false);
    let d = m.gic.dist_view(0);
    m.drv.unmask(&d, &m.gic.redist_view(0), 70, 0).unwrap();
    d.write64(GICD_IROUTER + 70 * 8, IROUTER_IRM);
    m.gic.set_line(70, true).unwrap();
    assert!((0..4).all(|c| m.gic.irq_asserted(c)));
    assert_eq!(m.gic.iar1(2), 70);
    assert!((0..4).all(|c| !m.gic.irq_asserted(c)));
}

#[test]
fn lpi_is_delivered_only_after_its_mapping_and_inv() {
    let m = machine(false, true);
    let its = m.its.as_ref().unwrap();
    let (v, mem) = (m.gic.its_view(0), m.gic.memory().clone());
    let (dev, ev, lpi) = (7u32, 3u32, 8192 + 100);
    // Unmapped: the MSI goes nowhere.
    assert!(m.gic.its_msi(dev, ev).is_err());
    its.mapd(&v, &*mem, dev, 4, ITT, true).unwrap();
    its.mapti(&v, &*mem, dev, ev, lpi, 2).unwrap();
    its.sync(&v, &*mem, 2).unwrap();
    // Mapped, but the property table still says disabled.
    m.gic.its_msi(dev, ev).unwrap();
    assert!(m.gic.lpi_pending(2, lpi));
    assert!(!m.gic.irq_asserted(2));
    // Enable in memory: no effect until INV.
    mem.write_u8(PROP + 100, 0xA0 | 0b11);
    assert!(!m.gic.irq_asserted(2));
    its.inv(&v, &*mem, dev, ev).unwrap();
    its.sync(&v, &*mem, 2).unwrap();
    assert!(m.gic.irq_asserted(2));
    assert_eq!(m.drv.handle_irq(&icc(&m, 2)), Some(lpi));
    assert!(!m.gic.lpi_pending(2, lpi), "acknowledge clears the LPI's pending bit");
    m.drv.eoi(&icc(&m, 2), lpi);
    assert_eq!(m.gic.sysreg_read(2, IccReg::Rpr).unwrap(), 0xFF);
    // The doorbell write through the translation frame, with the requester as DeviceID.
    m.gic.its_view(dev).write32(0x10040, ev);
    assert_eq!(m.gic.iar1(2), lpi);
}

#[test]
fn its_movi_moves_pending_state_and_discard_unmaps() {
    let m = machine(false, true);
    let its = m.its.as_ref().unwrap();
    let (v, mem) = (m.gic.its_view(0), m.gic.memory().clone());
    its.mapd(&v, &*mem, 1, 2, ITT, true).unwrap();
    its.mapti(&v, &*mem, 1, 0, 9000, 0).unwrap();
    its.int(&v, &*mem, 1, 0).unwrap();
    assert!(m.gic.lpi_pending(0, 9000));
    its.movi(&v, &*mem, 1, 0, 3).unwrap();
    assert!(!m.gic.lpi_pending(0, 9000) && m.gic.lpi_pending(3, 9000));
    assert_eq!(m.gic.its_translate(1, 0), Ok((9000, 3)));
    its.clear(&v, &*mem, 1, 0).unwrap();
    assert!(!m.gic.lpi_pending(3, 9000));
    its.discard(&v, &*mem, 1, 0).unwrap();
    assert!(m.gic.its_translate(1, 0).is_err());
}

#[test]
fn its_command_for_unmapped_device_is_a_defined_error() {
    let m = machine(false, true);
    let its = m.its.as_ref().unwrap();
    let (v, mem) = (m.gic.its_view(0), m.gic.memory().clone());
    its.mapti(&v, &*mem, 99, 0, 8200, 0).unwrap(); // consumed, but rejected
    assert_eq!(m.gic.its_last_error().unwrap().0, its_error(opcode::MAPTI, CAUSE_UNMAPPED_DEVICE));
    its.int(&v, &*mem, 99, 0).unwrap();
    assert_eq!(m.gic.its_last_error().unwrap().0, 0x010304);
    // Event beyond the ITT size declared by MAPD.
    its.mapd(&v, &*mem, 5, 2, ITT, true).unwrap();
    its.mapti(&v, &*mem, 5, 2, 8200, 0).unwrap();
    assert_eq!(m.gic.its_last_error().unwrap().0, 0x010A05);
    // Physical INTID that is not an LPI.
    its.mapti(&v, &*mem, 5, 0, 100, 0).unwrap();
    assert_eq!(m.gic.its_last_error().unwrap().0, 0x010A06);
    assert_eq!(m.gic.its_last_error().unwrap().1, 4);
}

#[test]
fn bad_register_accesses_are_typed_errors_v3() {
    let m = machine(false, true);
    assert_eq!(
        m.gic.dist_view(0).read(0x10000, Width::W32),
        Err(MmioError::OutOfRange { offset: 0x10000 })
    );
    assert!(matches!(
        m.gic.dist_view(0).read(GICD_CTLR, Width::W64),
        Err(MmioError::BadWidth { .. })
    ));
    assert!(m.gic.redist_view(0).read(4 * 0x20000, Width::W32).is_err());
    assert!(m.gic.its_view(0).read(0x20000, Width::W32).is_err());
    assert!(m.gic.sysreg_read(4, IccReg::Iar1).is_err());
    assert_eq!(IccReg::from_encoding(3, 0, 12, 12, 0), Some(IccReg::Iar1));
    assert_eq!(IccReg::from_encoding(3, 0, 12, 12, 4), Some(IccReg::Ctlr));
    assert_eq!(IccReg::from_encoding(3, 0, 4, 6, 0), Some(IccReg::Pmr));
    assert_eq!(IccReg::from_encoding(3, 1, 12, 12, 0), None);
    assert!(GicV3::new(
        GicV3Config { num_cpus: 65, ..Default::default() },
        Arc::new(ModelMemory::new())
    )
    .is_err());
    assert!(GicV3::new(
        GicV3Config { lpi_id_bits: None, ..Default::default() },
        Arc::new(ModelMemory::new())
    )
    .is_err());
}

#[test]
fn its_msi_domain_activate_move_mask_and_deactivate() {
    use irqkit_chips::gic::its_msi::ItsMsiDomain;
    let m = machine(false, true);
    let its = m.its.as_ref().unwrap();
    let (v, mem) = (m.gic.its_view(0), m.gic.memory().clone());
    let dom = ItsMsiDomain::new(1024, PROP, 0x70_0000, 0x1_0000).unwrap();
    dom.prepare_device(its, &v, &*mem, 0x42, 3).unwrap();
    let (lpi, msg) = dom.activate(its, &v, &*mem, 0x42, 1, 1).unwrap();
    assert_eq!(lpi, 8192);
    assert_eq!(msg.address, ITS_PA + 0x10040);
    dom.set_enabled(its, &v, &*mem, 0x42, 1, true).unwrap();
    // The device writes its message; the bus supplies DeviceID 0x42.
    m.gic.its_view(0x42).write32((msg.address - ITS_PA) as usize, msg.data);
    assert_eq!(m.drv.handle_irq(&icc(&m, 1)), Some(lpi));
    m.drv.eoi(&icc(&m, 1), lpi);
    dom.set_affinity(its, &v, &*mem, 0x42, 1, 3).unwrap();
    assert_eq!(m.gic.its_translate(0x42, 1), Ok((lpi, 3)));
    dom.set_enabled(its, &v, &*mem, 0x42, 1, false).unwrap();
    m.gic.its_msi(0x42, 1).unwrap();
    assert!(!m.gic.irq_asserted(3), "masked LPI stays pending, not signalled");
    dom.deactivate(its, &v, &*mem, 0x42, 1).unwrap();
    assert!(m.gic.its_translate(0x42, 1).is_err());
    assert!(dom.deactivate(its, &v, &*mem, 0x42, 1).is_err(), "double free");
    assert!(dom.activate(its, &v, &*mem, 0x43, 0, 0).is_err(), "unprepared device");
    assert!(dom.activate(its, &v, &*mem, 0x42, 4, 0).is_err(), "event beyond ITT of 4");
    assert!(dom.prepare_device(its, &v, &*mem, 0x42, 2).is_err(), "already prepared");
    assert_eq!(dom.activate(its, &v, &*mem, 0x42, 0, 2).unwrap().0, 8192, "LPI reused");
}

#[test]
fn gicv3_sgi_iar_carries_no_source_cpu() {
    let m = machine(false, false);
    m.drv.unmask(&m.gic.dist_view(0), &m.gic.redist_view(0), 3, 1).unwrap();
    m.drv.send_sgi(&icc(&m, 0), 3, 0b10).unwrap();
    m.drv.send_sgi(&icc(&m, 2), 3, 0b10).unwrap();
    assert_eq!(m.gic.iar1(1), 3, "affinity routing: one pending bit, no source field");
    m.gic.eoir1(1, 3);
    assert_eq!(m.gic.iar1(1), INTID_SPURIOUS);
}

#[test]
fn notifier_may_call_back_into_the_model() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let m = Arc::new(machine(false, false));
    let acked = Arc::new(AtomicU32::new(0));
    let (m2, a2) = (Arc::downgrade(&m), acked.clone());
    m.gic.set_notifier(Arc::new(move |cpu, lines| {
        if let (Some(m), true) = (m2.upgrade(), lines.irq) {
            a2.store(m.gic.iar1(cpu), Ordering::SeqCst);
        }
    }));
    m.drv.unmask(&m.gic.dist_view(0), &m.gic.redist_view(0), 44, 0).unwrap();
    m.gic.set_line(44, true).unwrap();
    assert_eq!(acked.load(Ordering::SeqCst), 44);
}

#[test]
fn ppi_configured_in_the_redistributor_reaches_only_its_cpu() {
    let m = machine(false, false);
    let (d, r) = (m.gic.dist_view(0), m.gic.redist_view(0));
    m.drv.set_type(&d, &r, 27, 2, Trigger::LevelHigh).unwrap();
    m.drv.unmask(&d, &r, 27, 2).unwrap();
    m.gic.set_ppi_line(2, 27, true).unwrap();
    m.gic.set_ppi_line(1, 27, true).unwrap(); // disabled on CPU 1
    assert!(m.gic.irq_asserted(2) && !m.gic.irq_asserted(1));
    assert_eq!(m.drv.handle_irq(&icc(&m, 2)), Some(27));
    m.gic.set_ppi_line(2, 27, false).unwrap();
    m.drv.eoi(&icc(&m, 2), 27);
    assert!(!m.gic.irq_asserted(2));
    // Distributor copies of INTIDs 0-31 are RAZ/WI under affinity routing.
    assert_eq!(d.read32(GICD_ISENABLER), 0);
}
