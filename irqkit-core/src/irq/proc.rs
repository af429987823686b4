//! `/proc/interrupts` and the `intr` line of `/proc/stat` (kernel/irq/proc.c,
//! fs/proc/interrupts.c, spec 1.16), byte-compatible with Linux's layout; the
//! `/proc/irq/N/*` files are in `proc_irq.rs`.
//!
//! The architecture rows after the last irq (x86 NMI/LOC/...; arm64 IPI0..) come from
//! the runtime through [`super::IrqHooks::arch_show_interrupts`].

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use super::flags::IrqSettings;
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

/// `/proc/interrupts` irq-column width: 3, plus one per decade of `nr_irqs` ≥ 1000.
fn prec(nr_irqs: u32) -> usize {
    let (mut prec, mut j) = (3usize, 1000u64);
    while prec < 10 && j <= nr_irqs as u64 {
        prec += 1;
        j *= 10;
    }
    prec
}

impl IrqSystem {
    /// Chooses whether `/proc/interrupts` shows the Level/Edge column (arm64 style).
    pub fn irq_set_proc_show_level(&self, on: bool) {
        self.irq.show_level.store(on, Ordering::Relaxed);
    }

    /// `/proc/interrupts`.
    pub fn show_interrupts(&self) -> String {
        let online = self.online_mask();
        let prec = prec(self.irq.descs.nr_irqs());
        let mut out = String::new();
        let _ = write!(out, "{:w$}", "", w = prec + 8);
        for c in online.iter() {
            let _ = write!(out, "CPU{:<8}", c.0);
        }
        out.push('\n');
        let show_level = self.irq.show_level.load(Ordering::Relaxed);
        for desc in self.irq.descs.iter() {
            let g = desc.inner.lock_irqsave(self);
            if g.settings.contains(IrqSettings::HIDDEN) || !g.has_action() || g.chained {
                continue;
            }
            let _ = write!(out, "{:>w$}:", desc.irq(), w = prec);
            for c in online.iter() {
                let _ = write!(out, " {:>10}", self.irq.descs.kstat_cpu(c, desc.irq()));
            }
            out.push(' ');
            match g.data.chip.print_chip(&g.data) {
                Some(s) => out.push_str(&s),
                None if g.data.is_no_chip() => {
                    let _ = write!(out, " {:>8}", "None");
                }
                None if g.data.chip.name().is_empty() => {
                    let _ = write!(out, " {:>8}", "-");
                }
                None => {
                    let _ = write!(out, " {:>8}", g.data.chip.name());
                }
            }
            if g.data.domain.is_some() {
                let _ = write!(out, " {:>w$}", g.data.hwirq, w = prec);
            } else {
                let _ = write!(out, " {:w$}", "", w = prec);
            }
            if show_level {
                let _ = write!(out, " {:<8}", if desc.is_level() { "Level" } else { "Edge" });
            }
            if let Some(n) = g.flow_name() {
                let _ = write!(out, "-{n:<8}");
            }
            for (i, a) in g.actions.iter().flat_map(|l| l.iter()).enumerate() {
                out.push_str(if i == 0 { "  " } else { ", " });
                out.push_str(a.name());
            }
            out.push('\n');
        }
        if let Some(h) = self.irq.hooks() {
            h.arch_show_interrupts(&mut out, &online, prec);
        }
        out
    }

    /// The `intr` line of `/proc/stat`: total, then one count per irq `0..nr_irqs`.
    pub fn show_stat_intr(&self) -> String {
        let nr = self.irq.descs.nr_irqs();
        let cpus: alloc::vec::Vec<_> =
            (0..self.nr_cpus()).map(|c| crate::CpuId(c as u32)).collect();
        let per_irq: alloc::vec::Vec<u64> = (0..nr)
            .map(|i| cpus.iter().map(|c| self.irq.descs.kstat_cpu(*c, i) as u64).sum())
            .collect();
        let arch = self.irq.hooks().map(|h| h.arch_irq_stat()).unwrap_or(0);
        let mut out = format!("intr {}", per_irq.iter().sum::<u64>() + arch);
        for n in per_irq {
            let _ = write!(out, " {n}");
        }
        out.push('\n');
        out
    }
}

/// Appends an x86-style arch row of `/proc/interrupts` (`arch_show_interrupts`):
/// `"%*s: "`, `"%10u "` per CPU, then two spaces and the description; a row without
/// description (ERR, MIS) prints one `"%10u"` count.
pub fn arch_row(out: &mut String, label: &str, counts: &[u32], prec: usize, desc: &str) {
    if desc.is_empty() {
        let _ = write!(out, "{label:>prec$}: {:>10}", counts.first().copied().unwrap_or(0));
    } else {
        let _ = write!(out, "{label:>prec$}: ");
        for c in counts {
            let _ = write!(out, "{c:>10} ");
        }
        let _ = write!(out, "  {desc}");
    }
    out.push('\n');
}

/// Appends an arm64 IPI row (`show_ipi_list`): `"%*s%u:%s"`, `"%10u "` per CPU, six
/// spaces and the description.
pub fn arch_row_ipi(out: &mut String, n: u32, counts: &[u32], prec: usize, desc: &str) {
    let _ = write!(out, "{:>w$}{n}:{}", "IPI", if prec >= 4 { " " } else { "" }, w = prec - 1);
    for c in counts {
        let _ = write!(out, "{c:>10} ");
    }
    let _ = writeln!(out, "      {desc}");
}
