//! LPI state of the GICv3 model: the cached configuration (priority, enable) read from
//! the property table, and each redistributor's pending bits.
//!
//! # Model
//! As on hardware, the redistributor caches LPI configuration: a write to the property
//! table in memory has no effect until an ITS INV/INVALL (or GICR_INVLPIR/INVALLR)
//! re-reads it. Pending bits are kept in a two-level bitmap per redistributor (a summary
//! word per 64 pending words) so arbitration skips empty ranges; they are loaded from the
//! pending table when EnableLPIs is set (unless PENDBASER.PTZ says it is zero).

use alloc::vec;
use alloc::vec::Vec;

/// First LPI INTID.
pub const FIRST_LPI: u32 = 8192;
/// LPI configuration byte: enable bit.
pub const LPI_PROP_ENABLED: u8 = 1 << 0;
/// LPI configuration byte: group-1 bit (Linux always sets it).
pub const LPI_PROP_GROUP1: u8 = 1 << 1;

/// One redistributor's LPI state.
pub(crate) struct RdLpi {
    pub enabled: bool,
    pub propbaser: u64,
    pub pendbaser: u64,
    pend: Vec<u64>,
    summary: Vec<u64>,
}

impl RdLpi {
    fn new(nr_lpis: usize) -> Self {
        let words = nr_lpis.div_ceil(64);
        RdLpi {
            enabled: false,
            propbaser: 0,
            pendbaser: 0,
            pend: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
        }
    }

    /// Whether LPI index `i` (INTID − 8192) is pending.
    pub fn is_pending(&self, i: usize) -> bool {
        self.pend.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Sets or clears the pending bit of LPI index `i`; out-of-range indices are ignored.
    pub fn set_pending(&mut self, i: usize, on: bool) {
        let w = i / 64;
        let Some(word) = self.pend.get_mut(w) else { return };
        if on {
            *word |= 1 << (i % 64);
            self.summary[w / 64] |= 1 << (w % 64);
        } else {
            *word &= !(1 << (i % 64));
            if *word == 0 {
                self.summary[w / 64] &= !(1 << (w % 64));
            }
        }
    }

    /// Clears every pending bit.
    pub fn clear_all(&mut self) {
        self.pend.iter_mut().for_each(|w| *w = 0);
        self.summary.iter_mut().for_each(|w| *w = 0);
    }

    /// Calls `f(index)` for every pending LPI in ascending order.
    pub fn for_each_pending(&self, mut f: impl FnMut(usize)) {
        for (si, &s) in self.summary.iter().enumerate() {
            let mut sb = s;
            while sb != 0 {
                let w = si * 64 + sb.trailing_zeros() as usize;
                sb &= sb - 1;
                let mut pb = self.pend[w];
                while pb != 0 {
                    f(w * 64 + pb.trailing_zeros() as usize);
                    pb &= pb - 1;
                }
            }
        }
    }

    /// Number of LPI indices this redistributor holds.
    pub fn capacity(&self) -> usize {
        self.pend.len() * 64
    }
}

/// LPI state of the whole GICv3 model.
pub(crate) struct LpiState {
    /// Number of INTID bits supported (LPIs are 8192 .. 2^id_bits).
    pub id_bits: u8,
    /// Cached configuration byte per LPI index.
    pub config: Vec<u8>,
    pub rd: Vec<RdLpi>,
}

impl LpiState {
    pub fn new(id_bits: u8, num_cpus: u32) -> Self {
        let nr = (1usize << id_bits) - FIRST_LPI as usize;
        LpiState {
            id_bits,
            config: vec![0; nr],
            rd: (0..num_cpus).map(|_| RdLpi::new(nr)).collect(),
        }
    }

    /// LPI index of `intid`, if it is an implemented LPI.
    pub fn index(&self, intid: u32) -> Option<usize> {
        if intid < FIRST_LPI {
            return None;
        }
        let i = (intid - FIRST_LPI) as usize;
        (i < self.config.len()).then_some(i)
    }

    /// Best enabled pending LPI on redistributor `cpu`: `(intid, priority)`.
    pub fn best(&self, cpu: u32) -> Option<(u32, u8)> {
        let rd = self.rd.get(cpu as usize)?;
        if !rd.enabled {
            return None;
        }
        let mut best: Option<(u32, u8)> = None;
        rd.for_each_pending(|i| {
            let cfg = self.config[i];
            if cfg & LPI_PROP_ENABLED == 0 {
                return;
            }
            let prio = cfg & 0xFC;
            if best.is_none_or(|(_, p)| prio < p) {
                best = Some((i as u32 + FIRST_LPI, prio));
            }
        });
        best
    }
}
