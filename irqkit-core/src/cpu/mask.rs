//! `CpuMask`: a fixed-size CPU bitmap with Linux's text formats (`f`, `0-3`).

use alloc::string::String;
use core::fmt::Write;

use super::CpuId;
use crate::IrqError;

/// The largest number of CPUs a machine may have.
pub const MAX_CPUS: usize = 256;
const WORDS: usize = MAX_CPUS / 64;

/// A set of CPUs, up to [`MAX_CPUS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuMask {
    bits: [u64; WORDS],
}

impl core::fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CpuMask({})", self.to_list_string())
    }
}

impl CpuMask {
    /// The empty set.
    pub const fn new() -> Self {
        CpuMask { bits: [0; WORDS] }
    }

    /// The set of CPUs 0..64 whose bits are `word` (bit n: CPU n).
    #[inline]
    pub const fn from_low_word(word: u64) -> Self {
        let mut bits = [0; WORDS];
        bits[0] = word;
        CpuMask { bits }
    }

    /// The bits of CPUs 0..64, if no higher CPU is in the set.
    #[inline]
    pub fn low_word(&self) -> Option<u64> {
        self.bits[1..].iter().all(|w| *w == 0).then_some(self.bits[0])
    }

    /// CPUs `0..nr`.
    pub fn first_n(nr: usize) -> Self {
        let mut m = CpuMask::new();
        for c in 0..nr.min(MAX_CPUS) {
            m.set(CpuId(c as u32));
        }
        m
    }

    /// The set holding only `cpu`.
    pub fn single(cpu: CpuId) -> Self {
        let mut m = CpuMask::new();
        m.set(cpu);
        m
    }

    /// Adds `cpu` (ignored if `cpu >= MAX_CPUS`).
    pub fn set(&mut self, cpu: CpuId) {
        if cpu.index() < MAX_CPUS {
            self.bits[cpu.index() / 64] |= 1 << (cpu.index() % 64);
        }
    }

    /// Removes `cpu`.
    pub fn clear(&mut self, cpu: CpuId) {
        if cpu.index() < MAX_CPUS {
            self.bits[cpu.index() / 64] &= !(1 << (cpu.index() % 64));
        }
    }

    /// True if `cpu` is in the set.
    pub fn contains(&self, cpu: CpuId) -> bool {
        cpu.index() < MAX_CPUS && self.bits[cpu.index() / 64] & (1 << (cpu.index() % 64)) != 0
    }

    /// True if no CPU is in the set.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// The number of CPUs in the set.
    pub fn weight(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The intersection of two sets.
    pub fn and(&self, other: &CpuMask) -> CpuMask {
        let mut m = *self;
        for (a, b) in m.bits.iter_mut().zip(other.bits.iter()) {
            *a &= *b;
        }
        m
    }

    /// The union of two sets.
    pub fn or(&self, other: &CpuMask) -> CpuMask {
        let mut m = *self;
        for (a, b) in m.bits.iter_mut().zip(other.bits.iter()) {
            *a |= *b;
        }
        m
    }

    /// True if the two sets share a CPU.
    pub fn intersects(&self, other: &CpuMask) -> bool {
        !self.and(other).is_empty()
    }

    /// True if every CPU of `self` is in `other`.
    pub fn is_subset_of(&self, other: &CpuMask) -> bool {
        self.and(other) == *self
    }

    /// The lowest CPU in the set.
    pub fn first(&self) -> Option<CpuId> {
        self.iter().next()
    }

    /// The CPUs in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = CpuId> + '_ {
        (0..MAX_CPUS).filter(|c| self.contains(CpuId(*c as u32))).map(|c| CpuId(c as u32))
    }

    /// Linux's `%*pb` hex format for `nr_cpus` bits: 32-bit groups separated by commas,
    /// the most significant first, each group zero-padded except that a mask of 32
    /// bits or fewer prints only the digits `nr_cpus` needs (`f` for 4 CPUs).
    pub fn to_hex_string(&self, nr_cpus: usize) -> String {
        let nr = nr_cpus.clamp(1, MAX_CPUS);
        let mut s = String::new();
        let groups = nr.div_ceil(32);
        for g in (0..groups).rev() {
            let word = (self.bits[g / 2] >> ((g % 2) * 32)) as u32;
            let bits_in_group = if g == groups - 1 { nr - g * 32 } else { 32 };
            let digits = bits_in_group.div_ceil(4);
            let word = if bits_in_group < 32 { word & ((1u32 << bits_in_group) - 1) } else { word };
            let _ = write!(s, "{:0width$x}", word, width = digits);
            if g != 0 {
                s.push(',');
            }
        }
        s
    }

    /// Linux's `%*pbl` list format: ranges like `0-3,6`; empty string for no CPU.
    pub fn to_list_string(&self) -> String {
        let mut s = String::new();
        let mut it = self.iter().peekable();
        while let Some(start) = it.next() {
            let mut end = start;
            while let Some(n) = it.peek() {
                if n.0 == end.0 + 1 {
                    end = *n;
                    it.next();
                } else {
                    break;
                }
            }
            if !s.is_empty() {
                s.push(',');
            }
            if start == end {
                let _ = write!(s, "{}", start.0);
            } else {
                let _ = write!(s, "{}-{}", start.0, end.0);
            }
        }
        s
    }

    /// Parses the hex format of [`CpuMask::to_hex_string`] (commas optional, as
    /// `bitmap_parse` accepts). Bits at or above `nr_cpus` are an error.
    pub fn parse_hex(text: &str, nr_cpus: usize) -> Result<CpuMask, IrqError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(IrqError::InvalidArgument("empty cpu mask"));
        }
        let mut m = CpuMask::new();
        let mut bit = 0usize;
        for ch in t.chars().rev() {
            if ch == ',' {
                continue;
            }
            let v =
                ch.to_digit(16).ok_or(IrqError::InvalidArgument("bad hex digit in cpu mask"))?;
            for i in 0..4 {
                if v & (1 << i) != 0 {
                    let cpu = bit + i;
                    if cpu >= nr_cpus.min(MAX_CPUS) {
                        return Err(IrqError::InvalidArgument(
                            "cpu mask names a cpu that does not exist",
                        ));
                    }
                    m.set(CpuId(cpu as u32));
                }
            }
            bit += 4;
        }
        Ok(m)
    }

    /// Parses the list format (`0-3,6`, also `0-7:2/4` is not accepted). CPUs at or
    /// above `nr_cpus` are an error.
    pub fn parse_list(text: &str, nr_cpus: usize) -> Result<CpuMask, IrqError> {
        let t = text.trim();
        let mut m = CpuMask::new();
        if t.is_empty() {
            return Ok(m);
        }
        let lim = nr_cpus.min(MAX_CPUS);
        for part in t.split(',') {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let a: usize =
                a.trim().parse().map_err(|_| IrqError::InvalidArgument("bad cpu list"))?;
            let b: usize =
                b.trim().parse().map_err(|_| IrqError::InvalidArgument("bad cpu list"))?;
            if a > b {
                return Err(IrqError::InvalidArgument("bad cpu range"));
            }
            if b >= lim {
                return Err(IrqError::InvalidArgument("cpu list names a cpu that does not exist"));
            }
            for c in a..=b {
                m.set(CpuId(c as u32));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_format_matches_linux_for_small_and_large_masks() {
        assert_eq!(CpuMask::first_n(4).to_hex_string(4), "f");
        assert_eq!(CpuMask::single(CpuId(0)).to_hex_string(4), "1");
        assert_eq!(CpuMask::first_n(4).to_hex_string(8), "0f");
        assert_eq!(CpuMask::single(CpuId(33)).to_hex_string(64), "00000002,00000000");
        assert_eq!(CpuMask::first_n(4).to_list_string(), "0-3");
        let mut m = CpuMask::first_n(2);
        m.set(CpuId(5));
        assert_eq!(m.to_list_string(), "0-1,5");
    }

    #[test]
    fn low_word_round_trips_and_refuses_high_cpus() {
        let m = CpuMask::first_n(4);
        assert_eq!(m.low_word(), Some(0xf));
        assert_eq!(CpuMask::from_low_word(0xf), m);
        assert_eq!(CpuMask::single(CpuId(64)).low_word(), None);
    }

    #[test]
    fn bad_masks_are_typed_errors() {
        assert!(CpuMask::parse_hex("zz", 4).is_err());
        assert!(CpuMask::parse_hex("10", 4).is_err());
        assert!(CpuMask::parse_hex("", 4).is_err());
        assert!(CpuMask::parse_list("3-1", 4).is_err());
        assert!(CpuMask::parse_list("0-4", 4).is_err());
        assert!(CpuMask::parse_list("x", 4).is_err());
    }

    proptest! {
        #[test]
        fn hex_and_list_round_trip(bits in proptest::collection::vec(0u32..64, 0..20), nr in 1usize..=64) {
            let mut m = CpuMask::new();
            for b in bits { if (b as usize) < nr { m.set(CpuId(b)); } }
            prop_assert_eq!(CpuMask::parse_hex(&m.to_hex_string(nr), nr).unwrap(), m);
            prop_assert_eq!(CpuMask::parse_list(&m.to_list_string(), nr).unwrap(), m);
        }
    }
}
