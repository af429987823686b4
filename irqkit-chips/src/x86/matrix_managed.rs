//! Managed vectors of the [`VectorMatrix`] (kernel/irq/matrix.c): reserved on every CPU
//! of an affinity mask when the interrupt is allocated, taken at activation on the CPU
//! with the fewest managed allocations, and never returned to `available` on free.

use alloc::vec::Vec;

use irqkit_core::IrqError;

use super::matrix::{put, Inner, VectorMatrix};

impl VectorMatrix {
    /// irq_matrix_reserve_managed: reserves one vector on every CPU of `mask`, rolled
    /// back with `NoSpace` if any CPU is full.
    pub fn reserve_managed(&self, mask: u64) -> Result<(), IrqError> {
        let mut g = self.inner.lock();
        let n = g.maps.len();
        let mut done: Vec<(usize, u8)> = Vec::new();
        for cpu in (0..n).filter(|c| *c < 64 && mask & (1 << c) != 0) {
            let v = {
                let m = &g.maps[cpu];
                Self::lowest_free(&g, m, false)
            };
            let Some(v) = v else {
                for (c, v) in done {
                    Self::unreserve_managed(&mut g, c, v);
                }
                return Err(IrqError::NoSpace("managed reservation"));
            };
            let m = &mut g.maps[cpu];
            put(&mut m.managed_map, v, true);
            m.managed += 1;
            if m.initialized {
                m.available -= 1;
                if m.online {
                    g.global_available -= 1;
                }
            }
            done.push((cpu, v));
        }
        Ok(())
    }

    fn unreserve_managed(g: &mut Inner, cpu: usize, v: u8) {
        let m = &mut g.maps[cpu];
        put(&mut m.managed_map, v, false);
        m.managed -= 1;
        if m.initialized {
            m.available += 1;
            if m.online {
                g.global_available += 1;
            }
        }
    }

    /// irq_matrix_remove_managed: releases one unused managed reservation per CPU.
    pub fn remove_managed(&self, mask: u64) {
        let mut g = self.inner.lock();
        for cpu in 0..g.maps.len().min(64) {
            if mask & (1 << cpu) == 0 {
                continue;
            }
            if let Some(v) = Self::lowest_free(&g, &g.maps[cpu], true) {
                Self::unreserve_managed(&mut g, cpu, v);
            }
        }
    }

    /// irq_matrix_alloc_managed: at activation, the CPU of `mask` with the fewest managed
    /// allocations (ties: the last) takes its lowest reserved-but-unused vector.
    pub fn alloc_managed(&self, mask: u64) -> Result<(u32, u8), IrqError> {
        let mut g = self.inner.lock();
        let mut best: Option<usize> = None;
        for (cpu, m) in g.maps.iter().enumerate() {
            let usable = cpu < 64 && mask & (1 << cpu) != 0 && m.online;
            if usable
                && Self::lowest_free(&g, m, true).is_some()
                && best.is_none_or(|b| m.managed_allocated <= g.maps[b].managed_allocated)
            {
                best = Some(cpu);
            }
        }
        let cpu = best.ok_or(IrqError::NoSpace("no managed vector reserved"))?;
        let v = Self::lowest_free(&g, &g.maps[cpu], true).ok_or(IrqError::NoSpace("managed"))?;
        let m = &mut g.maps[cpu];
        put(&mut m.alloc_map, v, true);
        m.managed_allocated += 1;
        Ok((cpu as u32, v))
    }
}
