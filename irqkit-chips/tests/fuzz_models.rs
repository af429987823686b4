//! Property-based fuzzing: random register reads/writes, line changes and ITS command
//! streams never panic a model and keep its invariants (the DESIGN.md rule "models must
//! never panic on any register access").

use std::sync::Arc;

use irqkit_chips::gic::its::*;
use irqkit_chips::gic::{GicV2, GicV3, GicV3Config, IccReg, ModelMemory};
use irqkit_chips::mmio::{Mmio, Width};
use irqkit_chips::x86::{I8259Pair, IoApic, LapicSet};
use proptest::prelude::*;

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W8), Just(Width::W16), Just(Width::W32), Just(Width::W64)]
}

#[derive(Debug, Clone)]
enum Op {
    Read(u32, usize, Width),
    Write(u32, usize, Width, u64),
    Line(u32, bool),
    Ack(u32),
    Eoi(u32, u32),
}

fn ops(frame: usize, cpus: u32, irqs: u32) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (0..cpus + 1, 0..frame, width()).prop_map(|(c, o, w)| Op::Read(c, o, w)),
        (0..cpus + 1, 0..frame, width(), any::<u64>())
            .prop_map(|(c, o, w, v)| Op::Write(c, o, w, v)),
        // Aligned 32-bit writes hit real registers far more often.
        (0..cpus, (0..frame / 4).prop_map(|o| o * 4), any::<u32>())
            .prop_map(|(c, o, v)| Op::Write(c, o, Width::W32, v as u64)),
        (0..irqs + 8, any::<bool>()).prop_map(|(i, l)| Op::Line(i, l)),
        (0..cpus + 1).prop_map(Op::Ack),
        (0..cpus + 1, 0..1100u32).prop_map(|(c, v)| Op::Eoi(c, v)),
    ];
    proptest::collection::vec(op, 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn gicv2_random_accesses_never_panic_and_keep_invariants(
        dist in ops(0x1000, 4, 96), cpuif in ops(0x2000, 4, 96)
    ) {
        let g = GicV2::new(96, 4).unwrap();
        for (d, c) in dist.iter().zip(cpuif.iter().cycle()) {
            for (op, is_dist) in [(d, true), (c, false)] {
                match op.clone() {
                    Op::Read(cpu, o, w) => {
                        let _ = if is_dist { g.dist_view(cpu).read(o, w) } else { g.cpuif_view(cpu).read(o, w) };
                    }
                    Op::Write(cpu, o, w, v) => {
                        let _ = if is_dist { g.dist_view(cpu).write(o, w, v) } else { g.cpuif_view(cpu).write(o, w, v) };
                    }
                    Op::Line(i, l) => {
                        let _ = g.set_line(i, l);
                        let _ = g.set_ppi_line(i % 5, i % 32, l);
                    }
                    Op::Ack(cpu) => {
                        let v = g.acknowledge(cpu);
                        let id = v & 0x3FF;
                        prop_assert!(id < 96 || (1020..1024).contains(&id));
                        prop_assert!(id < 16 || v >> 10 == 0, "source bits only on SGIs");
                    }
                    Op::Eoi(cpu, v) => g.end_of_interrupt(cpu, v),
                }
            }
            prop_assert!(g.lines_consistent(), "incremental line update went stale");
            for cpu in 0..4 {
                let rpr = g.cpuif_view(cpu).read32(0x14);
                prop_assert!(rpr == 0xFF || rpr & 0x7 == 0, "RPR {rpr:#x} has unimplemented bits");
                if g.irq_asserted(cpu) {
                    prop_assert_ne!(g.cpuif_view(cpu).read32(0x18), 1023, "signalled but HPPIR spurious");
                }
            }
        }
    }

    #[test]
    fn gicv3_random_accesses_never_panic(
        dist in ops(0x10000, 4, 128), rd in ops(4 * 0x20000, 4, 128),
        sys in proptest::collection::vec((0..5u32, 0..20usize, any::<u64>(), any::<bool>()), 1..100)
    ) {
        let g = GicV3::new(GicV3Config { num_irqs: 128, ..GicV3Config::default() }, Arc::new(ModelMemory::new())).unwrap();
        let regs = [IccReg::Pmr, IccReg::Iar0, IccReg::Eoir0, IccReg::Hppir0, IccReg::Bpr0, IccReg::Ap0r(0),
            IccReg::Ap1r(0), IccReg::Dir, IccReg::Rpr, IccReg::Sgi1r, IccReg::Asgi1r, IccReg::Sgi0r, IccReg::Iar1,
            IccReg::Eoir1, IccReg::Hppir1, IccReg::Bpr1, IccReg::Ctlr, IccReg::Sre, IccReg::Igrpen0, IccReg::Igrpen1];
        for op in dist.iter().chain(rd.iter()) {
            match op.clone() {
                Op::Read(c, o, w) => { let _ = g.dist_view(c).read(o, w); let _ = g.redist_view(c).read(o, w); }
                Op::Write(c, o, w, v) => { let _ = g.dist_view(c).write(o, w, v); let _ = g.redist_view(c).write(o, w, v); }
                Op::Line(i, l) => { let _ = g.set_line(i, l); let _ = g.set_ppi_line(i % 5, i % 32, l); }
                Op::Ack(c) => {
                    let v = g.iar1(c);
                    prop_assert!(v < 128 || (1020..1024).contains(&v) || (8192..65536).contains(&v));
                }
                Op::Eoi(c, v) => { g.eoir1(c, v); g.dir(c, v); }
            }
            prop_assert!(g.lines_consistent(), "incremental line update went stale");
        }
        for (cpu, r, v, write) in sys {
            if write { let _ = g.sysreg_write(cpu, regs[r], v); } else { let _ = g.sysreg_read(cpu, regs[r]); }
            prop_assert!(g.lines_consistent(), "incremental line update went stale");
        }
    }

    #[test]
    fn its_random_command_streams_never_panic_and_translate_to_valid_lpis(
        cmds in proptest::collection::vec(
            (prop_oneof![Just(1u8), Just(3), Just(4), Just(5), Just(8), Just(9), Just(0xA), Just(0xB),
                Just(0xC), Just(0xD), Just(0xE), Just(0xF), any::<u8>()],
             0..8u64, 0..40u64, 8180..8300u64, 0..300u64, 0..20u64, any::<bool>()),
            1..150),
        queue_pages in 1..4u64,
    ) {
        let mem = Arc::new(ModelMemory::new());
        let g = GicV3::new(GicV3Config::default(), mem.clone()).unwrap();
        for cpu in 0..4 {
            let r = g.redist_view(0);
            r.write64(cpu * 0x20000 + 0x70, 0x100000 | 15);
            r.write64(cpu * 0x20000 + 0x78, 0x200000 + cpu as u64 * 0x10000);
            r.write32(cpu * 0x20000, 1);
        }
        let its = g.its_view(0);
        let size = queue_pages * 4096;
        its.write64(GITS_CBASER, GITS_CBASER_VALID | 0x400000 | (queue_pages - 1));
        its.write32(GITS_CTLR, GITS_CTLR_ENABLED);
        let mut w = 0u64;
        for (op, dev, ev, lpi, icid_or_size, rd, valid) in cmds {
            let dw0 = op as u64 | dev << 32;
            let dw1 = ev | lpi << 32 | (icid_or_size & 0x1F);
            let dw2 = icid_or_size | rd << 16 | (valid as u64) << 63 | 0x600000;
            let dw3 = ((rd + 1) % 6) << 16;
            for (i, d) in [dw0, dw1, dw2, dw3].iter().enumerate() {
                mem.write_u64(0x400000 + w + i as u64 * 8, *d);
            }
            w = (w + 32) % size;
            its.write64(GITS_CWRITER, w);
            prop_assert_eq!(its.read64(GITS_CREADR), w, "every command is consumed");
            let _ = g.its_msi(dev as u32, ev as u32);
            prop_assert!(g.lines_consistent(), "incremental line update went stale");
            let _ = g.iar1((dev % 4) as u32);
            prop_assert!(g.lines_consistent());
        }
        for dev in 0..8 {
            for ev in 0..40 {
                if let Ok((lpi, cpu)) = g.its_translate(dev, ev) {
                    prop_assert!((8192..65536).contains(&lpi));
                    prop_assert!(cpu < 4);
                }
            }
        }
        for cpu in 0..4 {
            let v = g.iar1(cpu);
            prop_assert!(v == 1023 || v >= 8192);
        }
    }

    #[test]
    fn x86_models_never_panic(
        apic in ops(0x1000, 3, 24), io in ops(0x100, 1, 24),
        ports in proptest::collection::vec((prop_oneof![Just(0x20u16), Just(0x21), Just(0xA0), Just(0xA1),
            Just(0x4D0), Just(0x4D1), any::<u16>()], any::<u8>(), 0..17u8, any::<bool>()), 1..200),
    ) {
        let l = Arc::new(LapicSet::new(2).unwrap());
        let ioapic = IoApic::new(0, 24, l.clone()).unwrap();
        for (i, op) in apic.iter().enumerate() {
            match op.clone() {
                Op::Read(c, o, w) => { let _ = l.mmio_view(c).read(o, w); }
                Op::Write(c, o, w, v) => { let _ = l.mmio_view(c).write(o, w, v); }
                Op::Line(i, lv) => { let _ = ioapic.set_line(i, lv); }
                Op::Ack(c) => {
                    if let Ok(v) = l.acknowledge(c) {
                        // A real vector is never below 16; otherwise it is the SVR vector.
                        let svr = l.mmio_view(c).read32(0xF0) as u8;
                        prop_assert!(v >= 16 || v == svr);
                    }
                }
                Op::Eoi(c, t) => { let _ = l.eoi(c); let _ = l.advance_time(c, t as u64 * 100); }
            }
            if let Some(op) = io.get(i) {
                match op.clone() {
                    Op::Read(_, o, w) => { let _ = ioapic.mmio_view().read(o, w); }
                    Op::Write(_, o, w, v) => { let _ = ioapic.mmio_view().write(o, w, v); }
                    Op::Line(i, lv) => { let _ = ioapic.set_line(i, lv); }
                    _ => {}
                }
            }
        }
        let pic = I8259Pair::new();
        for (port, v, irq, level) in ports {
            let _ = pic.outb(port, v);
            let _ = pic.inb(port);
            let _ = pic.set_irq(irq, level);
            if pic.intr() { let _ = pic.acknowledge(); }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A fully enabled GICv2 (every SPI enabled, random priorities, targets and triggers)
    /// driven by line changes, acknowledges, EOIs, DIRs and SGIs: the incrementally
    /// updated CPU lines always equal a fresh computation, and acknowledge returns an
    /// interrupt exactly when the CPU's line said so.
    #[test]
    fn gicv2_enabled_traffic_keeps_lines_exact(
        prios in proptest::collection::vec(0u8..0xF0, 64),
        targets in proptest::collection::vec(0u8..16, 64),
        edge in any::<u64>(),
        eoi_mode in any::<bool>(),
        ops in proptest::collection::vec((0u8..5, 0u32..4, 0u32..64, any::<bool>()), 1..300),
    ) {
        let g = GicV2::new(64, 4).unwrap();
        g.dist_view(0).write32(0x000, 1);
        for cpu in 0..4 {
            g.cpuif_view(cpu).write32(0x004, 0xF0);
            g.cpuif_view(cpu).write32(0x000, 1 | (eoi_mode as u32) << 9);
            g.dist_view(cpu).write32(0x100, !0);
        }
        for id in 0..64u32 {
            g.dist_view(0).write8(0x400 + id as usize, prios[id as usize]);
            g.dist_view(0).write8(0x800 + id as usize, targets[id as usize]);
        }
        g.dist_view(0).write32(0x104, !0);
        g.dist_view(0).write32(0xC08, edge as u32);
        g.dist_view(0).write32(0xC0C, (edge >> 32) as u32);
        let mut acked: Vec<Vec<u32>> = vec![vec![]; 4];
        for (kind, cpu, id, level) in ops {
            match kind {
                0 => { let _ = g.set_line(id.max(32), level); }
                1 => {
                    let signalled = g.irq_asserted(cpu);
                    let v = g.acknowledge(cpu);
                    let taken = v & 0x3FF < 1020; // SGIs carry the source in bits [12:10]
                    prop_assert_eq!(signalled, taken, "line vs IAR on CPU {}", cpu);
                    if taken { acked[cpu as usize].push(v); }
                }
                2 => if let Some(v) = acked[cpu as usize].pop() {
                    g.end_of_interrupt(cpu, v);
                    if eoi_mode { g.deactivate((cpu + id) % 4, v); }
                },
                3 => g.dist_view(cpu).write32(0xF00, (id & 0xF) << 16 | (id & 0xF)),
                _ => g.dist_view(0).write8(0x800 + id as usize, targets[(id as usize + 7) % 64]),
            }
            prop_assert!(g.lines_consistent(), "incremental line update went stale");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A Linux-initialised GICv3 with an ITS (16 events of device 1 mapped to LPIs on
    /// random CPUs) under random SPI, SGI, MSI, MOVI, acknowledge and EOI traffic: lines
    /// stay exact and acknowledge agrees with them.
    #[test]
    fn gicv3_enabled_traffic_keeps_lines_exact(
        split in any::<bool>(),
        routes in proptest::collection::vec(0u32..4, 16),
        ops in proptest::collection::vec((0u8..6, 0u32..4, 0u32..16, any::<bool>()), 1..200),
    ) {
        use irqkit_chips::gic::its_driver::ItsDriver;
        use irqkit_chips::gic::v3_driver::{GicV3Driver, ModelSysRegs};
        let mem = Arc::new(ModelMemory::new());
        let g = GicV3::new(GicV3Config::default(), mem.clone()).unwrap();
        let drv = GicV3Driver::probe(&g.dist_view(0), split);
        drv.dist_init(&g.dist_view(0), 0).unwrap();
        for cpu in 0..4 {
            drv.redist_init(&g.redist_view(cpu), cpu).unwrap();
            drv.cpu_init(&ModelSysRegs { gic: &g, cpu });
            drv.lpi_init(&g.redist_view(cpu), &*mem, cpu, 0x10_0000, 0x20_0000 + cpu as u64 * 0x1_0000).unwrap();
            drv.unmask(&g.dist_view(0), &g.redist_view(0), 1, cpu).unwrap();
        }
        for spi in 32..48 {
            drv.set_affinity(&g.dist_view(0), spi, routes[spi as usize - 32], 4).unwrap();
            drv.unmask(&g.dist_view(0), &g.redist_view(0), spi, 0).unwrap();
        }
        let v = g.its_view(0);
        let its = ItsDriver::init(&v, &*mem, 0x800_0000, 0x40_0000).unwrap();
        for cpu in 0..4u32 { its.mapc(&v, &*mem, cpu as u16, cpu).unwrap(); }
        its.mapd(&v, &*mem, 1, 16, 0x50_0000, true).unwrap();
        for ev in 0..16u32 {
            its.mapti(&v, &*mem, 1, ev, 8192 + ev, routes[ev as usize] as u16).unwrap();
            mem.write_u8(0x10_0000 + ev as u64, 0xA0 | 3);
        }
        for cpu in 0..4u16 { its.invall(&v, &*mem, cpu).unwrap(); }
        let mut acked: Vec<Vec<u32>> = vec![vec![]; 4];
        for (kind, cpu, n, level) in ops {
            match kind {
                0 => g.set_line(32 + n, level).unwrap(),
                1 => {
                    let signalled = g.irq_asserted(cpu);
                    let irq = g.iar1(cpu);
                    prop_assert_eq!(signalled, !(1020..8192).contains(&irq), "line vs IAR1 on CPU {}", cpu);
                    if irq != 1023 {
                        if split { g.eoir1(cpu, irq); }
                        acked[cpu as usize].push(irq);
                    }
                }
                2 => if let Some(irq) = acked[cpu as usize].pop() {
                    if split { g.dir((cpu + n) % 4, irq); } else { g.eoir1(cpu, irq); }
                },
                3 => drv.send_sgi(&ModelSysRegs { gic: &g, cpu }, 1, (n & 0xF) as u64).unwrap(),
                4 => g.its_msi(1, n).unwrap(),
                _ => its.movi(&v, &*mem, 1, n, cpu as u16).unwrap(),
            }
            prop_assert!(g.lines_consistent(), "incremental line update went stale");
        }
    }
}
