//! Per-INTID state shared by the GICv2 and GICv3 models: enable, group, trigger,
//! priority, targets, the pending latch, the input line and the active bit.
//!
//! # Model
//! SGIs and PPIs (0–31) are banked per CPU; SPIs (32..num_irqs) are global with a target
//! set. Pending is *derived*, as the architecture defines it:
//! edge → the latch; level → latch OR the current line level. An SGI is pending on a
//! CPU while any source CPU has it pending there. Active is one bit per INTID (per CPU
//! for banked INTIDs), so an SPI can be deactivated from any CPU.

use alloc::vec;
use alloc::vec::Vec;

/// First SPI INTID.
pub const FIRST_SPI: u32 = 32;
/// Number of SGIs.
pub const NR_SGIS: u32 = 16;

/// Banked state of INTIDs 0–31 for one CPU.
#[derive(Clone)]
pub(crate) struct Banked {
    pub enabled: u32,
    pub latch: u32,
    pub line: u32,
    pub active: u32,
    pub group: u32,
    pub edge: u32,
    pub prio: [u8; 32],
    /// Per SGI, the set of source CPUs with that SGI pending on this CPU; written only
    /// through [`Banked::set_sgi_src`] so `sgi_pending` stays in step.
    sgi_src: [u64; 16],
    /// Bit n set while `sgi_src[n] != 0` (keeps arbitration O(1) for SGIs).
    sgi_pending: u32,
}

impl Banked {
    fn new() -> Self {
        // SGIs are edge; PPIs reset to level (the usual implementation choice).
        Banked {
            enabled: 0,
            latch: 0,
            line: 0,
            active: 0,
            group: 0,
            edge: 0xFFFF,
            prio: [0; 32],
            sgi_src: [0; 16],
            sgi_pending: 0,
        }
    }

    /// Source CPUs with SGI `sgi` pending here.
    pub fn sgi_src(&self, sgi: usize) -> u64 {
        self.sgi_src.get(sgi).copied().unwrap_or(0)
    }

    /// Replaces the source set of SGI `sgi` (ignored for `sgi >= 16`).
    pub fn set_sgi_src(&mut self, sgi: usize, src: u64) {
        if let Some(s) = self.sgi_src.get_mut(sgi) {
            *s = src;
            if src != 0 {
                self.sgi_pending |= 1 << sgi;
            } else {
                self.sgi_pending &= !(1 << sgi);
            }
        }
    }

    /// Pending bits for INTIDs 0–31 on this CPU.
    pub fn pending(&self) -> u32 {
        ((self.latch | (self.line & !self.edge)) & !0xFFFF) | self.sgi_pending
    }
}

/// State of every INTID: banked 0–31 per CPU, SPIs in global bitmaps indexed by
/// `intid / 32` (word 0 is unused so indices stay the INTID).
pub(crate) struct IntidState {
    pub num_irqs: u32,
    pub banked: Vec<Banked>,
    pub enabled: Vec<u32>,
    pub latch: Vec<u32>,
    pub line: Vec<u32>,
    pub active: Vec<u32>,
    pub group: Vec<u32>,
    pub edge: Vec<u32>,
    pub prio: Vec<u8>,
    /// CPU set each SPI may be delivered to (bit n = CPU n).
    pub targets: Vec<u64>,
}

#[inline]
fn bit(id: u32) -> (usize, u32) {
    ((id / 32) as usize, 1u32 << (id % 32))
}

impl IntidState {
    pub fn new(num_irqs: u32, num_cpus: u32) -> Self {
        let words = (num_irqs / 32) as usize;
        IntidState {
            num_irqs,
            banked: vec![Banked::new(); num_cpus as usize],
            enabled: vec![0; words],
            latch: vec![0; words],
            line: vec![0; words],
            active: vec![0; words],
            group: vec![0; words],
            edge: vec![0; words],
            prio: vec![0; num_irqs as usize],
            targets: vec![0; num_irqs as usize],
        }
    }

    /// Whether `id` names an implemented SGI/PPI/SPI.
    pub fn valid(&self, id: u32) -> bool {
        id < self.num_irqs && id < 1020
    }

    /// Pending bits of SPI word `w`.
    #[inline]
    pub fn spi_pending_word(&self, w: usize) -> u32 {
        self.latch[w] | (self.line[w] & !self.edge[w])
    }

    /// Reads one per-INTID bit of the bitmap chosen by `sel` as seen by `cpu`.
    pub fn get(&self, cpu: u32, id: u32, sel: Field) -> bool {
        if !self.valid(id) {
            return false;
        }
        let (w, m) = bit(id);
        if id < FIRST_SPI {
            let Some(b) = self.banked.get(cpu as usize) else { return false };
            let v = match sel {
                Field::Enabled => b.enabled,
                Field::Active => b.active,
                Field::Group => b.group,
                Field::Edge => b.edge,
                Field::Pending => b.pending(),
            };
            return v & m != 0;
        }
        let v = match sel {
            Field::Enabled => self.enabled[w],
            Field::Active => self.active[w],
            Field::Group => self.group[w],
            Field::Edge => self.edge[w],
            Field::Pending => self.spi_pending_word(w),
        };
        v & m != 0
    }

    /// Sets or clears one per-INTID bit as `cpu`. Pending writes act on the latch
    /// (SGIs are handled by their own registers and ignored here).
    pub fn set(&mut self, cpu: u32, id: u32, sel: Field, on: bool) {
        if !self.valid(id) {
            return;
        }
        let (w, m) = bit(id);
        let word = if id < FIRST_SPI {
            let Some(b) = self.banked.get_mut(cpu as usize) else { return };
            match sel {
                Field::Enabled => &mut b.enabled,
                Field::Active => &mut b.active,
                Field::Group => &mut b.group,
                Field::Edge if id < NR_SGIS => return,
                Field::Edge => &mut b.edge,
                Field::Pending if id < NR_SGIS => return,
                Field::Pending => &mut b.latch,
            }
        } else {
            match sel {
                Field::Enabled => &mut self.enabled[w],
                Field::Active => &mut self.active[w],
                Field::Group => &mut self.group[w],
                Field::Edge => &mut self.edge[w],
                Field::Pending => &mut self.latch[w],
            }
        };
        if on {
            *word |= m;
        } else {
            *word &= !m;
        }
    }

    /// Priority byte of `id` as seen by `cpu`.
    pub fn priority(&self, cpu: u32, id: u32) -> u8 {
        if id < FIRST_SPI {
            self.banked.get(cpu as usize).map_or(0, |b| b.prio[id as usize])
        } else {
            self.prio.get(id as usize).copied().unwrap_or(0)
        }
    }

    /// Sets the priority byte of `id` (already masked to the implemented bits).
    pub fn set_priority(&mut self, cpu: u32, id: u32, prio: u8) {
        if id < FIRST_SPI {
            if let Some(b) = self.banked.get_mut(cpu as usize) {
                b.prio[id as usize] = prio;
            }
        } else if let Some(p) = self.prio.get_mut(id as usize) {
            *p = prio;
        }
    }

    /// Drives the input line of a PPI (per `cpu`) or SPI; a rising edge on an
    /// edge-triggered INTID latches pending.
    pub fn set_line(&mut self, cpu: u32, id: u32, level: bool) {
        if !self.valid(id) || id < NR_SGIS {
            return;
        }
        let (w, m) = bit(id);
        let (line, latch, edge) = if id < FIRST_SPI {
            let Some(b) = self.banked.get_mut(cpu as usize) else { return };
            (&mut b.line, &mut b.latch, b.edge)
        } else {
            (&mut self.line[w], &mut self.latch[w], self.edge[w])
        };
        let was = *line & m != 0;
        if level {
            *line |= m;
            if !was && edge & m != 0 {
                *latch |= m;
            }
        } else {
            *line &= !m;
        }
    }
}

/// Which per-INTID bitmap an access selects.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Field {
    Enabled,
    Active,
    Group,
    Edge,
    Pending,
}
