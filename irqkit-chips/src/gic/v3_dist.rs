//! GICv3 distributor registers (GICD) with affinity routing always enabled: SPI
//! configuration, IROUTER, SETSPI/CLRSPI; INTIDs 0–31 live in the redistributors, so the
//! distributor's copies are RAZ/WI.

use super::core::GicCore;
use super::regs::write_prio;
use super::regs::{read_bits, read_cfg, read_prio, write_bits, write_cfg, write_group_word};
use super::state::{Field, FIRST_SPI};
use super::v3::{affinity_cpu, V3Dist, V3Inner};
use crate::mmio::{check_aligned, MmioError, MmioFrame, Width};

/// GICD_CTLR.
pub const GICD_CTLR: usize = 0x0000;
/// GICD_TYPER.
pub const GICD_TYPER: usize = 0x0004;
/// GICD_IIDR.
pub const GICD_IIDR: usize = 0x0008;
/// GICD_SETSPI_NSR.
pub const GICD_SETSPI_NSR: usize = 0x0040;
/// GICD_CLRSPI_NSR.
pub const GICD_CLRSPI_NSR: usize = 0x0048;
/// GICD_IGROUPRn.
pub const GICD_IGROUPR: usize = 0x0080;
/// GICD_ISENABLERn.
pub const GICD_ISENABLER: usize = 0x0100;
/// GICD_ICENABLERn.
pub const GICD_ICENABLER: usize = 0x0180;
/// GICD_ISPENDRn.
pub const GICD_ISPENDR: usize = 0x0200;
/// GICD_ICPENDRn.
pub const GICD_ICPENDR: usize = 0x0280;
/// GICD_ISACTIVERn.
pub const GICD_ISACTIVER: usize = 0x0300;
/// GICD_ICACTIVERn.
pub const GICD_ICACTIVER: usize = 0x0380;
/// GICD_IPRIORITYRn.
pub const GICD_IPRIORITYR: usize = 0x0400;
/// GICD_ICFGRn.
pub const GICD_ICFGR: usize = 0x0C00;
/// GICD_IROUTERn (8 bytes per INTID, from INTID 32).
pub const GICD_IROUTER: usize = 0x6000;
/// GICD_PIDR2.
pub const GICD_PIDR2: usize = 0xFFE8;
/// GICD_CTLR: enable group 0.
pub const CTLR_ENABLE_G0: u32 = 1 << 0;
/// GICD_CTLR: enable group 1 (Linux's EnableGrp1A in the non-secure view).
pub const CTLR_ENABLE_G1: u32 = 1 << 1;
/// GICD_CTLR: affinity routing enable (always set in this model).
pub const CTLR_ARE: u32 = 1 << 4;
/// GICD_CTLR: disable security (always set: single security state).
pub const CTLR_DS: u32 = 1 << 6;
/// GICD_CTLR: register write pending (always clear: writes complete at once).
pub const CTLR_RWP: u32 = 1 << 31;
/// IROUTER: Interrupt_Routing_Mode (1 = any participating CPU).
pub const IROUTER_IRM: u64 = 1 << 31;
const FRAME: usize = 0x10000;

fn check(off: usize, w: Width) -> Result<(), MmioError> {
    if off >= FRAME {
        return Err(MmioError::OutOfRange { offset: off });
    }
    check_aligned(off, w)?;
    let ok = match w {
        Width::W32 => true,
        Width::W8 => (0x400..0x800).contains(&off),
        Width::W64 => (0x6100..0x8000).contains(&off),
        Width::W16 => false,
    };
    if ok {
        Ok(())
    } else {
        Err(MmioError::BadWidth { offset: off, width: w })
    }
}

/// Recomputes the target CPU set of SPI `id` from its IROUTER value.
pub(crate) fn apply_route(core: &mut GicCore, id: u32, route: u64) {
    let n = core.num_cpus;
    core.ids.targets[id as usize] = if route & IROUTER_IRM != 0 {
        if n == 64 {
            u64::MAX
        } else {
            (1u64 << n) - 1
        }
    } else {
        let aff = (route & 0xFF_FFFF) | ((route >> 32) & 0xFF) << 24;
        affinity_cpu(aff, n).map_or(0, |c| 1 << c)
    };
}

pub(crate) fn read(i: &V3Inner, cpu: u32, off: usize, w: Width) -> Result<u64, MmioError> {
    check(off, w)?;
    let core = &i.core;
    let n = |base: usize| ((off - base) / 4) as u32;
    let spi_bits = |base: usize, f: Field| {
        let n = n(base);
        if n == 0 {
            0
        } else {
            read_bits(core, cpu, n, f)
        }
    };
    let v: u32 = match off {
        GICD_CTLR => core.dist_grp0 as u32 | (core.dist_grp1 as u32) << 1 | CTLR_ARE | CTLR_DS,
        GICD_TYPER => {
            let idbits = core.lpi.as_ref().map_or(10, |l| l.id_bits as u32);
            (core.ids.num_irqs / 32 - 1) | (core.lpi.is_some() as u32) << 17 | (idbits - 1) << 19
        }
        GICD_IIDR => 0x0300_043B,
        0x080..=0x0FC => spi_bits(GICD_IGROUPR, Field::Group),
        0x100..=0x17C => spi_bits(GICD_ISENABLER, Field::Enabled),
        0x180..=0x1FC => spi_bits(GICD_ICENABLER, Field::Enabled),
        0x200..=0x27C => spi_bits(GICD_ISPENDR, Field::Pending),
        0x280..=0x2FC => spi_bits(GICD_ICPENDR, Field::Pending),
        0x300..=0x37C => spi_bits(GICD_ISACTIVER, Field::Active),
        0x380..=0x3FC => spi_bits(GICD_ICACTIVER, Field::Active),
        0x400..=0x7FF => {
            let id = (off - GICD_IPRIORITYR) as u32;
            return Ok(if id < FIRST_SPI { 0 } else { read_prio(core, cpu, id, w.bytes()) });
        }
        0xC00..=0xCFC if n(GICD_ICFGR) >= 2 => read_cfg(core, cpu, n(GICD_ICFGR)),
        0x6100..=0x7FFC => {
            let id = ((off - GICD_IROUTER) / 8) as u32;
            let r = if core.ids.valid(id) { i.irouter[id as usize] } else { 0 };
            return Ok(match (w, off % 8) {
                (Width::W64, _) => r,
                (_, 0) => r & 0xFFFF_FFFF,
                _ => r >> 32,
            });
        }
        GICD_PIDR2 => 0x3B,
        _ => 0,
    };
    Ok(v as u64)
}

pub(crate) fn write(
    i: &mut V3Inner,
    cpu: u32,
    off: usize,
    w: Width,
    val: u64,
) -> Result<(), MmioError> {
    check(off, w)?;
    let v = val as u32;
    let core = &mut i.core;
    let n = |base: usize| ((off - base) / 4) as u32;
    match off {
        GICD_CTLR => {
            core.dist_grp0 = v & CTLR_ENABLE_G0 != 0;
            core.dist_grp1 = v & CTLR_ENABLE_G1 != 0;
        }
        GICD_SETSPI_NSR | GICD_CLRSPI_NSR => {
            let id = v & 0x3FF;
            if id >= FIRST_SPI {
                core.ids.set(cpu, id, Field::Pending, off == GICD_SETSPI_NSR);
            }
        }
        _ if (0x080..0x400).contains(&off) && (off & 0x7F) == 0 => {} // word 0: RAZ/WI
        0x080..=0x0FC => write_group_word(core, cpu, n(GICD_IGROUPR), v),
        0x100..=0x17C => write_bits(core, cpu, n(GICD_ISENABLER), Field::Enabled, v, true),
        0x180..=0x1FC => write_bits(core, cpu, n(GICD_ICENABLER), Field::Enabled, v, false),
        0x200..=0x27C => write_bits(core, cpu, n(GICD_ISPENDR), Field::Pending, v, true),
        0x280..=0x2FC => write_bits(core, cpu, n(GICD_ICPENDR), Field::Pending, v, false),
        0x300..=0x37C => write_bits(core, cpu, n(GICD_ISACTIVER), Field::Active, v, true),
        0x380..=0x3FC => write_bits(core, cpu, n(GICD_ICACTIVER), Field::Active, v, false),
        0x400..=0x7FF => {
            let id = (off - GICD_IPRIORITYR) as u32;
            if id >= FIRST_SPI {
                write_prio(core, cpu, id, w.bytes(), val);
            }
        }
        0xC00..=0xCFC if n(GICD_ICFGR) >= 2 => write_cfg(core, cpu, n(GICD_ICFGR), v),
        0x6100..=0x7FFC => {
            let id = ((off - GICD_IROUTER) / 8) as u32;
            if core.ids.valid(id) {
                let old = i.irouter[id as usize];
                let new = match (w, off % 8) {
                    (Width::W64, _) => val,
                    (_, 0) => (old & !0xFFFF_FFFF) | (val & 0xFFFF_FFFF),
                    _ => (old & 0xFFFF_FFFF) | (val & 0xFFFF_FFFF) << 32,
                };
                let new = new & 0xFF_0000_80FF_FFFF;
                i.irouter[id as usize] = new;
                apply_route(core, id, new);
            }
        }
        _ => {}
    }
    Ok(())
}

impl MmioFrame for V3Dist<'_> {
    fn frame_read(&self, cpu: u32, offset: usize, width: Width) -> Result<u64, MmioError> {
        read(&self.0.inner.lock(), cpu, offset, width)
    }
    fn frame_write(&self, cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        self.0.with(|i| write(i, cpu, off, w, val))
    }
}
