//! x86 models against the architecture rules Linux relies on (spec §8; Linux
//! arch/x86/kernel/apic/{apic.c,io_apic.c,vector.c}, arch/x86/kernel/i8259.c,
//! kernel/irq/matrix.c).

use std::sync::Arc;

use irqkit_chips::mmio::{Mmio, MmioError, Width};
use irqkit_chips::trigger::Trigger;
use irqkit_chips::x86::apic_driver::{IoApicDriver, IpiDest, LapicDriver};
use irqkit_chips::x86::i8259_driver::I8259Driver;
use irqkit_chips::x86::ioapic::{IoApic, RTE_LEVEL, RTE_MASKED, RTE_REMOTE_IRR};
use irqkit_chips::x86::lapic_regs::*;
use irqkit_chips::x86::vector::*;
use irqkit_chips::x86::{I8259Pair, LapicSet, MsiMessage, VectorMatrix};

fn lapics(n: u32) -> Arc<LapicSet> {
    let l = Arc::new(LapicSet::new(n).unwrap());
    for cpu in 0..n {
        LapicDriver::setup(&l.mmio_view(cpu));
    }
    l
}

#[test]
fn lapic_delivers_only_classes_above_ppr() {
    let l = lapics(1);
    let a = l.mmio_view(0);
    a.write32(APIC_TASKPRI, 0x50);
    LapicDriver::send_ipi(&a, IpiDest::SelfOnly, 0x45, false).unwrap();
    assert!(!l.irq_asserted(0), "class 4 <= TPR class 5");
    LapicDriver::send_ipi(&a, IpiDest::SelfOnly, 0x61, false).unwrap();
    assert_eq!(l.acknowledge(0).unwrap(), 0x61);
    assert_eq!(a.read32(APIC_PROCPRI), 0x60, "PPR = in-service class");
    LapicDriver::send_ipi(&a, IpiDest::SelfOnly, 0x65, false).unwrap();
    assert!(!l.irq_asserted(0), "same class as in-service: blocked");
    LapicDriver::send_ipi(&a, IpiDest::SelfOnly, 0x71, false).unwrap();
    assert_eq!(l.acknowledge(0).unwrap(), 0x71, "higher class nests");
    LapicDriver::eoi(&a); // retires 0x71 (highest ISR)
    assert!(LapicDriver::test_vector(&a, APIC_ISR, 0x61));
    LapicDriver::eoi(&a);
    assert_eq!(l.acknowledge(0).unwrap(), 0x65);
    LapicDriver::eoi(&a);
    a.write32(APIC_TASKPRI, 0x10);
    assert_eq!(l.acknowledge(0).unwrap(), 0x45);
}

#[test]
fn lapic_spurious_vector_when_nothing_deliverable_and_isr_untouched() {
    let l = lapics(1);
    assert_eq!(l.acknowledge(0).unwrap(), SPURIOUS_APIC_VECTOR);
    assert_eq!(l.snapshot(0).unwrap().ppr(), 0x10);
    assert!(!LapicDriver::test_vector(&l.mmio_view(0), APIC_ISR, 0xFF));
}

#[test]
fn icr_shorthands_and_nmi() {
    let l = lapics(4);
    let a = l.mmio_view(1);
    LapicDriver::send_ipi(&a, IpiDest::AllButSelf, RESCHEDULE_VECTOR, false).unwrap();
    assert_eq!((0..4).map(|c| l.irq_asserted(c)).collect::<Vec<_>>(), [true, false, true, true]);
    LapicDriver::send_ipi(&a, IpiDest::All, CALL_FUNCTION_VECTOR, false).unwrap();
    assert!(l.irq_asserted(1));
    LapicDriver::send_ipi(&a, IpiDest::Apic(3), 0, true).unwrap();
    assert!(l.cpu_lines(3).fiq);
    assert!(l.take_nmi(3) && !l.cpu_lines(3).fiq);
    assert_eq!(l.acknowledge(0).unwrap(), RESCHEDULE_VECTOR);
    assert!(LapicDriver::send_ipi(&a, IpiDest::Apic(0), 5, false).is_err());
    // An illegal vector written straight into the ICR sets ESR "send illegal vector".
    a.write32(APIC_ICR, APIC_DEST_SELF | 5);
    a.write32(APIC_ESR, 0);
    assert_eq!(a.read32(APIC_ESR) & (1 << 5), 1 << 5);
}

#[test]
fn lapic_timer_periodic_oneshot_and_tsc_deadline() {
    let l = lapics(1);
    let a = l.mmio_view(0);
    LapicDriver::setup_timer(&a, LOCAL_TIMER_VECTOR, true, Some(100)).unwrap();
    assert_eq!(l.next_timer_event(0), Some(1600));
    assert!(!l.advance_time(0, 1599).unwrap());
    assert_eq!(a.read32(APIC_TMCCT), 0);
    assert!(l.advance_time(0, 1600).unwrap());
    assert_eq!(l.acknowledge(0).unwrap(), LOCAL_TIMER_VECTOR);
    LapicDriver::eoi(&a);
    assert_eq!(l.next_timer_event(0), Some(3200), "periodic re-arms");
    LapicDriver::setup_timer(&a, LOCAL_TIMER_VECTOR, false, Some(10)).unwrap();
    assert!(l.advance_time(0, 5000).unwrap());
    assert_eq!(l.next_timer_event(0), None, "one-shot stops");
    LapicDriver::eoi(&a);
    let _ = l.acknowledge(0);
    LapicDriver::eoi(&a);
    LapicDriver::setup_timer(&a, LOCAL_TIMER_VECTOR, false, None).unwrap();
    l.write_tsc_deadline(0, 9000).unwrap();
    assert!(!l.advance_time(0, 8999).unwrap());
    assert!(l.advance_time(0, 9000).unwrap());
    assert!(l.irq_asserted(0));
    assert!(LapicDriver::setup_timer(&a, 3, false, None).is_err());
}

#[test]
fn remote_irr_blocks_a_level_ioapic_line_until_eoi() {
    let l = lapics(2);
    let io = IoApic::new(0, 24, l.clone()).unwrap();
    let d = IoApicDriver::probe(&io.mmio_view());
    assert_eq!(d.pins(), 24);
    d.setup_pin(&io.mmio_view(), 9, 0x41, 1, Trigger::LevelHigh).unwrap();
    d.unmask(&io.mmio_view(), 9).unwrap();
    io.set_line(9, true).unwrap();
    assert_ne!(io.rte(9).unwrap() & RTE_REMOTE_IRR, 0);
    assert_eq!(l.acknowledge(1).unwrap(), 0x41);
    assert_eq!(l.vector_state(1, 0x41), Some((false, true, true)), "TMR set: level");
    // Line still high: nothing new is delivered while Remote IRR is set.
    io.set_line(9, true).unwrap();
    assert!(!l.irq_asserted(1));
    // ioapic_ack_level: LAPIC EOI broadcasts to the IO-APIC, which re-delivers.
    assert!(!d.ack_level(&io.mmio_view(), &l.mmio_view(1), 9, 0x41).unwrap());
    assert!(l.irq_asserted(1), "still asserted: delivered again after EOI");
    assert_eq!(l.acknowledge(1).unwrap(), 0x41);
    io.set_line(9, false).unwrap();
    LapicDriver::eoi(&l.mmio_view(1));
    assert_eq!(io.rte(9).unwrap() & RTE_REMOTE_IRR, 0);
    assert!(!l.irq_asserted(1));
}

#[test]
fn ioapic_edge_pins_and_masking() {
    let l = lapics(1);
    let io = IoApic::new(0, 24, l.clone()).unwrap();
    let d = IoApicDriver::probe(&io.mmio_view());
    d.setup_pin(&io.mmio_view(), 4, 0x34, 0, Trigger::EdgeRising).unwrap();
    io.set_line(4, true).unwrap();
    assert!(!l.irq_asserted(0), "masked: edge lost");
    io.set_line(4, false).unwrap();
    d.unmask(&io.mmio_view(), 4).unwrap();
    io.set_line(4, true).unwrap();
    assert_eq!(l.acknowledge(0).unwrap(), 0x34);
    assert_eq!(l.vector_state(0, 0x34), Some((false, true, false)), "edge: TMR clear");
    assert!(d.setup_pin(&io.mmio_view(), 24, 0x40, 0, Trigger::LevelHigh).is_err());
    assert!(d.setup_pin(&io.mmio_view(), 1, 0x40, 0, Trigger::EdgeBoth).is_err());
    assert!(io.set_line(30, true).is_err());
}

#[test]
fn old_ioapic_clears_remote_irr_by_edge_rewrite() {
    let l = lapics(1);
    let io = IoApic::with_version(0, 24, l.clone(), 0x11).unwrap();
    let d = IoApicDriver::probe(&io.mmio_view());
    d.setup_pin(&io.mmio_view(), 2, 0x50, 0, Trigger::LevelHigh).unwrap();
    d.unmask(&io.mmio_view(), 2).unwrap();
    io.set_line(2, true).unwrap();
    io.set_line(2, false).unwrap();
    let rte = io.rte(2).unwrap();
    assert_ne!(rte & RTE_REMOTE_IRR, 0);
    d.write_rte(&io.mmio_view(), 2, (rte | RTE_MASKED) & !RTE_LEVEL).unwrap();
    d.write_rte(&io.mmio_view(), 2, rte).unwrap();
    assert_eq!(io.rte(2).unwrap() & RTE_REMOTE_IRR, 0);
}

fn pic() -> I8259Pair {
    let p = I8259Pair::new();
    I8259Driver::init(&p);
    p
}

#[test]
fn i8259_delivers_master_and_slave_irqs_at_0x30() {
    let p = pic();
    I8259Driver::unmask(&p, 3).unwrap();
    I8259Driver::unmask(&p, 12).unwrap();
    p.set_irq(3, true).unwrap();
    p.set_irq(12, true).unwrap();
    assert!(p.intr());
    // Fixed priority: the cascade (IR2) outranks IR3, so slave IRQ 12 comes first.
    assert_eq!(p.acknowledge(), 0x3C);
    assert!(I8259Driver::mask_and_ack(&p, 12).unwrap());
    assert_eq!(p.acknowledge(), 0x33);
    assert!(I8259Driver::mask_and_ack(&p, 3).unwrap());
    assert!(!p.intr());
}

#[test]
fn i8259_reports_irq7_spurious() {
    let p = pic();
    I8259Driver::unmask(&p, 5).unwrap();
    p.set_irq(5, true).unwrap();
    assert!(p.intr());
    p.set_irq(5, false).unwrap(); // request withdrawn before INTA
    assert_eq!(p.acknowledge(), 0x37, "spurious IRQ 7");
    assert!(!I8259Driver::is_real(&p, 7).unwrap(), "ISR7 clear: spurious");
    assert!(!I8259Driver::mask_and_ack(&p, 7).unwrap());
    assert_eq!(p.spurious_count(), 1);
}

#[test]
fn i8259_slave_request_withdrawn_before_inta_is_spurious() {
    let p = pic();
    I8259Driver::unmask(&p, 10).unwrap();
    p.set_irq(10, true).unwrap();
    // Slave asserted its output; mask the slave input before INTA.
    I8259Driver::mask(&p, 10).unwrap();
    p.set_irq(10, true).unwrap();
    // The slave's output drops, withdrawing the master's IR2 request: INTA finds
    // nothing and the master answers with its IRQ 7 vector (INTA is atomic in the
    // model, so the slave-side IRQ 15 race cannot occur).
    assert!(!p.intr());
    assert_eq!(p.acknowledge(), 0x37);
    assert!(p.inb(0x22).is_err() && p.outb(0x22, 0).is_err());
    assert!(p.set_irq(2, true).is_err() && p.set_irq(16, true).is_err());
}

#[test]
fn matrix_spreads_allocations_and_reports_exhaustion() {
    let m = VectorMatrix::new(2).unwrap();
    m.assign_system(IA32_SYSCALL_VECTOR);
    m.online(0).unwrap();
    m.online(1).unwrap();
    let window = (FIRST_SYSTEM_VECTOR - FIRST_EXTERNAL_VECTOR) as u32;
    assert_eq!(m.counts(0).unwrap().available, window - 1);
    assert_eq!(m.alloc(0b11, false).unwrap(), (0, 0x20));
    assert_eq!(m.alloc(0b11, false).unwrap(), (1, 0x20), "largest available wins");
    assert_eq!(m.alloc(0b11, false).unwrap(), (0, 0x21));
    assert!(m.alloc(0, false).is_err());
    let mut n = 0;
    while m.alloc(0b01, false).is_ok() {
        n += 1;
    }
    assert_eq!(n, window - 1 - 2);
    assert_eq!(m.alloc(0b01, false).unwrap_err().errno(), 28, "ENOSPC");
    m.free(0, 0x20, false).unwrap();
    assert_eq!(m.alloc(0b01, false).unwrap(), (0, 0x20));
    assert!(m.free(0, 0xF0, false).is_err());
    assert!(m.online(5).is_err());
}

#[test]
fn matrix_managed_reservations() {
    let m = VectorMatrix::new(4).unwrap();
    for c in 0..4 {
        m.online(c).unwrap();
    }
    m.reserve_managed(0b1111).unwrap();
    assert_eq!(m.counts(2).unwrap().managed, 1);
    let (cpu, v) = m.alloc_managed(0b1111).unwrap();
    assert_eq!((cpu, v), (3, 0x20), "fewest managed allocations, ties to the last");
    // Ordinary allocations skip reserved managed vectors.
    assert_eq!(m.alloc(0b0100, false).unwrap(), (2, 0x21));
    let before = m.counts(3).unwrap().available;
    m.free(3, 0x20, true).unwrap();
    assert_eq!(m.counts(3).unwrap().available, before, "managed vector stays reserved");
}

#[test]
fn msi_compose_decode_and_deliver() {
    let l = lapics(4);
    let msg = MsiMessage::compose(2, 0x45, false).unwrap();
    assert_eq!(msg.address_lo, 0xFEE0_2000);
    assert_eq!(msg.data, 0x45);
    let t = msg.decode(false).unwrap();
    assert_eq!((t.dest, t.vector, t.level), (2, 0x45, false));
    assert_eq!(l.deliver_msi(&msg).unwrap(), 1);
    assert_eq!(l.acknowledge(2).unwrap(), 0x45);
    let (back, masked) = MsiMessage::from_msix_entry(msg.to_msix_entry(true));
    assert_eq!((back, masked), (msg, true));
    assert!(MsiMessage::compose(0x100, 0x45, false).is_err());
    assert!(MsiMessage::compose(0x8000, 0x45, true).is_err());
    assert_eq!(MsiMessage::compose(0x123, 0x45, true).unwrap().decode(true).unwrap().dest, 0x123);
    assert!(MsiMessage { address_lo: 0x1234, address_hi: 0, data: 0 }.decode(false).is_err());
    assert!(l.deliver_msi(&MsiMessage::compose(9, 0x45, false).unwrap()).is_err());
}

#[test]
fn end_to_end_ioapic_interrupts_on_four_cpus() {
    let l = lapics(4);
    let io = IoApic::new(0, 24, l.clone()).unwrap();
    let d = IoApicDriver::probe(&io.mmio_view());
    let m = VectorMatrix::new(4).unwrap();
    for cpu in 0..4u32 {
        m.online(cpu).unwrap();
        let (c, v) = m.alloc(1 << cpu, false).unwrap();
        assert_eq!(c, cpu);
        d.setup_pin(&io.mmio_view(), 16 + cpu, v, cpu as u8, Trigger::LevelLow).unwrap();
        d.unmask(&io.mmio_view(), 16 + cpu).unwrap();
        io.set_line(16 + cpu, true).unwrap(); // active low: deasserted
        io.set_line(16 + cpu, false).unwrap(); // asserted
        assert!(l.irq_asserted(cpu));
        assert_eq!(l.acknowledge(cpu).unwrap(), v);
        io.set_line(16 + cpu, true).unwrap(); // device handled
        d.ack_level(&io.mmio_view(), &l.mmio_view(cpu), 16 + cpu, v).unwrap();
        assert!(!l.irq_asserted(cpu));
    }
}

#[test]
fn bad_lapic_accesses_are_typed_errors() {
    let l = lapics(1);
    assert_eq!(
        l.mmio_view(0).read(0x1000, Width::W32),
        Err(MmioError::OutOfRange { offset: 0x1000 })
    );
    assert!(l.mmio_view(0).read(APIC_ID + 4, Width::W32).is_err());
    assert!(l.mmio_view(0).read(APIC_ID, Width::W8).is_err());
    assert_eq!(l.mmio_view(3).read(APIC_ID, Width::W32), Err(MmioError::NoSuchCpu(3)));
    assert!(l.acknowledge(3).is_err() && l.eoi(3).is_err());
    assert!(LapicSet::new(0).is_err());
    let mut t = VectorTable::new();
    t.set(0x41, 9);
    assert_eq!(t.lookup(0x41), VectorSlot::Irq(9));
    t.clear(0x41);
    assert_eq!(t.lookup(0x41), VectorSlot::Shutdown);
    assert_eq!(t.lookup(0x41), VectorSlot::Unused);
}

#[test]
fn pci_msi_domain_allocates_vectors_and_messages() {
    use irqkit_chips::x86::msi_domain::{msi_alloc, msi_free};
    let l = lapics(4);
    let m = VectorMatrix::new(4).unwrap();
    for c in 0..4 {
        m.online(c).unwrap();
    }
    let mut tables = vec![VectorTable::new(); 4];
    let v = msi_alloc(&m, &mut tables, 0b1111, 100, 4).unwrap();
    let cpus: Vec<u32> = v.iter().map(|x| x.cpu).collect();
    assert_eq!(cpus, [0, 1, 2, 3], "spread across CPUs");
    for x in &v {
        l.deliver_msi(&x.msg).unwrap();
        assert_eq!(l.acknowledge(x.cpu).unwrap(), x.vector);
        assert_eq!(tables[x.cpu as usize].lookup(x.vector), VectorSlot::Irq(x.irq));
    }
    msi_free(&m, &mut tables, &v);
    assert_eq!(tables[0].lookup(v[0].vector), VectorSlot::Shutdown);
    // Exhaustion rolls back everything allocated by the failing call.
    let before = m.counts(0).unwrap();
    assert!(msi_alloc(&m, &mut tables, 0b1, 0, 500).is_err());
    assert_eq!(m.counts(0).unwrap(), before);
}

#[test]
fn lint_inputs_deliver_fixed_and_nmi_and_errors_raise_the_error_vector() {
    let l = lapics(1);
    let a = l.mmio_view(0);
    a.write32(APIC_LVT0, 0x42);
    a.write32(APIC_LVT1, 0x400); // NMI
    l.set_lint(0, 0, true).unwrap();
    assert_eq!(l.acknowledge(0).unwrap(), 0x42);
    LapicDriver::eoi(&a);
    l.set_lint(0, 0, true).unwrap();
    assert!(!l.irq_asserted(0), "edge LINT: no new edge");
    l.set_lint(0, 1, true).unwrap();
    assert!(l.take_nmi(0));
    assert!(l.set_lint(0, 2, true).is_err() && l.set_lint(4, 0, true).is_err());
    // Receiving an illegal vector raises the error LVT (0xFE after LapicDriver::setup).
    l.deliver(
        None,
        irqkit_chips::x86::Destination::Physical(0),
        irqkit_chips::x86::DeliveryMode::Fixed,
        3,
        false,
    )
    .unwrap();
    assert_eq!(l.acknowledge(0).unwrap(), ERROR_APIC_VECTOR);
    a.write32(APIC_ESR, 0);
    assert_eq!(a.read32(APIC_ESR), 1 << 6, "Received illegal vector");
}

#[test]
fn vector_move_keeps_the_old_vector_until_cleanup() {
    use irqkit_chips::x86::vector_domain::ApicIrq;
    let l = lapics(4);
    let m = VectorMatrix::new(4).unwrap();
    for c in 0..4 {
        m.online(c).unwrap();
    }
    let mut tables = vec![VectorTable::new(); 4];
    let mut a = ApicIrq::assign(&m, &mut tables, 77, 0b0001, 0b1111).unwrap();
    assert_eq!((a.cpu, a.vector), (0, 0x20));
    assert_eq!(a.set_affinity(&m, &mut tables, 0b0011, 0b1111), Ok(false), "CPU 0 still allowed");
    assert_eq!(a.set_affinity(&m, &mut tables, 0b0100, 0b1111), Ok(true));
    assert_eq!((a.cpu, a.prev), (2, Some((0, 0x20))));
    assert!(a.set_affinity(&m, &mut tables, 0b1000, 0b1111).is_err(), "EBUSY while moving");
    // Both vectors dispatch to the irq during the move.
    assert_eq!(tables[0].get(0x20), VectorSlot::Irq(77));
    assert_eq!(tables[2].get(a.vector), VectorSlot::Irq(77));
    assert!(a.cleanup(&m, &mut tables, false).is_err(), "nothing arrived on the new vector yet");
    assert!(!a.complete_move(0));
    assert!(a.complete_move(2));
    // The old vector is still pending in CPU 0's IRR: retry.
    l.deliver(
        None,
        irqkit_chips::x86::Destination::Physical(0),
        irqkit_chips::x86::DeliveryMode::Fixed,
        0x20,
        false,
    )
    .unwrap();
    let pending = l.vector_state(0, 0x20).unwrap().0;
    assert_eq!(
        a.cleanup(&m, &mut tables, pending),
        Err(irqkit_core::IrqError::Busy("Moved interrupt pending in old target APIC"))
    );
    assert_eq!(l.acknowledge(0).unwrap(), 0x20);
    l.eoi(0).unwrap();
    a.cleanup(&m, &mut tables, l.vector_state(0, 0x20).unwrap().0).unwrap();
    assert_eq!(tables[0].lookup(0x20), VectorSlot::Shutdown);
    assert!(!a.move_in_progress());
    // Moving away from an offline CPU frees the old vector at once.
    m.offline(2).unwrap();
    assert_eq!(a.set_affinity(&m, &mut tables, 0b1000, 0b1011), Ok(true));
    assert!(!a.move_in_progress());
    a.free(&m, &mut tables);
    assert_eq!(m.counts(3).unwrap().allocated, 0);
}

#[test]
fn hostile_times_and_frees_are_defined() {
    let l = lapics(1);
    let a = l.mmio_view(0);
    LapicDriver::setup_timer(&a, LOCAL_TIMER_VECTOR, true, Some(u32::MAX)).unwrap();
    assert!(!l.advance_time(0, u64::MAX - 1).unwrap() || l.irq_asserted(0));
    let _ = l.advance_time(0, u64::MAX);
    let m = VectorMatrix::new(1).unwrap();
    m.online(0).unwrap();
    m.reserve_managed(1).unwrap();
    let (c, v) = m.alloc_managed(1).unwrap();
    assert!(m.free(c, v, false).is_err(), "managed vector freed as ordinary");
    m.free(c, v, true).unwrap();
    assert!(m.free(c, v, true).is_err(), "double free");
}
