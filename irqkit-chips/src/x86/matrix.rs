//! Vector allocation matrix, like Linux's kernel/irq/matrix.c (spec 8.2): per-CPU
//! bitmaps of allocated and managed vectors over the window [0x20, 0xEB), a global
//! system bitmap, and the counters Linux's `/sys/kernel/debug/irq/domains/VECTOR` shows.
//!
//! Non-managed allocation picks the online CPU of the mask with the most available
//! vectors (first wins ties) and the lowest free vector there. Managed interrupts
//! reserve a vector on every CPU of their mask up front and take one at activation on
//! the CPU with the fewest managed allocations (matrix_managed.rs). CPU sets are 64-bit
//! masks.

use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::vector::{FIRST_EXTERNAL_VECTOR, FIRST_SYSTEM_VECTOR};

pub(crate) type Bits = [u64; 4];

pub(crate) fn test(b: &Bits, v: u8) -> bool {
    b[v as usize / 64] & (1 << (v % 64)) != 0
}
pub(crate) fn put(b: &mut Bits, v: u8, on: bool) {
    if on {
        b[v as usize / 64] |= 1 << (v % 64);
    } else {
        b[v as usize / 64] &= !(1 << (v % 64));
    }
}

#[derive(Clone, Default)]
pub(crate) struct CpuMap {
    pub(crate) online: bool,
    pub(crate) initialized: bool,
    pub(crate) available: u32,
    pub(crate) allocated: u32,
    pub(crate) managed: u32,
    pub(crate) managed_allocated: u32,
    pub(crate) alloc_map: Bits,
    pub(crate) managed_map: Bits,
}

pub(crate) struct Inner {
    pub(crate) system: Bits,
    pub(crate) global_available: u32,
    pub(crate) global_reserved: u32,
    pub(crate) maps: Vec<CpuMap>,
}

/// Per-CPU counters of the matrix.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MatrixCounts {
    /// Vectors still free for ordinary allocation.
    pub available: u32,
    /// Ordinary vectors allocated.
    pub allocated: u32,
    /// Vectors reserved for managed interrupts.
    pub managed: u32,
    /// Managed vectors in use.
    pub managed_allocated: u32,
}

/// The vector allocation matrix of a machine.
pub struct VectorMatrix {
    pub(crate) inner: SpinLock<Inner>,
}

const BEGIN: u8 = FIRST_EXTERNAL_VECTOR;
const END: u8 = FIRST_SYSTEM_VECTOR;

impl VectorMatrix {
    /// A matrix for `num_cpus` (1–64) CPUs, all offline.
    pub fn new(num_cpus: u32) -> Result<Self, IrqError> {
        if num_cpus == 0 || num_cpus > 64 {
            return Err(IrqError::InvalidArgument("matrix supports 1-64 CPUs"));
        }
        let inner = Inner {
            system: [0; 4],
            global_available: 0,
            global_reserved: 0,
            maps: alloc::vec![CpuMap::default(); num_cpus as usize],
        };
        Ok(VectorMatrix { inner: SpinLock::new(inner) })
    }

    /// irq_matrix_assign_system: excludes `v` on every CPU (e.g. 0x80, the cascade 0x32).
    pub fn assign_system(&self, v: u8) {
        let mut g = self.inner.lock();
        if test(&g.system, v) {
            return;
        }
        put(&mut g.system, v, true);
        if (BEGIN..END).contains(&v) {
            let mut freed = 0;
            for m in g.maps.iter_mut() {
                if m.initialized && !test(&m.alloc_map, v) && !test(&m.managed_map, v) {
                    m.available -= 1;
                    if m.online {
                        freed += 1;
                    }
                }
            }
            g.global_available -= freed;
        }
    }

    /// irq_matrix_online: brings `cpu`'s map online.
    pub fn online(&self, cpu: u32) -> Result<(), IrqError> {
        let mut g = self.inner.lock();
        let sys = g.system;
        let m = g.maps.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
        if m.online {
            return Ok(());
        }
        if !m.initialized {
            let sys_in = (BEGIN..END).filter(|v| test(&sys, *v)).count() as u32;
            m.available = (END - BEGIN) as u32 - m.managed - sys_in;
            m.initialized = true;
        }
        m.online = true;
        let a = m.available;
        g.global_available += a;
        Ok(())
    }

    /// irq_matrix_offline: takes `cpu`'s map offline (its vectors stay allocated).
    pub fn offline(&self, cpu: u32) -> Result<(), IrqError> {
        let mut g = self.inner.lock();
        let m = g.maps.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
        if m.online {
            m.online = false;
            let a = m.available;
            g.global_available -= a;
        }
        Ok(())
    }

    pub(crate) fn lowest_free(g: &Inner, m: &CpuMap, managed_only: bool) -> Option<u8> {
        (BEGIN..END).find(|&v| {
            if managed_only {
                test(&m.managed_map, v) && !test(&m.alloc_map, v)
            } else {
                !test(&g.system, v) && !test(&m.managed_map, v) && !test(&m.alloc_map, v)
            }
        })
    }

    /// irq_matrix_alloc: an ordinary vector on the online CPU of `mask` with the most
    /// available vectors. `reserved`: the caller held a global reservation.
    pub fn alloc(&self, mask: u64, reserved: bool) -> Result<(u32, u8), IrqError> {
        if mask == 0 {
            return Err(IrqError::InvalidArgument("empty CPU mask"));
        }
        let mut g = self.inner.lock();
        let mut best: Option<usize> = None;
        for (cpu, m) in g.maps.iter().enumerate() {
            let usable = cpu < 64 && mask & (1 << cpu) != 0 && m.online;
            if usable && best.is_none_or(|b| m.available > g.maps[b].available) {
                best = Some(cpu);
            }
        }
        let cpu = best.ok_or(IrqError::NoSpace("no online CPU in mask"))?;
        let v = Self::lowest_free(&g, &g.maps[cpu], false)
            .ok_or(IrqError::NoSpace("vector space exhausted"))?;
        let m = &mut g.maps[cpu];
        put(&mut m.alloc_map, v, true);
        m.allocated += 1;
        m.available -= 1;
        g.global_available -= 1;
        if reserved {
            g.global_reserved = g.global_reserved.saturating_sub(1);
        }
        Ok((cpu as u32, v))
    }

    /// irq_matrix_reserve: a global reservation (reservation mode, no real vector yet).
    pub fn reserve(&self) -> Result<(), IrqError> {
        let mut g = self.inner.lock();
        if g.global_reserved >= g.global_available {
            return Err(IrqError::NoSpace("Interrupt reservation exceeds available resources"));
        }
        g.global_reserved += 1;
        Ok(())
    }

    /// irq_matrix_remove_reserved: drops a global reservation.
    pub fn remove_reserved(&self) {
        let mut g = self.inner.lock();
        g.global_reserved = g.global_reserved.saturating_sub(1);
    }

    /// irq_matrix_free: returns `v` on `cpu`; a managed vector stays reserved.
    pub fn free(&self, cpu: u32, v: u8, managed: bool) -> Result<(), IrqError> {
        let mut g = self.inner.lock();
        let m = g.maps.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
        if !(BEGIN..END).contains(&v) || !test(&m.alloc_map, v) {
            return Err(IrqError::AlreadyFreed("vector not allocated"));
        }
        if managed != test(&m.managed_map, v) {
            return Err(IrqError::InvalidArgument("managed/ordinary mismatch on free"));
        }
        put(&mut m.alloc_map, v, false);
        if managed {
            m.managed_allocated = m.managed_allocated.saturating_sub(1);
        } else {
            m.allocated -= 1;
            m.available += 1;
            if m.online {
                g.global_available += 1;
            }
        }
        Ok(())
    }

    /// Counters of `cpu`.
    pub fn counts(&self, cpu: u32) -> Option<MatrixCounts> {
        let g = self.inner.lock();
        g.maps.get(cpu as usize).map(|m| MatrixCounts {
            available: m.available,
            allocated: m.allocated,
            managed: m.managed,
            managed_allocated: m.managed_allocated,
        })
    }

    /// Vectors available for ordinary allocation on all online CPUs, and reservations.
    pub fn global(&self) -> (u32, u32) {
        let g = self.inner.lock();
        (g.global_available, g.global_reserved)
    }
}
