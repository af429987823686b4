//! Self-test of the IO-APIC devices: COM1 input (and moving its affinity), PS/2 keyboard.
//!
//! `run.sh --selftest` answers `SERIAL-READY` by typing [`SERIAL_PATTERN`] into COM1 and
//! `KBD-READY` by `sendkey a` on the QEMU monitor.

use irqkit_chips::x86::ioapic::{RTE_ACTIVE_LOW, RTE_LEVEL, RTE_LOGICAL, RTE_MASKED};
use irqkit_core::irq::ProcIrqFile;

use crate::devices::{COM1_IRQ, KBD_IRQ, SERIAL_RX};
use crate::percpu;
use crate::selftest::{check, wait_for, SECOND};
use crate::{kprintln, platform};

/// The bytes `run.sh --selftest` types into COM1 once it sees `SERIAL-READY`.
const SERIAL_PATTERN: &[u8] = b"irqkit serial selftest: 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";

/// Checks that IO-APIC `pin` is programmed as Linux programs an ISA line: edge,
/// active high, fixed delivery, unmasked, physical destination = the APIC ID of `cpu`.
pub fn check_isa_entry(pin: u32, cpu: usize) {
    let sys = platform::system();
    let rte = crate::x86irq::get().map(|x| x.ioapic_rte(sys, pin));
    let apic = percpu::area(cpu).apic_id.load(core::sync::atomic::Ordering::Relaxed);
    let ok = matches!(rte, Some(Ok(r)) if r & (RTE_LEVEL | RTE_ACTIVE_LOW | RTE_MASKED | 0x700 | RTE_LOGICAL) == 0
        && (r >> 56) as u32 == apic && r as u8 >= 0x20);
    check(
        ok,
        format_args!("IO-APIC pin {pin}: edge, active high, unmasked, to APIC {apic} ({rte:x?})"),
    );
}

/// COM1 input on `target`, then on CPU 0 after an affinity change; a bad mask refused.
pub fn test_serial(n: usize, target: usize) {
    check_isa_entry(COM1_IRQ, target);
    receive_pattern(n, target);
    // Let `target` take every COM1 edge already signalled (the UART raised the last one
    // before the thread read the last byte): two of its ticks later, any still pending
    // in its IRR has been handled — a pending lower vector is delivered as soon as the
    // first tick's handler returns. Otherwise such a late interrupt would count as one
    // "elsewhere" after the move, and CPU 0's edge flow could find the irq in progress.
    let ticks = |c: usize| percpu::area(c).ticks.load(core::sync::atomic::Ordering::Relaxed);
    let t0 = ticks(target);
    let drained = wait_for(SECOND, || ticks(target) >= t0 + 2);
    check(drained, format_args!("CPU{target} ticked twice after the first pattern"));
    // Move the line to CPU 0: `echo 1 > /proc/irq/4/smp_affinity`.
    let sys = platform::system();
    let before: alloc::vec::Vec<u64> =
        (0..n).map(|c| percpu::area(c).irq_count(COM1_IRQ)).collect();
    let moved = crate::selftest::write_affinity(COM1_IRQ, "1");
    let read = sys.proc_irq_read(COM1_IRQ, ProcIrqFile::EffectiveAffinity);
    check(
        moved.is_ok() && crate::selftest::hex_mask(&read) == Some(1),
        format_args!("smp_affinity 1 accepted for irq 4 (effective {read:?})"),
    );
    check_isa_entry(COM1_IRQ, 0);
    receive_pattern(n, 0);
    let after: alloc::vec::Vec<u64> = (0..n).map(|c| percpu::area(c).irq_count(COM1_IRQ)).collect();
    let others_quiet = (1..n).all(|c| after[c] == before[c]);
    check(
        after[0] > before[0] && others_quiet,
        format_args!(
            "after the affinity change COM1 interrupts land on CPU0 only ({} -> {})",
            before[0], after[0]
        ),
    );
    let bad = sys.proc_irq_write(COM1_IRQ, ProcIrqFile::SmpAffinity, "10000000000");
    let still = sys.proc_irq_read(COM1_IRQ, ProcIrqFile::EffectiveAffinity);
    check(
        bad.is_err() && crate::selftest::hex_mask(&still) == Some(1),
        format_args!("an affinity mask with no online CPU is refused ({bad:?})"),
    );
    let desc = sys.irq_to_desc(COM1_IRQ).map(|d| d.total_count()).unwrap_or(0);
    check(
        desc >= 2 && crate::devices::THREAD_BAD.load(core::sync::atomic::Ordering::Relaxed) == 0,
        format_args!("irq 4 handled by the generic IRQ layer ({desc} on its descriptor), threaded ONESHOT handler ran in irq/4-ttyS0, in task context"),
    );
}

fn receive_pattern(n: usize, target: usize) {
    let before: alloc::vec::Vec<u64> =
        (0..n).map(|c| percpu::area(c).irq_count(COM1_IRQ)).collect();
    kprintln!("SERIAL-READY");
    let mut got = alloc::vec::Vec::new();
    let arrived = wait_for(10 * SECOND, || {
        while let Some(b) = SERIAL_RX.pop() {
            got.push(b);
        }
        got.len() >= SERIAL_PATTERN.len()
    });
    check(
        arrived && got == SERIAL_PATTERN && SERIAL_RX.dropped() == 0,
        format_args!(
            "{} of {} serial bytes received byte for byte",
            got.len(),
            SERIAL_PATTERN.len()
        ),
    );
    let delta = |c: usize| percpu::area(c).irq_count(COM1_IRQ) - before[c];
    let on_target = delta(target);
    let elsewhere: u64 = (0..n).filter(|&c| c != target).map(delta).sum();
    check(
        on_target >= 1 && elsewhere == 0,
        format_args!(
            "COM1 (IO-APIC pin 4) interrupts: {on_target} on CPU{target}, {elsewhere} elsewhere"
        ),
    );
}

/// `run.sh` answers `KBD-READY` with `sendkey a` on the QEMU monitor: press and
/// release of A are scan codes 0x1e and 0x9e (set 1, the controller translates).
pub fn test_keyboard() {
    check_isa_entry(KBD_IRQ, 0);
    kprintln!("KBD-READY");
    let mut got = alloc::vec::Vec::new();
    let arrived = wait_for(10 * SECOND, || {
        while let Some(b) = crate::i8042::SCANCODES.pop() {
            got.push(b);
        }
        got.len() >= 2
    });
    let irqs = percpu::area(0).irq_count(KBD_IRQ);
    check(
        arrived && got == [0x1e, 0x9e] && irqs >= 1,
        format_args!(
            "PS/2 keyboard: scan codes {got:02x?} through IRQ 1 ({irqs} interrupts on CPU0)"
        ),
    );
}
