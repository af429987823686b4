//! `/proc/irq/N/*` and `/proc/irq/default_smp_affinity` (kernel/irq/proc.c, spec
//! 1.16): Linux's formats on read, Linux's validation on write.
//!
//! A write changes nothing unless it fully validates: unparsable or out-of-range masks
//! and masks without an online CPU are `InvalidArgument` (EINVAL); lines whose affinity
//! users may not set (per-CPU, no-balancing, managed, no chip setter) and read-only
//! files are `WrongContext` (EPERM).

use alloc::format;
use alloc::string::String;

use crate::cpu::CpuMask;
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

impl IrqSystem {
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
        let aff = g.pending_mask().unwrap_or_else(|| g.affinity.get());
        let eff = g.effective.get();
        Ok(match file {
            ProcIrqFile::SmpAffinity => format!("{}\n", aff.to_hex_string(nr)),
            ProcIrqFile::SmpAffinityList => format!("{}\n", aff.to_list_string()),
            ProcIrqFile::EffectiveAffinity => format!("{}\n", eff.to_hex_string(nr)),
            ProcIrqFile::EffectiveAffinityList => format!("{}\n", eff.to_list_string()),
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
            ProcIrqFile::Node => format!("{}\n", g.node()),
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
