//! `PerCpu<T>`: one cache-padded slot per CPU, so CPUs never share a cache line.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Index;
use crossbeam_utils::CachePadded;

use super::CpuId;

/// One value per CPU, each on its own cache line.
///
/// Indexing by [`CpuId`] is a bounds-checked array access; the fast path touches only
/// the owning CPU's slot.
pub struct PerCpu<T> {
    slots: Box<[CachePadded<T>]>,
}

impl<T> PerCpu<T> {
    /// Builds `nr` slots, calling `init(cpu)` for each.
    pub fn new(nr: usize, mut init: impl FnMut(CpuId) -> T) -> Self {
        let slots: Vec<CachePadded<T>> =
            (0..nr).map(|i| CachePadded::new(init(CpuId(i as u32)))).collect();
        PerCpu { slots: slots.into_boxed_slice() }
    }

    /// The number of CPUs.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if there are no slots (never for a real machine).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot of `cpu`, or `None` if out of range.
    pub fn get(&self, cpu: CpuId) -> Option<&T> {
        self.slots.get(cpu.index()).map(|s| &**s)
    }

    /// Iterates `(cpu, slot)` pairs in CPU order.
    pub fn iter(&self) -> impl Iterator<Item = (CpuId, &T)> {
        self.slots.iter().enumerate().map(|(i, s)| (CpuId(i as u32), &**s))
    }
}

impl<T> Index<CpuId> for PerCpu<T> {
    type Output = T;
    #[inline]
    fn index(&self, cpu: CpuId) -> &T {
        &self.slots[cpu.index()]
    }
}
