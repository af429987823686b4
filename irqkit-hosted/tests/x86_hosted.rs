//! The x86 LAPIC + IO-APIC models as the hosted machine's controller, end to end on 4
//! CPUs (arch/x86/kernel/apic/io_apic.c, vector.c, msi.c; arch/x86/kernel/irq.c
//! `common_interrupt`).

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::{CpuId, CpuMask};
use irqkit_hosted::x86::{PIN_EDGE, PIN_LEVEL};
use irqkit_hosted::{Machine, MachineConfig};

fn counter(
    sys: &Arc<irqkit_core::IrqSystem>,
    virq: u32,
    cpu: u32,
    name: &str,
) -> (Arc<AtomicU64>, Arc<AtomicU32>, irqkit_core::irq::Registration) {
    let (hits, wrong) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU32::new(0)));
    let (h, w, s2) = (hits.clone(), wrong.clone(), sys.clone());
    let reg = sys
        .request_irq(
            virq,
            move |_| {
                if s2.current_cpu() != Some(CpuId(cpu)) {
                    w.fetch_add(1, SeqCst);
                }
                h.fetch_add(1, SeqCst);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            name,
        )
        .unwrap();
    (hits, wrong, reg)
}

#[test]
fn ioapic_edge_pins_and_pci_msi_reach_their_target_cpus() {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let x86 = m.attach_x86().unwrap();
    let sys = m.sys().clone();
    let pin = x86.map_pin(&sys, 4, PIN_EDGE).unwrap();
    sys.irq_set_affinity(pin, &CpuMask::single(CpuId(2))).unwrap();
    let (pin_hits, pin_wrong, r1) = counter(&sys, pin, 2, "ttyS0");
    let msi = x86.msi_alloc(&sys, 0x10, 1).unwrap();
    sys.irq_set_affinity(msi, &CpuMask::single(CpuId(3))).unwrap();
    let (msi_hits, msi_wrong, r2) = counter(&sys, msi, 3, "eth0");
    for round in 1..=100u64 {
        x86.set_pin(4, true).unwrap();
        x86.set_pin(4, false).unwrap();
        x86.msi_write(&sys, msi).unwrap();
        common::wait_until("pin and MSI handled", || {
            pin_hits.load(SeqCst) == round && msi_hits.load(SeqCst) == round
        });
    }
    assert_eq!(pin_wrong.load(SeqCst) + msi_wrong.load(SeqCst), 0);
    let text = sys.show_interrupts();
    assert!(text.contains("IO-APIC") && text.contains("ttyS0") && text.contains("eth0"), "{text}");
    drop((r1, r2));
}

#[test]
fn level_pin_is_redelivered_while_asserted_and_stops_when_deasserted() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 250, ..Default::default() }).unwrap();
    let x86 = m.attach_x86().unwrap();
    let sys = m.sys().clone();
    let pin = x86.map_pin(&sys, 9, PIN_LEVEL).unwrap();
    sys.irq_set_affinity(pin, &CpuMask::single(CpuId(1))).unwrap();
    // The device deasserts its line after the third service (remote IRR + EOI rule).
    let hits = Arc::new(AtomicU64::new(0));
    let (h, x2) = (hits.clone(), x86.clone());
    let reg = sys
        .request_irq(
            pin,
            move |_| {
                if h.fetch_add(1, SeqCst) + 1 == 3 {
                    x2.set_pin(9, false).unwrap();
                }
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "acpi",
        )
        .unwrap();
    x86.set_pin(9, true).unwrap();
    common::wait_until("three services", || hits.load(SeqCst) >= 3);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(hits.load(SeqCst), 3, "a deasserted level line must not fire again");
    drop(reg);
}
