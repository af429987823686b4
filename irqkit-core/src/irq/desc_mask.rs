//! `DescMask`: a descriptor's affinity mask, stored in one word on machines with up to
//! 64 CPUs instead of a full 32-byte [`CpuMask`].
//!
//! Every descriptor carries two masks (requested and effective affinity). With 65,536
//! lines mapped, a `CpuMask` sized for [`crate::cpu::MAX_CPUS`] made them the largest
//! part of a descriptor, although almost every machine has at most 64 CPUs (Linux sizes
//! its masks to `nr_cpu_ids` for the same reason, `CONFIG_CPUMASK_OFFSTACK`). A mask
//! that names a CPU at or above 64 moves to a box once and stays there, so later
//! updates on big machines (also the pending-move update from the flow handler)
//! allocate nothing.
//!
//! ```
//! use irqkit_core::cpu::{CpuId, CpuMask};
//! use irqkit_core::irq::DescMask;
//! let mut m = DescMask::new();
//! m.set(&CpuMask::first_n(4));
//! assert_eq!(m.get(), CpuMask::first_n(4));
//! m.set(&CpuMask::single(CpuId(200)));
//! assert!(m.get().contains(CpuId(200)));
//! ```

use alloc::boxed::Box;

use crate::cpu::{CpuId, CpuMask};

/// An affinity mask kept in one word while it names only CPUs below 64.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DescMask(Repr);

#[derive(Clone, PartialEq, Eq, Debug)]
enum Repr {
    /// CPUs 0..64, bit n for CPU n.
    Low(u64),
    /// Any CPU up to `MAX_CPUS` (once a high CPU was named).
    Full(Box<CpuMask>),
}

impl Default for DescMask {
    fn default() -> Self {
        DescMask::new()
    }
}

impl DescMask {
    /// The empty mask.
    pub const fn new() -> Self {
        DescMask(Repr::Low(0))
    }

    /// The mask as a full [`CpuMask`].
    #[inline]
    pub fn get(&self) -> CpuMask {
        match &self.0 {
            Repr::Low(w) => CpuMask::from_low_word(*w),
            Repr::Full(m) => **m,
        }
    }

    /// Replaces the mask. Allocates only the first time a CPU at or above 64 is named.
    #[inline]
    pub fn set(&mut self, mask: &CpuMask) {
        match (&mut self.0, mask.low_word()) {
            (Repr::Low(w), Some(low)) => *w = low,
            (Repr::Full(m), _) => **m = *mask,
            (Repr::Low(_), None) => self.0 = Repr::Full(Box::new(*mask)),
        }
    }

    /// True if `cpu` is in the mask.
    #[inline]
    pub fn contains(&self, cpu: CpuId) -> bool {
        match &self.0 {
            Repr::Low(w) => cpu.index() < 64 && w & (1 << cpu.index()) != 0,
            Repr::Full(m) => m.contains(cpu),
        }
    }

    /// True if no CPU is in the mask.
    #[inline]
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::Low(w) => *w == 0,
            Repr::Full(m) => m.is_empty(),
        }
    }

    /// The lowest CPU in the mask.
    #[inline]
    pub fn first(&self) -> Option<CpuId> {
        match &self.0 {
            Repr::Low(w) => (*w != 0).then(|| CpuId(w.trailing_zeros())),
            Repr::Full(m) => m.first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_masks_stay_one_word_and_big_ones_keep_their_box() {
        assert_eq!(core::mem::size_of::<DescMask>(), 16);
        let mut m = DescMask::new();
        assert!(m.is_empty() && m.first().is_none());
        m.set(&CpuMask::single(CpuId(3)));
        assert!(matches!(m.0, Repr::Low(8)));
        m.set(&CpuMask::single(CpuId(64)));
        assert!(matches!(m.0, Repr::Full(_)));
        m.set(&CpuMask::single(CpuId(1)));
        assert!(matches!(m.0, Repr::Full(_)), "a big machine's mask keeps its box");
        assert_eq!(m.first(), Some(CpuId(1)));
        assert!(m.contains(CpuId(1)) && !m.contains(CpuId(64)) && !m.contains(CpuId(300)));
    }

    proptest! {
        #[test]
        fn desc_mask_agrees_with_cpu_mask(cpus in proptest::collection::vec(0u32..256, 0..8)) {
            let mut full = CpuMask::new();
            for c in &cpus { full.set(CpuId(*c)); }
            let mut m = DescMask::new();
            m.set(&full);
            prop_assert_eq!(m.get(), full);
            prop_assert_eq!(m.first(), full.first());
            prop_assert_eq!(m.is_empty(), full.is_empty());
            for c in 0..256 { prop_assert_eq!(m.contains(CpuId(c)), full.contains(CpuId(c))); }
        }
    }
}
