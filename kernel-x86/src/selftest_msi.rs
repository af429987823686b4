//! Self-test of a PCI device on MSI through irqkit-chips' PCI-MSI domain: QEMU's `edu`
//! (`run.sh` adds `-device edu`). N raises give exactly N handler runs, all on the
//! CPU of the irq's affinity; an affinity write moves the vector, the message in the
//! device's MSI capability follows, and the next N land on the new CPU only;
//! `/proc/interrupts` counts them on a `PCI-MSI` row.

use core::sync::atomic::Ordering;

use irqkit_chips::x86::msi::MsiMessage;
use irqkit_core::irq::ProcIrqFile;
use irqkit_core::{CpuId, CpuMask};

use crate::selftest::{check, hex_mask, wait_for, SECOND};
use crate::{edu, kprintln, lapic, pci_msi, percpu, platform};

/// Raises per phase.
const RAISES: u64 = 20;

fn runs(n: usize) -> alloc::vec::Vec<u64> {
    (0..n).map(|c| edu::RUNS[c].load(Ordering::Acquire)).collect()
}

/// The APIC ID a message targets (xAPIC physical: address bits 19:12).
fn dest(m: &Option<MsiMessage>) -> Option<u32> {
    m.map(|m| (m.address_lo >> 12) & 0xFF)
}

/// `RAISES` raises, one at a time (two MSIs pending at once would merge in the IRR);
/// checks they all ran on `cpu`.
fn phase(e: &edu::Edu, n: usize, cpu: usize) {
    let apic = percpu::area(cpu).apic_id.load(Ordering::Relaxed);
    let msg = pci_msi::read_msg(e.irq);
    let before = runs(n);
    let mut arrived = true;
    for i in 0..RAISES {
        let total: u64 = runs(n).iter().sum();
        e.raise(i as u32);
        arrived &= wait_for(SECOND, || runs(n).iter().sum::<u64>() == total + 1);
    }
    lapic::delay_ns(5_000_000); // nothing more may follow
    let after = runs(n);
    let delta: alloc::vec::Vec<u64> = (0..n).map(|c| after[c] - before[c]).collect();
    let exact = delta[cpu] == RAISES && delta.iter().sum::<u64>() == RAISES;
    check(
        arrived && exact && dest(&msg) == Some(apic),
        format_args!(
            "edu MSI (irq {}, message {:x?} in its capability): {RAISES} raises -> handler runs per CPU {delta:?}, all on CPU{cpu}",
            e.irq,
            msg.map(|m| (m.address_lo, m.data))
        ),
    );
}

/// Runs the checks on `n` CPUs.
pub fn run(n: usize) {
    let Some(e) = edu::get() else {
        check(false, format_args!("edu PCI device present (run.sh passes -device edu)"));
        return;
    };
    let sys = platform::system();
    kprintln!("edu at 00:{:02x}.{}, id {:#010x}, irq {}", e.dev.dev, e.dev.func, e.id(), e.irq);
    let last = n - 1;
    let moved = sys.irq_set_affinity(e.irq, &CpuMask::single(CpuId(last as u32)));
    check(moved.is_ok(), format_args!("edu irq {} affinity set to CPU{last} ({moved:?})", e.irq));
    phase(e, n, last);
    let w = sys.proc_irq_write(e.irq, ProcIrqFile::SmpAffinity, "1");
    let eff = sys.proc_irq_read(e.irq, ProcIrqFile::EffectiveAffinity);
    check(
        w.is_ok() && hex_mask(&eff) == Some(1),
        format_args!("echo 1 > /proc/irq/{}/smp_affinity (effective {eff:?})", e.irq),
    );
    phase(e, n, 0);
    let kstat: alloc::vec::Vec<u32> =
        (0..n).map(|c| sys.kstat_irqs_cpu(e.irq, CpuId(c as u32))).collect();
    let text = sys.show_interrupts();
    let row = text.lines().find(|l| l.trim_end().ends_with(" edu")).unwrap_or("");
    let mut words = row.split_whitespace().rev();
    let (name, hw, chip) = (words.next(), words.next(), words.next());
    let runs_now = runs(n);
    check(
        chip == Some("PCI-MSI")
            && name == Some("edu")
            && hw.is_some_and(|h| h.ends_with("-edge"))
            && (0..n).all(|c| kstat[c] as u64 == runs_now[c])
            && edu::EMPTY_RUNS.load(Ordering::Relaxed) == 0,
        format_args!("/proc/interrupts: {:?}", row.trim()),
    );
}
