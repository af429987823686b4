//! Register-decoding helpers shared by the GIC frames: bit-per-INTID, byte-per-INTID
//! and two-bits-per-INTID register banks.

use super::core::GicCore;
use super::state::{Field, NR_SGIS};

/// Reads the bit-per-INTID register word `n` of `field` as `cpu`.
pub(crate) fn read_bits(core: &GicCore, cpu: u32, n: u32, field: Field) -> u32 {
    let mut v = 0;
    for i in 0..32 {
        if core.ids.get(cpu, n * 32 + i, field) {
            v |= 1 << i;
        }
    }
    v
}

/// Applies a set (`on`) or clear write of the bit-per-INTID register word `n`.
pub(crate) fn write_bits(core: &mut GicCore, cpu: u32, n: u32, field: Field, val: u32, on: bool) {
    let mut m = val;
    while m != 0 {
        let i = m.trailing_zeros();
        m &= m - 1;
        let id = n * 32 + i;
        if !core.v3 && id < NR_SGIS && field == Field::Enabled {
            continue; // GICv2 SGIs are always enabled.
        }
        core.ids.set(cpu, id, field, on);
    }
}

/// Writes a whole IGROUPR-style word (each bit = group of one INTID).
pub(crate) fn write_group_word(core: &mut GicCore, cpu: u32, n: u32, val: u32) {
    for i in 0..32 {
        core.ids.set(cpu, n * 32 + i, Field::Group, val & (1 << i) != 0);
    }
}

/// Reads the ICFGR word `n` (16 INTIDs, edge = bit 2k+1).
pub(crate) fn read_cfg(core: &GicCore, cpu: u32, n: u32) -> u32 {
    let mut v = 0;
    for k in 0..16 {
        let id = n * 16 + k;
        if core.ids.valid(id) && core.ids.get(cpu, id, Field::Edge) {
            v |= 2 << (2 * k);
        }
    }
    v
}

/// Writes the ICFGR word `n`; SGIs are always edge and ignore writes.
pub(crate) fn write_cfg(core: &mut GicCore, cpu: u32, n: u32, val: u32) {
    for k in 0..16 {
        let id = n * 16 + k;
        if id >= NR_SGIS {
            core.ids.set(cpu, id, Field::Edge, val & (2 << (2 * k)) != 0);
        }
    }
}

/// Reads `len` priority bytes starting at INTID `id` as one little-endian value.
pub(crate) fn read_prio(core: &GicCore, cpu: u32, id: u32, len: usize) -> u64 {
    let mut v = 0u64;
    for b in 0..len as u32 {
        if core.ids.valid(id + b) {
            v |= (core.ids.priority(cpu, id + b) as u64) << (8 * b);
        }
    }
    v
}

/// Writes `len` priority bytes starting at INTID `id`, masked to implemented bits.
pub(crate) fn write_prio(core: &mut GicCore, cpu: u32, id: u32, len: usize, val: u64) {
    for b in 0..len as u32 {
        if core.ids.valid(id + b) {
            let p = core.mask_prio((val >> (8 * b)) as u8);
            core.ids.set_priority(cpu, id + b, p);
        }
    }
}
