//! Self-test of PCI devices on MSI / MSI-X through irqkit-chips' PCI-MSI domain: QEMU's
//! `edu` (MSI) and `virtio-rng-pci` (MSI-X), which `run.sh` adds. N requests give
//! exactly N handler runs, all on the CPU of the irq's affinity; an affinity write moves
//! the vector, the message in the device (MSI capability / MSI-X table entry) follows,
//! and the next N land on the new CPU only; `/proc/interrupts` counts them on a
//! `PCI-MSI` row. edu's MSI has no per-vector masking, so its move is deferred to its
//! next interrupt on the old CPU and done in two steps there (Linux's
//! `msi_set_affinity`); the self-test sends that interrupt before counting.

use core::sync::atomic::{AtomicU64, Ordering};

use irqkit_chips::x86::msi::MsiMessage;
use irqkit_core::irq::ProcIrqFile;
use irqkit_core::CpuId;

use crate::percpu::MAX_CPUS;
use crate::selftest::{check, hex_mask, wait_for, write_affinity, SECOND};
use crate::{edu, kprintln, lapic, pci_msi, percpu, platform, virtio_rng, x86irq};

/// Requests per phase.
const REQUESTS: u64 = 20;

/// One device under test.
struct Dut<'a> {
    name: &'a str,
    irq: u32,
    runs: &'a [AtomicU64; MAX_CPUS],
    request: &'a dyn Fn(u64),
    /// MOVE_DEFERRED: an MSI without per-vector masking.
    deferred: bool,
}

impl Dut<'_> {
    fn runs(&self, n: usize) -> alloc::vec::Vec<u64> {
        (0..n).map(|c| self.runs[c].load(Ordering::Acquire)).collect()
    }
}

/// The APIC ID a message targets (xAPIC physical: address bits 19:12).
fn dest(m: &Option<MsiMessage>) -> Option<u32> {
    m.map(|m| (m.address_lo >> 12) & 0xFF)
}

/// `REQUESTS` requests, one at a time (two messages pending at once would merge in the
/// IRR); checks they all ran on `cpu` and that the device's message names that CPU.
fn phase(d: &Dut<'_>, n: usize, cpu: usize) {
    let apic = percpu::area(cpu).apic_id.load(Ordering::Relaxed);
    let msg = pci_msi::read_msg(d.irq);
    let before = d.runs(n);
    let mut arrived = true;
    for i in 0..REQUESTS {
        let total: u64 = d.runs(n).iter().sum();
        (d.request)(i);
        arrived &= wait_for(SECOND, || d.runs(n).iter().sum::<u64>() == total + 1);
    }
    lapic::delay_ns(5_000_000); // nothing more may follow
    let after = d.runs(n);
    let delta: alloc::vec::Vec<u64> = (0..n).map(|c| after[c] - before[c]).collect();
    let exact = delta[cpu] == REQUESTS && delta.iter().sum::<u64>() == REQUESTS;
    check(
        arrived && exact && dest(&msg) == Some(apic),
        format_args!(
            "{} (irq {}, message {:x?} in the device): {REQUESTS} requests -> handler runs per CPU {delta:?}, all on CPU{cpu}",
            d.name,
            d.irq,
            msg.map(|m| (m.address_lo, m.data))
        ),
    );
}

fn effective(irq: u32) -> Option<u64> {
    hex_mask(&platform::system().proc_irq_read(irq, ProcIrqFile::EffectiveAffinity))
}

/// After an affinity write: a deferred MSI (no per-vector masking) moves at its next
/// interrupt, on its old CPU. Sends requests one at a time until the effective
/// affinity is `cpu` (a second one if the previous move's old vector was not released
/// yet: EBUSY keeps the move pending); returns how many it took, `None` if it never
/// moved.
fn settle(d: &Dut<'_>, n: usize, cpu: usize) -> Option<u64> {
    let mut kicks = 0;
    let moved = wait_for(2 * SECOND, || {
        if effective(d.irq) == Some(1 << cpu) {
            return true;
        }
        let total: u64 = d.runs(n).iter().sum();
        (d.request)(kicks);
        kicks += 1;
        wait_for(SECOND, || d.runs(n).iter().sum::<u64>() == total + 1);
        false
    });
    moved.then_some(kicks)
}

/// Moves `d` to `cpu` with `echo MASK > smp_affinity`; checks the effective affinity
/// follows (for edu: only after the next interrupt, through the two-step path).
fn move_to(d: &Dut<'_>, n: usize, cpu: usize) {
    let old = effective(d.irq);
    let before = x86irq::msi_move_stats();
    let w = write_affinity(d.irq, &alloc::format!("{:x}", 1u64 << cpu));
    let deferred = effective(d.irq) == old;
    let kicks = settle(d, n, cpu);
    let s = x86irq::msi_move_stats();
    check(
        w.is_ok() && kicks.is_some(),
        format_args!(
            "echo {:x} > /proc/irq/{}/smp_affinity ({}: {w:?}, effective {old:x?} -> {:x?} \
             after {kicks:?} interrupts; MSI moves: direct +{}, two-step +{}, retriggered +{})",
            1u64 << cpu,
            d.irq,
            d.name,
            effective(d.irq),
            s.direct - before.direct,
            s.two_step - before.two_step,
            s.retriggered - before.retriggered,
        ),
    );
    if d.deferred && old != Some(1 << cpu) {
        // The write only queued the move; the old CPU's interrupt applied it, in two
        // steps unless its vector or APIC stayed the same.
        check(
            deferred && kicks.is_some_and(|k| k >= 1) && s.wrong_cpu == before.wrong_cpu,
            format_args!(
                "{}: the move waited for the next interrupt on the old CPU ({kicks:?})",
                d.name
            ),
        );
    }
}

/// Both phases and the `/proc/interrupts` row of one device.
fn run_device(d: &Dut<'_>, n: usize) {
    let sys = platform::system();
    let last = n - 1;
    move_to(d, n, last);
    phase(d, n, last);
    move_to(d, n, 0);
    phase(d, n, 0);
    let kstat: alloc::vec::Vec<u32> =
        (0..n).map(|c| sys.kstat_irqs_cpu(d.irq, CpuId(c as u32))).collect();
    let text = sys.show_interrupts();
    let tail = alloc::format!(" {}", d.name);
    let row = text.lines().find(|l| l.trim_end().ends_with(tail.as_str())).unwrap_or("");
    let mut words = row.split_whitespace().rev();
    let (name, hw, chip) = (words.next(), words.next(), words.next());
    let runs = d.runs(n);
    check(
        chip == Some("PCI-MSI")
            && name == Some(d.name)
            && hw.is_some_and(|h| h.ends_with("-edge"))
            && (0..n).all(|c| kstat[c] as u64 == runs[c]),
        format_args!("/proc/interrupts: {:?}", row.trim()),
    );
}

/// Runs the checks on `n` CPUs.
pub fn run(n: usize) {
    match edu::get() {
        Some(e) => {
            kprintln!(
                "edu at 00:{:02x}.{}, id {:#010x}, irq {}",
                e.dev.dev,
                e.dev.func,
                e.id(),
                e.irq
            );
            let raise = |i: u64| e.raise(i as u32);
            let dut =
                Dut { name: "edu", irq: e.irq, runs: &edu::RUNS, request: &raise, deferred: true };
            run_device(&dut, n);
            let empty = edu::EMPTY_RUNS.load(Ordering::Relaxed);
            check(empty == 0, format_args!("edu: no handler run without status ({empty})"));
        }
        None => check(false, format_args!("edu PCI device present (run.sh adds -device edu)")),
    }
    match virtio_rng::get() {
        Some(v) => {
            kprintln!("virtio-rng at 00:{:02x}.{}, irq {}", v.dev.dev, v.dev.func, v.irq);
            let req = |_| v.request();
            let dut = Dut {
                name: "virtio0-input",
                irq: v.irq,
                runs: &virtio_rng::RUNS,
                request: &req,
                deferred: false,
            };
            run_device(&dut, n);
            let done = virtio_rng::COMPLETED.load(Ordering::Acquire);
            let empty = virtio_rng::EMPTY_RUNS.load(Ordering::Relaxed);
            check(
                done == 2 * REQUESTS
                    && empty == 0
                    && virtio_rng::BYTES_OR.load(Ordering::Relaxed) != 0,
                format_args!(
                    "virtio-rng: {done} buffers filled with entropy, {empty} empty handler runs"
                ),
            );
        }
        None => check(false, format_args!("virtio-rng PCI device present (run.sh adds it)")),
    }
}
