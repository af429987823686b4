//! `IrqDescs`: sparse descriptor storage by irq number (up to 2^20), the allocation
//! bitmap (`irq_alloc_descs` / `irq_free_descs`) and the per-CPU interrupt counts.
//!
//! Storage is a two-level radix table: 1024 leaves of 1024 slots, each leaf and each
//! descriptor created on first use with a set-once pointer (`OnceBox`), so lookup is two
//! dependent loads and no lock. Per-CPU counts (`kstat_irqs`) use the same shape, one
//! table per CPU: a CPU only ever writes its own table, so counters of different CPUs
//! never share a cache line, and a descriptor costs 4 bytes of counters per CPU.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use once_cell::race::OnceBox;

use super::desc::IrqDesc;
use crate::cpu::{CpuId, PerCpu};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};

/// The largest number of interrupt descriptors (`MAX_SPARSE_IRQS`, 2^20).
pub const NR_IRQS_MAX: u32 = 1 << 20;
const LEAF_BITS: u32 = 10;
const LEAF: usize = 1 << LEAF_BITS;
const TOP: usize = (NR_IRQS_MAX as usize) >> LEAF_BITS;
/// Irq numbers below this are legacy (ISA) and the initial `nr_irqs`.
pub const NR_IRQS_LEGACY: u32 = 16;

// Fixed-size leaves: `OnceBox<[T; LEAF]>` is one pointer to the leaf, where a boxed
// slice would add a second dependent load (and a length check) on every interrupt.
type DescLeaf = [OnceBox<IrqDesc>; LEAF];
type CountLeaf = [AtomicU32; LEAF];

/// A leaf built on the heap: `Box::new([..; LEAF])` would first build its 8 KiB on the
/// stack, and a descriptor may be allocated on a signal's alternate stack (hosted).
fn boxed_leaf<T>(mut init: impl FnMut() -> T) -> Box<[T; LEAF]> {
    let v: Vec<T> = (0..LEAF).map(|_| init()).collect();
    match v.into_boxed_slice().try_into() {
        Ok(leaf) => leaf,
        Err(_) => unreachable!("a vector of LEAF elements converts to [T; LEAF]"),
    }
}

/// All descriptors of one system.
pub struct IrqDescs {
    top: Box<[OnceBox<DescLeaf>]>,
    kstat: PerCpu<Box<[OnceBox<CountLeaf>]>>,
    bitmap: SpinLockIrq<Vec<u64>>,
    nr_irqs: AtomicU32,
}

impl IrqDescs {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        IrqDescs {
            top: (0..TOP).map(|_| OnceBox::new()).collect(),
            kstat: PerCpu::new(nr_cpus, |_| (0..TOP).map(|_| OnceBox::new()).collect()),
            bitmap: SpinLockIrq::new(vec![0u64; NR_IRQS_MAX as usize / 64]),
            nr_irqs: AtomicU32::new(NR_IRQS_LEGACY),
        }
    }

    /// `irq_to_desc`: the allocated descriptor of `irq`, without locking.
    #[inline]
    pub fn get(&self, irq: u32) -> Option<&IrqDesc> {
        let leaf = self.top.get((irq >> LEAF_BITS) as usize)?.get()?;
        let d = leaf[(irq as usize) & (LEAF - 1)].get()?;
        d.is_allocated().then_some(d)
    }

    /// `nr_irqs`: one more than the highest irq ever allocated (at least 16).
    pub fn nr_irqs(&self) -> u32 {
        self.nr_irqs.load(Ordering::Relaxed)
    }

    /// Adds one to `cpu`'s count of `irq`. Only `cpu` itself calls this, with local
    /// interrupts masked, so a plain load/store pair is enough (`this_cpu_inc`).
    #[inline]
    pub(crate) fn kstat_inc(&self, cpu: CpuId, irq: u32) {
        if let Some(leaf) = self.kstat.get(cpu).and_then(|t| t[(irq >> LEAF_BITS) as usize].get()) {
            let c = &leaf[(irq as usize) & (LEAF - 1)];
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// `cpu`'s count of `irq`.
    pub fn kstat_cpu(&self, cpu: CpuId, irq: u32) -> u32 {
        self.kstat
            .get(cpu)
            .and_then(|t| t.get((irq >> LEAF_BITS) as usize)?.get())
            .map(|leaf| leaf[(irq as usize) & (LEAF - 1)].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    fn kstat_reset(&self, irq: u32) {
        for (_, t) in self.kstat.iter() {
            if let Some(leaf) = t[(irq >> LEAF_BITS) as usize].get() {
                leaf[(irq as usize) & (LEAF - 1)].store(0, Ordering::Relaxed);
            }
        }
    }

    fn ensure(&self, irq: u32) -> &IrqDesc {
        let li = (irq >> LEAF_BITS) as usize;
        let leaf = self.top[li].get_or_init(|| boxed_leaf(OnceBox::new));
        for (_, t) in self.kstat.iter() {
            t[li].get_or_init(|| boxed_leaf(|| AtomicU32::new(0)));
        }
        leaf[(irq as usize) & (LEAF - 1)].get_or_init(|| Box::new(IrqDesc::new(irq)))
    }

    /// Iterates over allocated descriptors in irq order, below `nr_irqs`.
    pub fn iter(&self) -> impl Iterator<Item = &IrqDesc> + '_ {
        (0..self.nr_irqs()).filter_map(move |i| self.get(i))
    }
}

impl IrqSystem {
    /// `irq_alloc_descs(irq, from, cnt)`: allocates `count` consecutive descriptors at
    /// or above `from` (exactly at `from` if `exact`); returns the first irq.
    pub fn irq_alloc_descs(&self, from: u32, count: u32, exact: bool) -> Result<u32, IrqError> {
        let descs = &self.irq.descs;
        if count == 0 || count > NR_IRQS_MAX || from >= NR_IRQS_MAX {
            return Err(IrqError::InvalidArgument("bad irq descriptor range"));
        }
        let start = {
            let mut bm = descs.bitmap.lock_irqsave(self);
            let free = |bm: &Vec<u64>, i: u32| bm[(i / 64) as usize] & (1 << (i % 64)) == 0;
            let mut start = from;
            loop {
                if start.checked_add(count).is_none_or(|e| e > NR_IRQS_MAX) {
                    return Err(IrqError::NoSpace("no free irq descriptor range"));
                }
                match (start..start + count).find(|&i| !free(&bm, i)) {
                    None => break,
                    Some(_) if exact => return Err(IrqError::Busy("irq descriptor in use")),
                    Some(used) => start = used + 1,
                }
            }
            for i in start..start + count {
                bm[(i / 64) as usize] |= 1 << (i % 64);
            }
            start
        };
        for i in start..start + count {
            let d = descs.ensure(i);
            d.reset(self);
            descs.kstat_reset(i);
            let aff = self.irq.default_affinity(self);
            d.inner.lock_irqsave(self).affinity.set(&aff);
            d.set_allocated(true);
        }
        descs.nr_irqs.fetch_max(start + count, Ordering::Relaxed);
        Ok(start)
    }

    /// `irq_free_descs`: frees `count` descriptors from `from`. Each must have no
    /// action left (`Busy` otherwise) and be allocated (`AlreadyFreed` otherwise).
    pub fn irq_free_descs(&self, from: u32, count: u32) -> Result<(), IrqError> {
        let descs = &self.irq.descs;
        for i in from..from.saturating_add(count) {
            let d = descs.get(i).ok_or(IrqError::AlreadyFreed("irq descriptor not allocated"))?;
            if d.inner.lock_irqsave(self).has_action() {
                return Err(IrqError::Busy("irq still has handlers"));
            }
        }
        let mut bm = descs.bitmap.lock_irqsave(self);
        for i in from..from + count {
            if let Some(d) = descs.get(i) {
                d.set_allocated(false);
            }
            bm[(i / 64) as usize] &= !(1 << (i % 64));
        }
        Ok(())
    }

    /// `irq_to_desc`: the descriptor of `irq`, or `NotFound`.
    #[inline]
    pub fn irq_to_desc(&self, irq: u32) -> Result<&IrqDesc, IrqError> {
        self.irq.descs.get(irq).ok_or(IrqError::NotFound("no such irq"))
    }

    /// `kstat_irqs_cpu`: interrupts of `irq` counted on `cpu`.
    pub fn kstat_irqs_cpu(&self, irq: u32, cpu: CpuId) -> u32 {
        self.irq.descs.kstat_cpu(cpu, irq)
    }
}
