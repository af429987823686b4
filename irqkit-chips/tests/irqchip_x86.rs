//! x86 vector / IO-APIC / PCI-MSI domains end to end on the LAPIC and IO-APIC models
//! (Linux arch/x86/kernel/apic/io_apic.c `ioapic_ack_level`, `ioapic_set_affinity`,
//! `mp_irqdomain_alloc`; arch/x86/kernel/apic/vector.c `x86_vector_alloc_irqs`,
//! `apic_set_affinity`, `irq_complete_move`; arch/x86/kernel/apic/msi.c; irq.c
//! `common_interrupt`).

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_chips::irqchip::x86::{ModelX86Ports, X86Irq};
use irqkit_chips::x86::ioapic::{IoApic, RTE_MASKED, RTE_REMOTE_IRR};
use irqkit_chips::x86::{DeliveryMode, Destination, LapicSet};
use irqkit_core::irq::{Flags, IrqReturn, Registration};
use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem};

const EDGE_RISING: u32 = 1;
const EDGE_BOTH: u32 = 3;
const LEVEL_HIGH: u32 = 4;

struct Machine {
    sys: Arc<IrqSystem>,
    lapics: Arc<LapicSet>,
    io: Arc<IoApic>,
    x86: X86Irq<ModelX86Ports>,
}

fn machine() -> Machine {
    let (sys, ports) = common::x86_model_ports();
    let (lapics, io) = (ports.lapics.clone(), ports.ioapic.clone());
    let x86 = X86Irq::new(&sys, ports).unwrap();
    Machine { sys, lapics, io, x86 }
}

fn cpu_entry(m: &Machine, cpu: u32) -> Result<Option<u8>, IrqError> {
    common::on_cpu_irq(&m.sys, cpu, |ctx| m.x86.handle_irq(&m.sys, ctx))
}

fn asserted(m: &Machine) -> Vec<u32> {
    (0..4).filter(|c| m.lapics.irq_asserted(*c)).collect()
}

/// (irr, isr) of `vector` on `cpu`.
fn state(m: &Machine, cpu: u32, vector: u8) -> (bool, bool) {
    let (irr, isr, _) = m.lapics.vector_state(cpu, vector).unwrap();
    (irr, isr)
}

fn count(
    m: &Machine,
    virq: u32,
    f: impl Fn() + Send + Sync + 'static,
) -> (Arc<AtomicU32>, Registration) {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let handler = move |_: &irqkit_core::HardIrq| {
        h.fetch_add(1, Ordering::SeqCst);
        f();
        IrqReturn::HANDLED
    };
    (hits, m.sys.request_irq(virq, handler, Flags::empty(), "dev").unwrap())
}

#[test]
fn level_pin_remote_irr_blocks_until_the_fasteoi_eoi_clears_it() {
    let m = machine();
    let virq = m.x86.map_pin(&m.sys, &[9, LEVEL_HIGH]).unwrap();
    let irr_seen = Arc::new(AtomicU32::new(0));
    let (io, seen) = (m.io.clone(), irr_seen.clone());
    let (hits, _reg) = count(&m, virq, move || {
        // In the handler the line is still owned: remote IRR is set.
        seen.store((io.rte(9).unwrap() & RTE_REMOTE_IRR != 0) as u32, Ordering::SeqCst);
        io.set_line(9, false).unwrap();
    });
    let rte = m.io.rte(9).unwrap();
    assert_eq!(rte & RTE_MASKED, 0, "unmasked at request");
    let (cpu, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
    assert_eq!(rte as u8, vector);
    assert_eq!((rte >> 56) as u32, cpu);
    m.io.set_line(9, true).unwrap();
    assert_eq!(asserted(&m), vec![cpu]);
    assert_eq!(cpu_entry(&m, cpu), Ok(Some(vector)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(irr_seen.load(Ordering::SeqCst), 1);
    assert_eq!(m.io.rte(9).unwrap() & RTE_REMOTE_IRR, 0, "EOI cleared remote IRR");
    assert_eq!(state(&m, cpu, vector), (false, false));
    assert!(asserted(&m).is_empty());
}

#[test]
fn level_pin_still_asserted_after_eoi_is_delivered_again() {
    let m = machine();
    let virq = m.x86.map_pin(&m.sys, &[10, LEVEL_HIGH]).unwrap();
    let (hits, _reg) = count(&m, virq, || {});
    let (cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
    m.io.set_line(10, true).unwrap();
    cpu_entry(&m, cpu).unwrap();
    assert_eq!(asserted(&m), vec![cpu], "re-delivered once remote IRR cleared");
    m.io.set_line(10, false).unwrap();
    cpu_entry(&m, cpu).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(asserted(&m).is_empty());
}

#[test]
fn edge_isa_pin_is_handled_once_through_the_edge_flow() {
    let m = machine();
    let virq = m.x86.map_pin(&m.sys, &[4, EDGE_RISING]).unwrap();
    let (hits, _reg) = count(&m, virq, || {});
    let (cpu, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
    m.io.set_line(4, true).unwrap();
    m.io.set_line(4, false).unwrap();
    assert_eq!(cpu_entry(&m, cpu), Ok(Some(vector)));
    assert_eq!(cpu_entry(&m, cpu), Ok(None));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(state(&m, cpu, vector), (false, false));
}

#[test]
fn set_affinity_rewrites_the_redirection_entry_and_frees_the_old_vector() {
    let m = machine();
    let virq = m.x86.map_pin(&m.sys, &[11, EDGE_RISING]).unwrap();
    let (hits, _reg) = count(&m, virq, || {});
    let (old_cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
    let to = (old_cpu + 2) % 4;
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(to))).unwrap();
    let (cpu, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
    assert_eq!(cpu, to);
    let rte = m.io.rte(11).unwrap();
    assert_eq!(((rte >> 56) as u32, rte as u8), (to, vector));
    m.io.set_line(11, true).unwrap();
    assert_eq!(asserted(&m), vec![to]);
    assert_eq!(cpu_entry(&m, to), Ok(Some(vector)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The first interrupt on the new vector completed the move: a second move works.
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(old_cpu))).unwrap();
    assert_eq!(m.x86.vector_of(&m.sys, virq).unwrap().0, old_cpu);
}

#[test]
fn pci_msi_message_targets_the_vector_and_follows_affinity() {
    let m = machine();
    let first = m.x86.msi_alloc(&m.sys, 0x28, 2).unwrap();
    let regs: Vec<_> = (0..2).map(|i| count(&m, first + i, || {})).collect();
    let (cpu, vector) = m.x86.vector_of(&m.sys, first + 1).unwrap();
    let msg = m.x86.msi_msg(&m.sys, first + 1).unwrap();
    let t = msg.decode(false).unwrap();
    assert_eq!((t.dest, t.vector), (cpu, vector));
    m.lapics.deliver_msi(&msg).unwrap();
    assert_eq!(cpu_entry(&m, cpu), Ok(Some(vector)));
    let hits: Vec<u32> = regs.iter().map(|(h, _)| h.load(Ordering::SeqCst)).collect();
    assert_eq!(hits, vec![0, 1]);
    assert_eq!(state(&m, cpu, vector), (false, false));
    let to = (cpu + 1) % 4;
    m.sys.irq_set_affinity(first + 1, &CpuMask::single(CpuId(to))).unwrap();
    let msg = m.x86.msi_msg(&m.sys, first + 1).unwrap();
    assert_eq!(msg.decode(false).unwrap().dest, to);
    m.lapics.deliver_msi(&msg).unwrap();
    assert_eq!(asserted(&m), vec![to]);
    cpu_entry(&m, to).unwrap();
    assert_eq!(regs[1].0.load(Ordering::SeqCst), 2);
}

#[test]
fn bad_pins_types_and_vectors_give_typed_errors() {
    let m = machine();
    let inval = |r: Result<u32, IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.x86.map_pin(&m.sys, &[24, LEVEL_HIGH])), "pin beyond the IO-APIC");
    assert!(inval(m.x86.map_pin(&m.sys, &[3, EDGE_BOTH])), "no both-edge");
    assert!(inval(m.x86.map_pin(&m.sys, &[3])), "one cell");
    assert!(inval(m.x86.msi_alloc(&m.sys, 1, 0)));
    assert!(matches!(m.x86.msi_msg(&m.sys, 999), Err(IrqError::NotFound(_))));
    // A vector nobody assigned: reported, and EOIed so the ISR is free again.
    m.lapics.deliver(None, Destination::Physical(1), DeliveryMode::Fixed, 0x99, false).unwrap();
    assert!(matches!(cpu_entry(&m, 1), Err(IrqError::NotFound(_))));
    assert_eq!(state(&m, 1, 0x99), (false, false));
}

#[test]
fn proc_interrupts_shows_io_apic_pin_and_flow() {
    let m = machine();
    let virq = m.x86.map_pin(&m.sys, &[4, EDGE_RISING]).unwrap();
    let _reg = m.sys.request_irq(virq, |_| IrqReturn::HANDLED, Flags::empty(), "ttyS0").unwrap();
    let text = m.sys.show_interrupts();
    let line = text.lines().find(|l| l.ends_with("ttyS0")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[words.len() - 3..], ["IO-APIC", "4-edge", "ttyS0"], "{line}");
}

#[test]
fn pins_routed_to_each_of_four_cpus_are_taken_there() {
    let m = machine();
    let mut regs = Vec::new();
    for cpu in 0..4u32 {
        let pin = 16 + cpu;
        let virq = m.x86.map_pin(&m.sys, &[pin, LEVEL_HIGH]).unwrap();
        let io = m.io.clone();
        regs.push(count(&m, virq, move || io.set_line(pin, false).unwrap()));
        m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(cpu))).unwrap();
        m.io.set_line(pin, true).unwrap();
    }
    assert_eq!(asserted(&m), vec![0, 1, 2, 3]);
    for cpu in 0..4u32 {
        let virq = regs[cpu as usize].1.irq();
        let (_, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
        assert_eq!(cpu_entry(&m, cpu), Ok(Some(vector)));
        assert_eq!(m.sys.kstat_irqs_cpu(virq, CpuId(cpu)), 1);
        assert_eq!(m.io.rte(16 + cpu).unwrap() & RTE_REMOTE_IRR, 0);
    }
    assert!(regs.iter().all(|(h, _)| h.load(Ordering::SeqCst) == 1));
    assert!(asserted(&m).is_empty());
}

// arch/x86/kernel/apic/vector.c irq_complete_move / __vector_schedule_cleanup: the
// interrupt path tests move_in_progress without the vector lock, yet every move of a
// busy irq is still completed by the first interrupt on its new vector (here: a move
// after it is accepted, which a move in progress would refuse with EBUSY).
#[test]
fn irq_complete_move_completes_each_move_of_a_busy_line_and_msi() {
    let m = machine();
    let pin = m.x86.map_pin(&m.sys, &[9, EDGE_RISING]).unwrap();
    let (pin_hits, _r1) = count(&m, pin, || {});
    let msi = m.x86.msi_alloc(&m.sys, 0x30, 1).unwrap();
    let (msi_hits, _r2) = count(&m, msi, || {});
    for round in 0..8u32 {
        let (pcpu, pvec) = m.x86.vector_of(&m.sys, pin).unwrap();
        m.io.set_line(9, true).unwrap();
        m.io.set_line(9, false).unwrap();
        assert_eq!(cpu_entry(&m, pcpu), Ok(Some(pvec)), "round {round}");
        let (mcpu, mvec) = m.x86.vector_of(&m.sys, msi).unwrap();
        m.lapics.deliver_msi(&m.x86.msi_msg(&m.sys, msi).unwrap()).unwrap();
        assert_eq!(cpu_entry(&m, mcpu), Ok(Some(mvec)), "round {round}");
        // The interrupts completed any move in progress: the next move is accepted.
        let next = CpuMask::single(CpuId((round + 1) % 4));
        m.sys.irq_set_affinity(pin, &next).unwrap();
        m.sys.irq_set_affinity(msi, &next).unwrap();
    }
    assert_eq!((pin_hits.load(Ordering::SeqCst), msi_hits.load(Ordering::SeqCst)), (8, 8));
}
