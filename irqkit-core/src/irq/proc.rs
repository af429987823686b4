//! `/proc` text views (kernel/irq/proc.c, fs/proc/interrupts.c, spec 1.16):
//! `/proc/interrupts`, `/proc/irq/N/*`, `/proc/irq/default_smp_affinity` and the
//! `intr` line of `/proc/stat`, byte-compatible with Linux's layout.
//!
//! The architecture rows after the last irq (x86 NMI/LOC/...; arm64 IPI0..) come from
//! the runtime through [`super::IrqHooks::arch_show_interrupts`].

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use super::flags::IrqSettings;
use crate::cpu::CpuMask;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

/// A file of `/proc/irq/N/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcIrqFile {
    /// `smp_affinity` (hex, writable).
    SmpAffinity,
    /// `smp_affinity_list` (ranges, writable).
    SmpAffinityList,
    /// `effective_affinity` (hex).
    EffectiveAffinity,
    /// `effective_affinity_list` (ranges).
    EffectiveAffinityList,
    /// `affinity_hint` (hex).
    AffinityHint,
    /// `spurious` (detector counters).
    Spurious,
    /// `node` (NUMA node).
    Node,
}

impl ProcIrqFile {
    /// The file for a name, or `NotFound`.
    pub fn from_name(name: &str) -> Result<Self, IrqError> {
        Ok(match name {
            "smp_affinity" => ProcIrqFile::SmpAffinity,
            "smp_affinity_list" => ProcIrqFile::SmpAffinityList,
            "effective_affinity" => ProcIrqFile::EffectiveAffinity,
            "effective_affinity_list" => ProcIrqFile::EffectiveAffinityList,
            "affinity_hint" => ProcIrqFile::AffinityHint,
            "spurious" => ProcIrqFile::Spurious,
            "node" => ProcIrqFile::Node,
            _ => return Err(IrqError::NotFound("no such /proc/irq file")),
        })
    }
}

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
            if let Some(n) = g.flow_name {
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

    /// True if `/proc/irq/<irq>/` exists: the line has a real chip.
    pub fn proc_irq_exists(&self, irq: u32) -> bool {
        self.irq_to_desc(irq).is_ok_and(|d| !d.inner.lock_irqsave(self).data.is_no_chip())
    }

    /// `ls /proc/irq/<irq>`: the files plus one directory per action whose name is
    /// unique on the line, sorted as `ls` prints them.
    pub fn proc_irq_ls(&self, irq: u32) -> Result<alloc::vec::Vec<String>, IrqError> {
        if !self.proc_irq_exists(irq) {
            return Err(IrqError::NotFound("no /proc/irq entry"));
        }
        let mut names: alloc::vec::Vec<String> = [
            "affinity_hint",
            "effective_affinity",
            "effective_affinity_list",
            "node",
            "smp_affinity",
            "smp_affinity_list",
            "spurious",
        ]
        .iter()
        .map(|s| String::from(*s))
        .collect();
        let g = self.irq_to_desc(irq)?.inner.lock_irqsave(self);
        let actions: alloc::vec::Vec<&str> =
            g.actions.iter().flat_map(|l| l.iter()).map(|a| a.name()).collect();
        for n in &actions {
            if actions.iter().filter(|m| *m == n).count() == 1 {
                names.push(String::from(*n));
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads `/proc/irq/<irq>/<file>`.
    pub fn proc_irq_read(&self, irq: u32, file: ProcIrqFile) -> Result<String, IrqError> {
        if !self.proc_irq_exists(irq) {
            return Err(IrqError::NotFound("no /proc/irq entry"));
        }
        let desc = self.irq_to_desc(irq)?;
        let g = desc.inner.lock_irqsave(self);
        let nr = self.nr_cpus();
        let aff = g.pending_mask.as_deref().copied().unwrap_or(g.affinity);
        Ok(match file {
            ProcIrqFile::SmpAffinity => format!("{}\n", aff.to_hex_string(nr)),
            ProcIrqFile::SmpAffinityList => format!("{}\n", aff.to_list_string()),
            ProcIrqFile::EffectiveAffinity => format!("{}\n", g.effective.to_hex_string(nr)),
            ProcIrqFile::EffectiveAffinityList => format!("{}\n", g.effective.to_list_string()),
            ProcIrqFile::AffinityHint => format!("{}\n", CpuMask::new().to_hex_string(nr)),
            ProcIrqFile::Spurious => {
                let hz = self.config().hz as u64;
                format!(
                    "count {}\nunhandled {}\nlast_unhandled {} ms\n",
                    g.irq_count,
                    g.irqs_unhandled,
                    g.last_unhandled * 1000 / hz
                )
            }
            ProcIrqFile::Node => format!("{}\n", g.node),
        })
    }

    /// Writes `/proc/irq/<irq>/<file>`; returns the bytes consumed, as `write(2)` does.
    /// Read-only files and non-balanceable lines are `WrongContext` (EPERM); bad or
    /// offline-only masks are `InvalidArgument` and change nothing.
    pub fn proc_irq_write(
        &self,
        irq: u32,
        file: ProcIrqFile,
        text: &str,
    ) -> Result<usize, IrqError> {
        if !self.proc_irq_exists(irq) {
            return Err(IrqError::NotFound("no /proc/irq entry"));
        }
        let mask = match file {
            ProcIrqFile::SmpAffinity => CpuMask::parse_hex(text, self.nr_cpus())?,
            ProcIrqFile::SmpAffinityList => CpuMask::parse_list(text, self.nr_cpus())?,
            _ => return Err(IrqError::WrongContext("read-only /proc/irq file")),
        };
        if !self.irq_can_set_affinity_usr(irq) {
            return Err(IrqError::WrongContext("affinity of this irq cannot be changed"));
        }
        if !mask.intersects(&self.online_mask()) {
            return Err(IrqError::InvalidArgument("affinity mask has no online cpu"));
        }
        self.irq_set_affinity(irq, &mask)?;
        Ok(text.len())
    }

    /// Reads `/proc/irq/default_smp_affinity`.
    pub fn proc_default_smp_affinity(&self) -> String {
        format!("{}\n", self.irq.default_affinity(self).to_hex_string(self.nr_cpus()))
    }

    /// Writes `/proc/irq/default_smp_affinity` (hex; must contain an online CPU).
    pub fn proc_write_default_smp_affinity(&self, text: &str) -> Result<usize, IrqError> {
        let mask = CpuMask::parse_hex(text, self.nr_cpus())?;
        self.irq_set_default_affinity(&mask)?;
        Ok(text.len())
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
