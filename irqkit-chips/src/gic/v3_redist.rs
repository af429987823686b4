//! GICv3 redistributor registers: the RD_base frame (CTLR, TYPER, WAKER, LPI tables,
//! direct LPI set/clear and invalidation) and the SGI_base frame (SGI/PPI configuration).
//!
//! CPU `n`'s RD_base is at `n * 0x20000` of the redistributor region, its SGI_base
//! 64 KiB above. Redistributors are not banked: the accessing CPU does not matter.

use super::lpi::FIRST_LPI;
use super::memory::ModelMemory;
use super::regs::write_prio;
use super::regs::{read_bits, read_cfg, read_prio, write_bits, write_cfg, write_group_word};
use super::state::{Field, NR_SGIS};
use super::v3::{cpu_affinity, V3Inner, V3Redist};
use crate::mmio::{check_aligned, MmioError, MmioFrame, Width};

/// Stride between redistributors.
pub const GICR_STRIDE: usize = 0x20000;
/// Offset of the SGI_base frame within a redistributor.
pub const GICR_SGI_BASE: usize = 0x10000;
/// GICR_CTLR.
pub const GICR_CTLR: usize = 0x0000;
/// GICR_IIDR.
pub const GICR_IIDR: usize = 0x0004;
/// GICR_TYPER (64-bit).
pub const GICR_TYPER: usize = 0x0008;
/// GICR_WAKER.
pub const GICR_WAKER: usize = 0x0014;
/// GICR_SETLPIR.
pub const GICR_SETLPIR: usize = 0x0040;
/// GICR_CLRLPIR.
pub const GICR_CLRLPIR: usize = 0x0048;
/// GICR_PROPBASER.
pub const GICR_PROPBASER: usize = 0x0070;
/// GICR_PENDBASER.
pub const GICR_PENDBASER: usize = 0x0078;
/// GICR_INVLPIR.
pub const GICR_INVLPIR: usize = 0x00A0;
/// GICR_INVALLR.
pub const GICR_INVALLR: usize = 0x00B0;
/// GICR_SYNCR.
pub const GICR_SYNCR: usize = 0x00C0;
/// GICR_CTLR.EnableLPIs.
pub const GICR_CTLR_ENABLE_LPIS: u32 = 1 << 0;
/// GICR_WAKER.ProcessorSleep.
pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// GICR_WAKER.ChildrenAsleep.
pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// PENDBASER.PTZ: the pending table is known to be zero.
pub const PENDBASER_PTZ: u64 = 1 << 62;
const PA_51_12: u64 = 0x000F_FFFF_FFFF_F000;
const PA_51_16: u64 = 0x000F_FFFF_FFFF_0000;

fn check(i: &V3Inner, off: usize, w: Width) -> Result<(usize, usize), MmioError> {
    let cpu = off / GICR_STRIDE;
    if cpu >= i.core.num_cpus as usize {
        return Err(MmioError::OutOfRange { offset: off });
    }
    check_aligned(off, w)?;
    let r = off % GICR_STRIDE;
    let ok = match w {
        Width::W32 => true,
        Width::W8 => (GICR_SGI_BASE + 0x400..GICR_SGI_BASE + 0x420).contains(&r),
        Width::W64 => r < GICR_SGI_BASE && (r == 0x08 || (0x40..0xC8).contains(&r)),
        Width::W16 => false,
    };
    if !ok {
        return Err(MmioError::BadWidth { offset: off, width: w });
    }
    Ok((cpu, r))
}

/// Re-reads the configuration of one LPI (`Some`) or all LPIs from the property table
/// that redistributor `cpu` points at.
pub(crate) fn reload_lpi_config(i: &mut V3Inner, mem: &ModelMemory, cpu: u32, one: Option<u32>) {
    let Some(l) = i.core.lpi.as_mut() else { return };
    let Some(rd) = l.rd.get(cpu as usize) else { return };
    let pa = rd.propbaser & PA_51_12;
    let bits = ((rd.propbaser & 0x1F) + 1).min(l.id_bits as u64) as u32;
    let limit = if bits >= 14 { (1usize << bits) - FIRST_LPI as usize } else { 0 };
    match one {
        Some(intid) => {
            if let Some(idx) = l.index(intid) {
                l.config[idx] = if idx < limit { mem.read_u8(pa + idx as u64) } else { 0 };
            }
        }
        None => {
            let n = limit.min(l.config.len());
            mem.read(pa, &mut l.config[..n]);
            l.config[n..].fill(0);
        }
    }
}

/// Sets or clears the pending bit of LPI `intid` at redistributor `cpu`, if that
/// redistributor has LPIs enabled and the INTID is within its property table's range.
pub(crate) fn set_lpi_pending(i: &mut V3Inner, cpu: u32, intid: u32, on: bool) {
    let Some(l) = i.core.lpi.as_mut() else { return };
    let Some(idx) = l.index(intid) else { return };
    let Some(rd) = l.rd.get_mut(cpu as usize) else { return };
    let bits = ((rd.propbaser & 0x1F) + 1) as u32;
    if rd.enabled && (bits >= 32 || intid < (1u32 << bits)) {
        rd.set_pending(idx, on);
    }
    i.core.mark(super::core::cpu_bit(cpu));
}

fn enable_lpis(i: &mut V3Inner, mem: &ModelMemory, cpu: usize, on: bool) {
    let Some(l) = i.core.lpi.as_mut() else { return };
    let rd = &mut l.rd[cpu];
    if on && !rd.enabled {
        rd.clear_all();
        if rd.pendbaser & PENDBASER_PTZ == 0 {
            let pa = rd.pendbaser & PA_51_16;
            let mut buf = [0u8; 64];
            for chunk in 0..rd.capacity().div_ceil(512) {
                mem.read(pa + (FIRST_LPI as u64 / 8) + chunk as u64 * 64, &mut buf);
                for (b, byte) in buf.iter().enumerate() {
                    for bit in 0..8 {
                        if byte & (1 << bit) != 0 {
                            rd.set_pending(chunk * 512 + b * 8 + bit, true);
                        }
                    }
                }
            }
        }
        rd.enabled = true;
        reload_lpi_config(i, mem, cpu as u32, None);
    } else if !on {
        rd.enabled = false;
    }
}

pub(crate) fn read(i: &V3Inner, off: usize, w: Width) -> Result<u64, MmioError> {
    let (cpu, r) = check(i, off, w)?;
    let core = &i.core;
    let lpi = core.lpi.as_ref();
    if r >= GICR_SGI_BASE {
        let s = r - GICR_SGI_BASE;
        let c = cpu as u32;
        let v = match s {
            0x080 => read_bits(core, c, 0, Field::Group),
            0x100 | 0x180 => read_bits(core, c, 0, Field::Enabled),
            0x200 | 0x280 => read_bits(core, c, 0, Field::Pending),
            0x300 | 0x380 => read_bits(core, c, 0, Field::Active),
            0x400..=0x41F => return Ok(read_prio(core, c, (s - 0x400) as u32, w.bytes())),
            0xC00 | 0xC04 => read_cfg(core, c, ((s - 0xC00) / 4) as u32),
            _ => 0,
        };
        return Ok(v as u64);
    }
    let rd = lpi.and_then(|l| l.rd.get(cpu));
    let v: u64 = match r {
        GICR_CTLR => rd.is_some_and(|r| r.enabled) as u64,
        GICR_IIDR => 0x0300_043B,
        0x08 | 0x0C => {
            let last = cpu as u32 + 1 == core.num_cpus;
            let t = (lpi.is_some() as u64)
                | (lpi.is_some() as u64) << 3
                | (last as u64) << 4
                | (cpu as u64) << 8
                | cpu_affinity(cpu as u32) << 32;
            match (w, r) {
                (Width::W64, _) | (_, 0x08) => t & if w == Width::W64 { !0 } else { 0xFFFF_FFFF },
                _ => t >> 32,
            }
        }
        GICR_WAKER => {
            let s = i.rd[cpu].sleep as u64;
            s << 1 | s << 2
        }
        GICR_PROPBASER => rd.map_or(0, |r| r.propbaser),
        GICR_PENDBASER => rd.map_or(0, |r| r.pendbaser & !PENDBASER_PTZ),
        0xFFE8 => 0x3B,
        _ => 0,
    };
    Ok(v)
}

pub(crate) fn write(
    i: &mut V3Inner,
    mem: &ModelMemory,
    off: usize,
    w: Width,
    val: u64,
) -> Result<(), MmioError> {
    let (cpu, r) = check(i, off, w)?;
    let v = val as u32;
    let c = cpu as u32;
    if r >= GICR_SGI_BASE {
        let core = &mut i.core;
        match r - GICR_SGI_BASE {
            0x080 => write_group_word(core, c, 0, v),
            0x100 => write_bits(core, c, 0, Field::Enabled, v, true),
            0x180 => write_bits(core, c, 0, Field::Enabled, v, false),
            s @ (0x200 | 0x280) => {
                write_bits(core, c, 0, Field::Pending, v, s == 0x200);
                let b = &mut core.ids.banked[cpu];
                for sgi in 0..NR_SGIS as usize {
                    if v & (1 << sgi) != 0 {
                        b.set_sgi_src(sgi, if s == 0x200 { 1 << (c & 63) } else { 0 });
                    }
                }
            }
            0x300 => write_bits(core, c, 0, Field::Active, v, true),
            0x380 => write_bits(core, c, 0, Field::Active, v, false),
            s @ 0x400..=0x41F => write_prio(core, c, (s - 0x400) as u32, w.bytes(), val),
            0xC04 => write_cfg(core, c, 1, v),
            _ => {}
        }
        return Ok(());
    }
    match r {
        GICR_CTLR => enable_lpis(i, mem, cpu, v & GICR_CTLR_ENABLE_LPIS != 0),
        GICR_WAKER => i.rd[cpu].sleep = v & WAKER_PROCESSOR_SLEEP != 0,
        GICR_SETLPIR | GICR_CLRLPIR => set_lpi_pending(i, c, v, r == GICR_SETLPIR),
        GICR_PROPBASER | GICR_PENDBASER => {
            if let Some(rd) = i.core.lpi.as_mut().and_then(|l| l.rd.get_mut(cpu)) {
                if w != Width::W64 {
                    return Err(MmioError::BadWidth { offset: off, width: w });
                }
                if r == GICR_PROPBASER {
                    rd.propbaser = val;
                } else {
                    rd.pendbaser = val;
                }
            }
        }
        GICR_INVLPIR => reload_lpi_config(i, mem, c, Some(v)),
        GICR_INVALLR => reload_lpi_config(i, mem, c, None),
        _ => {}
    }
    Ok(())
}

impl MmioFrame for V3Redist<'_> {
    fn frame_read(&self, _cpu: u32, offset: usize, width: Width) -> Result<u64, MmioError> {
        read(&self.0.inner.lock(), offset, width)
    }
    fn frame_write(&self, _cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        let mem = self.0.mem.clone();
        self.0.with(|i| write(i, &mem, off, w, val))
    }
}
