//! Self-test of the `/proc` views: per-CPU counts of `/proc/interrupts` match the
//! vectors the test caused, and `/proc/irq/N/smp_affinity` reads for every irq and
//! writes through the shell's parser.

use core::sync::atomic::Ordering;

use irqkit_core::irq::ProcIrqFile;
use irqkit_core::{CpuId, IrqError};

use crate::devices::{COM1_IRQ, KBD_IRQ};
use crate::selftest::check;
use crate::{percpu, platform, shell};

/// `irq`'s `/proc/interrupts` counts equal the interrupts the dispatch delivered to
/// it, CPU by CPU (whatever vector it had there), less `uncounted` deliveries the flow
/// handler did not account.
fn counts_match(n: usize, irq: u32, uncounted: u64) {
    let sys = platform::system();
    let kstat: alloc::vec::Vec<u64> =
        (0..n).map(|c| sys.kstat_irqs_cpu(irq, CpuId(c as u32)) as u64).collect();
    let total = |v: &[u64]| v.iter().sum::<u64>();
    let vec: alloc::vec::Vec<u64> = (0..n).map(|c| percpu::area(c).irq_count(irq)).collect();
    let same_cpus = (0..n).all(|c| (kstat[c] == 0) == (vec[c] == 0));
    check(
        same_cpus && total(&kstat) > 0 && total(&kstat) + uncounted == total(&vec),
        format_args!("/proc/interrupts irq {irq}: {kstat:?} + {uncounted} == deliveries {vec:?}"),
    );
}

/// Runs the checks; `storm` is the storm line's irq, if it was set up.
pub fn run(n: usize, storm: Option<u32>) {
    let sys = platform::system();
    counts_match(n, COM1_IRQ, 0);
    counts_match(n, KBD_IRQ, 0);
    if let Some(irq) = storm {
        // The detector disables lazily (Linux's default): the line is masked by the
        // flow handler at the one delivery after the disable, which is not counted.
        counts_match(n, irq, 1);
    }
    let unknown: u64 =
        (0..n).map(|c| percpu::area(c).unknown_vectors.load(Ordering::Relaxed)).sum();
    check(unknown == 0, format_args!("no device vector arrived without an irq ({unknown})"));

    // Every irq's smp_affinity reads as a hex mask of at most the online CPUs.
    let all = (1u64 << n) - 1;
    let mut read = 0;
    let mut bad = 0;
    for irq in 0..sys.irq.descs.nr_irqs() {
        if !sys.proc_irq_exists(irq) {
            continue;
        }
        match sys.proc_irq_read(irq, ProcIrqFile::SmpAffinity) {
            Ok(s) if u64::from_str_radix(s.trim(), 16).is_ok_and(|m| m & all != 0) => read += 1,
            _ => bad += 1,
        }
    }
    check(read >= 2 && bad == 0, format_args!("smp_affinity of all {read} irqs readable"));
    let missing = sys.proc_irq_read(200, ProcIrqFile::SmpAffinity);
    check(
        matches!(missing, Err(IrqError::NotFound(_))),
        format_args!("/proc/irq/200 does not exist ({missing:?})"),
    );

    // The shell's commands, as typed.
    let last = n - 1;
    let cmd = alloc::format!("echo {:x} > /proc/irq/1/smp_affinity", 1u64 << last);
    let ok = shell::execute(&cmd)
        && shell::execute("cat /proc/irq/1/smp_affinity")
        && shell::execute("echo 1 > /proc/irq/1/smp_affinity")
        && shell::execute("cat /proc/softirqs");
    let back = sys.proc_irq_read(KBD_IRQ, ProcIrqFile::EffectiveAffinity);
    check(
        ok && crate::selftest::hex_mask(&back) == Some(1),
        format_args!("shell: {cmd:?}, cat, and back to 1 ({back:?})"),
    );
}
