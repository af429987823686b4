//! The GIC state machine shared by the v2 and v3 models: arbitration, acknowledge,
//! priority drop, deactivation and the CPU output lines.
//!
//! # Model (spec 7.2, as QEMU's arm_gic.c / arm_gicv3_cpuif.c model the architecture)
//! A candidate for a CPU is an enabled, pending, non-active INTID targeted at it whose
//! group is enabled in both the distributor and the CPU interface. The best candidate has
//! the lowest priority value (ties: lowest INTID). It is signalled when its priority is
//! below the priority mask and its *group priority* (priority masked by the BPR-derived
//! mask) is below the running priority, so equal group priority never preempts.
//! Acknowledge, priority drop and deactivation live in ack.rs.

use alloc::vec::Vec;

use super::lpi::LpiState;
use super::state::IntidState;
use crate::signal::{Changed, CpuLines};

/// INTID returned when nothing can be acknowledged.
pub const INTID_SPURIOUS: u32 = 1023;
/// INTID a GICv2 IAR read returns for a group-1 interrupt when AckCtl is clear.
pub const INTID_GROUP1_NOT_ACKED: u32 = 1022;
/// Running priority when nothing is active (reads back as 0xFF).
pub(crate) const IDLE_PRIORITY: u32 = 0x100;

/// Which interrupt group an acknowledge or EOI register serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum GroupSel {
    /// GICv2 IAR/EOIR: either group.
    Any,
    /// GICv3 ICC_IAR0/EOIR0.
    G0,
    /// GICv3 ICC_IAR1/EOIR1.
    G1,
}

/// One CPU interface.
#[derive(Clone, Default)]
pub(crate) struct CpuIf {
    pub en_grp0: bool,
    pub en_grp1: bool,
    pub ack_ctl: bool,
    pub fiq_en: bool,
    pub cbpr: bool,
    pub eoi_mode: bool,
    pub pmr: u8,
    pub bpr0: u8,
    pub bpr1: u8,
    /// Active group priorities, bit = group priority >> 1.
    pub apr: u128,
    /// Which of the `apr` bits belong to group 1.
    pub apr_g1: u128,
    pub lines: CpuLines,
}

/// The best candidate for one CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub id: u32,
    pub prio: u8,
    pub group1: bool,
}

/// Distributor + CPU interfaces (+ LPIs for v3) of one GIC.
pub(crate) struct GicCore {
    pub v3: bool,
    pub num_cpus: u32,
    /// Mask of implemented priority bits (e.g. 0xF8 for 5 bits).
    pub prio_mask: u8,
    pub min_bpr0: u8,
    pub dist_grp0: bool,
    pub dist_grp1: bool,
    pub ids: IntidState,
    pub cpus: Vec<CpuIf>,
    pub lpi: Option<LpiState>,
    /// CPUs whose outputs the current operation may change (`None` = all).
    pub dirty: Option<u64>,
}

/// Bit of `cpu` in a 64-bit CPU set (0 for CPUs beyond 63).
pub(crate) fn cpu_bit(cpu: u32) -> u64 {
    if cpu < 64 {
        1 << cpu
    } else {
        0
    }
}

impl GicCore {
    pub fn new(v3: bool, num_irqs: u32, num_cpus: u32, prio_bits: u8) -> Self {
        let min_bpr0 = 7 - prio_bits;
        let cpu = CpuIf { bpr0: min_bpr0, bpr1: min_bpr0 + 1, ..CpuIf::default() };
        let mut core = GicCore {
            v3,
            num_cpus,
            prio_mask: (0xFF00u32 >> prio_bits) as u8,
            min_bpr0,
            dist_grp0: false,
            dist_grp1: false,
            ids: IntidState::new(num_irqs, num_cpus),
            cpus: alloc::vec![cpu; num_cpus as usize],
            lpi: None,
            dirty: None,
        };
        if !v3 {
            // GICv2: SGIs are always enabled.
            core.ids.banked.iter_mut().for_each(|b| b.enabled |= 0xFFFF);
        }
        core
    }

    fn group_on(&self, c: &CpuIf, group1: bool) -> bool {
        if group1 {
            self.dist_grp1 && c.en_grp1
        } else {
            self.dist_grp0 && c.en_grp0
        }
    }

    /// Group-priority mask for `group1` on CPU interface `c` (BPR, or BPR1/ABPR).
    pub fn gprio_mask(c: &CpuIf, group1: bool) -> u8 {
        if !group1 || c.cbpr {
            (0xFFu32 << (c.bpr0 as u32 + 1)) as u8
        } else {
            (0xFFu32 << c.bpr1 as u32) as u8
        }
    }

    /// Running priority of `cpu`: the highest active group priority, or idle.
    pub fn running(&self, cpu: u32) -> u32 {
        match self.cpus.get(cpu as usize) {
            Some(c) if c.apr != 0 => c.apr.trailing_zeros() << 1,
            _ => IDLE_PRIORITY,
        }
    }

    /// Highest-priority candidate for `cpu`, ignoring PMR and running priority.
    pub fn best_pending(&self, cpu: u32) -> Option<Cand> {
        let c = self.cpus.get(cpu as usize)?;
        let mut best: Option<Cand> = None;
        let mut consider = |id: u32, prio: u8, group1: bool| {
            if self.group_on(c, group1) && best.is_none_or(|b| prio < b.prio) {
                best = Some(Cand { id, prio, group1 });
            }
        };
        let b = &self.ids.banked[cpu as usize];
        let mut m = b.pending() & b.enabled & !b.active;
        while m != 0 {
            let i = m.trailing_zeros();
            m &= m - 1;
            consider(i, b.prio[i as usize], b.group & (1 << i) != 0);
        }
        let cpu_bit = 1u64 << cpu;
        for w in 1..self.ids.enabled.len() {
            let mut m = self.ids.spi_pending_word(w) & self.ids.enabled[w] & !self.ids.active[w];
            while m != 0 {
                let i = m.trailing_zeros();
                m &= m - 1;
                let id = w as u32 * 32 + i;
                if self.ids.targets[id as usize] & cpu_bit != 0 {
                    consider(id, self.ids.prio[id as usize], self.ids.group[w] & (1 << i) != 0);
                }
            }
        }
        if let Some((id, prio)) = self.lpi.as_ref().and_then(|l| l.best(cpu)) {
            consider(id, prio, true);
        }
        best
    }

    /// Whether `cand` would be signalled (and acknowledged) on `cpu` now.
    pub(crate) fn can_signal(&self, cpu: u32, cand: &Cand) -> bool {
        let c = &self.cpus[cpu as usize];
        let g = cand.prio & Self::gprio_mask(c, cand.group1);
        cand.prio < c.pmr && (g as u32) < self.running(cpu)
    }

    /// Outputs of `cpu` computed from the current state.
    fn compute_lines(&self, cpu: u32) -> CpuLines {
        let mut lines = CpuLines::default();
        if let Some(cand) = self.best_pending(cpu) {
            if self.can_signal(cpu, &cand) {
                let fiq = !cand.group1 && (self.v3 || self.cpus[cpu as usize].fiq_en);
                if fiq {
                    lines.fiq = true;
                } else {
                    lines.irq = true;
                }
            }
        }
        lines
    }

    /// Recomputes every CPU's outputs; returns the CPUs whose outputs changed.
    ///
    /// Only the CPUs [`GicCore::mark`]ed during the operation are recomputed; an
    /// operation that marked nothing (a configuration write) recomputes every CPU.
    pub fn update(&mut self) -> Changed {
        let mut changed = Changed::default();
        let dirty = self.dirty.take().unwrap_or(u64::MAX);
        for cpu in 0..self.num_cpus {
            if cpu < 64 && dirty & (1 << cpu) == 0 {
                continue;
            }
            let l = self.compute_lines(cpu);
            let c = &mut self.cpus[cpu as usize];
            if c.lines != l {
                c.lines = l;
                changed.add(cpu);
            }
        }
        changed
    }

    /// Records that the current operation may change the outputs of the CPUs in `cpus`
    /// (and only those). Hot paths mark precisely so `update` stays O(affected CPUs).
    pub fn mark(&mut self, cpus: u64) {
        self.dirty = Some(self.dirty.unwrap_or(0) | cpus);
    }

    /// Marks the CPUs SPI/PPI/SGI `id` can be signalled on, as seen from `cpu`.
    pub fn mark_intid(&mut self, cpu: u32, id: u32) {
        let m = if !(32..super::lpi::FIRST_LPI).contains(&id) {
            cpu_bit(cpu)
        } else {
            self.ids.targets.get(id as usize).copied().unwrap_or(0)
        };
        self.mark(m);
    }

    /// Whether every CPU's cached outputs match a fresh computation (test invariant).
    pub fn lines_consistent(&self) -> bool {
        (0..self.num_cpus).all(|c| self.cpus[c as usize].lines == self.compute_lines(c))
    }

    /// Masks a priority value to the implemented bits.
    pub fn mask_prio(&self, p: u8) -> u8 {
        p & self.prio_mask
    }
}
