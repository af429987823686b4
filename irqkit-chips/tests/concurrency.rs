//! Models are called from several virtual CPUs at once (the hosted runtime runs one OS
//! thread per CPU): concurrent raise / acknowledge / EOI on every CPU loses nothing and
//! leaves the models quiescent. Outcomes are exact, whatever the interleaving.

use std::sync::Arc;
use std::thread;

use irqkit_chips::gic::{GicV2, GicV3, GicV3Config, ModelMemory};
use irqkit_chips::mmio::Mmio;
use irqkit_chips::x86::apic_driver::{IpiDest, LapicDriver};
use irqkit_chips::x86::LapicSet;

const ROUNDS: u32 = 2000;

#[test]
fn gicv2_concurrent_traffic_on_four_cpus_loses_nothing() {
    let g = Arc::new(GicV2::new(64, 4).unwrap());
    g.dist_view(0).write32(0x000, 1);
    for cpu in 0..4u32 {
        g.cpuif_view(cpu).write32(0x004, 0xF0);
        g.cpuif_view(cpu).write32(0x000, 1);
        g.dist_view(0).write8(0x800 + 32 + cpu as usize, 1 << cpu);
        g.dist_view(0).write8(0x400 + 32 + cpu as usize, 0x40);
        g.dist_view(cpu).write8(0x400 + 1, 0x80); // banked: SGI 1 below the SPIs
    }
    g.dist_view(0).write32(0xC08, 0xAAAA_AAAA); // SPIs 32-47 edge
    g.dist_view(0).write32(0x104, 0xF);
    let handles: Vec<_> = (0..4u32)
        .map(|cpu| {
            let g = g.clone();
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    g.set_line(32 + cpu, true).unwrap();
                    g.set_line(32 + cpu, false).unwrap();
                    assert!(g.irq_asserted(cpu));
                    let iar = g.acknowledge(cpu);
                    assert_eq!(iar, 32 + cpu);
                    g.end_of_interrupt(cpu, iar);
                    // An SGI to the next CPU: it is taken there, eventually.
                    g.dist_view(cpu).write32(0xF00, 1 << (16 + (cpu + 1) % 4) | 1);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for cpu in 0..4 {
        // SGIs from one source collapse while pending; at least one is there to take.
        let v = g.acknowledge(cpu);
        assert_eq!(v & 0x3FF, 1);
        g.end_of_interrupt(cpu, v);
        assert_eq!(g.acknowledge(cpu), 1023);
        assert!(g.lines_consistent());
    }
}

#[test]
fn gicv3_concurrent_spi_traffic_loses_nothing() {
    let g = Arc::new(GicV3::new(GicV3Config::default(), Arc::new(ModelMemory::new())).unwrap());
    g.dist_view(0).write32(0x000, 0x13);
    for cpu in 0..4u32 {
        g.dist_view(0).write32(0x104, 0xF);
        g.dist_view(0).write32(0x84, 0xF);
        g.dist_view(0).write64(0x6000 + (32 + cpu as usize) * 8, cpu as u64);
        g.sysreg_write(cpu, irqkit_chips::gic::IccReg::Pmr, 0xF0).unwrap();
        g.sysreg_write(cpu, irqkit_chips::gic::IccReg::Igrpen1, 1).unwrap();
    }
    let handles: Vec<_> = (0..4u32)
        .map(|cpu| {
            let g = g.clone();
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    g.set_line(32 + cpu, true).unwrap();
                    assert_eq!(g.iar1(cpu), 32 + cpu);
                    g.set_line(32 + cpu, false).unwrap();
                    g.eoir1(cpu, 32 + cpu);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!((0..4).all(|c| !g.irq_asserted(c)) && g.lines_consistent());
}

#[test]
fn lapic_concurrent_ipis_are_all_accounted_for() {
    let l = Arc::new(LapicSet::new(4).unwrap());
    for cpu in 0..4 {
        LapicDriver::setup(&l.mmio_view(cpu));
    }
    let handles: Vec<_> = (0..4u32)
        .map(|cpu| {
            let l = l.clone();
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    LapicDriver::send_ipi(
                        &l.mmio_view(cpu),
                        IpiDest::SelfOnly,
                        0x40 + cpu as u8,
                        false,
                    )
                    .unwrap();
                    assert_eq!(l.acknowledge(cpu).unwrap(), 0x40 + cpu as u8);
                    l.eoi(cpu).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!((0..4).all(|c| !l.irq_asserted(c)));
}
