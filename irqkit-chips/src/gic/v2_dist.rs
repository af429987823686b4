//! GICv2 distributor registers (GICD): decoding of every offset of the 4 KiB frame.
//!
//! Byte access is allowed where the architecture allows it (IPRIORITYR, ITARGETSR,
//! CPENDSGIR/SPENDSGIR); every other register is 32-bit only. A wrong width or an offset
//! beyond the frame is a typed [`MmioError`]; reserved offsets inside the frame are
//! RAZ/WI, as on hardware.

use super::core::GicCore;
use super::regs::write_prio;
use super::regs::{read_bits, read_cfg, read_prio, write_bits, write_cfg, write_group_word};
use super::state::{Field, NR_SGIS};
use super::v2::V2Dist;
use crate::mmio::{check_aligned, MmioError, MmioFrame, Width};

/// GICD_CTLR.
pub const GICD_CTLR: usize = 0x000;
/// GICD_TYPER.
pub const GICD_TYPER: usize = 0x004;
/// GICD_IIDR.
pub const GICD_IIDR: usize = 0x008;
/// GICD_IGROUPRn.
pub const GICD_IGROUPR: usize = 0x080;
/// GICD_ISENABLERn.
pub const GICD_ISENABLER: usize = 0x100;
/// GICD_ICENABLERn.
pub const GICD_ICENABLER: usize = 0x180;
/// GICD_ISPENDRn.
pub const GICD_ISPENDR: usize = 0x200;
/// GICD_ICPENDRn.
pub const GICD_ICPENDR: usize = 0x280;
/// GICD_ISACTIVERn.
pub const GICD_ISACTIVER: usize = 0x300;
/// GICD_ICACTIVERn.
pub const GICD_ICACTIVER: usize = 0x380;
/// GICD_IPRIORITYRn (one byte per INTID).
pub const GICD_IPRIORITYR: usize = 0x400;
/// GICD_ITARGETSRn (one byte per INTID).
pub const GICD_ITARGETSR: usize = 0x800;
/// GICD_ICFGRn (two bits per INTID).
pub const GICD_ICFGR: usize = 0xC00;
/// GICD_SGIR.
pub const GICD_SGIR: usize = 0xF00;
/// GICD_CPENDSGIRn.
pub const GICD_CPENDSGIR: usize = 0xF10;
/// GICD_SPENDSGIRn.
pub const GICD_SPENDSGIR: usize = 0xF20;
/// GICD_PIDR2 (architecture revision in bits \[7:4\]).
pub const GICD_PIDR2: usize = 0xFE8;
/// GICv2 IIDR as a GIC-400 reports it (Linux checks `& 0xFF0FFF == 0x02043B`).
pub const GICV2_IIDR: u32 = 0x0202_043B;
const FRAME: usize = 0x1000;

fn byte_ok(off: usize) -> bool {
    (GICD_IPRIORITYR..GICD_ITARGETSR + 0x400).contains(&off)
        || (GICD_CPENDSGIR..GICD_SPENDSGIR + 0x10).contains(&off)
}

fn check(off: usize, w: Width) -> Result<(), MmioError> {
    if off >= FRAME {
        return Err(MmioError::OutOfRange { offset: off });
    }
    check_aligned(off, w)?;
    match w {
        Width::W32 => Ok(()),
        Width::W8 if byte_ok(off) => Ok(()),
        _ => Err(MmioError::BadWidth { offset: off, width: w }),
    }
}

fn targets_byte(core: &GicCore, cpu: u32, id: u32) -> u8 {
    if core.num_cpus == 1 || !core.ids.valid(id) {
        0
    } else if id < 32 {
        1 << cpu
    } else {
        core.ids.targets[id as usize] as u8
    }
}

pub(crate) fn read(core: &GicCore, cpu: u32, off: usize, w: Width) -> Result<u64, MmioError> {
    check(off, w)?;
    if cpu >= core.num_cpus {
        return Err(MmioError::NoSuchCpu(cpu));
    }
    let n = |base: usize| ((off - base) / 4) as u32;
    let v: u32 = match off {
        GICD_CTLR => core.dist_grp0 as u32 | (core.dist_grp1 as u32) << 1,
        GICD_TYPER => (core.ids.num_irqs / 32 - 1) | (core.num_cpus - 1) << 5,
        GICD_IIDR => GICV2_IIDR,
        0x080..=0x0FC => read_bits(core, cpu, n(GICD_IGROUPR), Field::Group),
        0x100..=0x17C => read_bits(core, cpu, n(GICD_ISENABLER), Field::Enabled),
        0x180..=0x1FC => read_bits(core, cpu, n(GICD_ICENABLER), Field::Enabled),
        0x200..=0x27C => read_bits(core, cpu, n(GICD_ISPENDR), Field::Pending),
        0x280..=0x2FC => read_bits(core, cpu, n(GICD_ICPENDR), Field::Pending),
        0x300..=0x37C => read_bits(core, cpu, n(GICD_ISACTIVER), Field::Active),
        0x380..=0x3FC => read_bits(core, cpu, n(GICD_ICACTIVER), Field::Active),
        0x400..=0x7FF => {
            return Ok(read_prio(core, cpu, (off - GICD_IPRIORITYR) as u32, w.bytes()))
        }
        0x800..=0xBFF => {
            let id = (off - GICD_ITARGETSR) as u32;
            let mut v = 0u64;
            for b in 0..w.bytes() as u32 {
                v |= (targets_byte(core, cpu, id + b) as u64) << (8 * b);
            }
            return Ok(v);
        }
        0xC00..=0xCFC => read_cfg(core, cpu, n(GICD_ICFGR)),
        0xF10..=0xF2F => {
            let base = if off >= GICD_SPENDSGIR { GICD_SPENDSGIR } else { GICD_CPENDSGIR };
            let b = &core.ids.banked[cpu as usize];
            let mut v = 0u64;
            for i in 0..w.bytes() {
                let sgi = off - base + i;
                v |= (b.sgi_src(sgi) & 0xFF) << (8 * i);
            }
            return Ok(v);
        }
        GICD_PIDR2 => 0x2B,
        _ => 0,
    };
    Ok(v as u64)
}

pub(crate) fn write(
    core: &mut GicCore,
    cpu: u32,
    off: usize,
    w: Width,
    val: u64,
) -> Result<(), MmioError> {
    check(off, w)?;
    if cpu >= core.num_cpus {
        return Err(MmioError::NoSuchCpu(cpu));
    }
    let v = val as u32;
    let n = |base: usize| ((off - base) / 4) as u32;
    match off {
        GICD_CTLR => {
            core.dist_grp0 = v & 1 != 0;
            core.dist_grp1 = v & 2 != 0;
        }
        0x080..=0x0FC => write_group_word(core, cpu, n(GICD_IGROUPR), v),
        0x100..=0x17C => write_bits(core, cpu, n(GICD_ISENABLER), Field::Enabled, v, true),
        0x180..=0x1FC => write_bits(core, cpu, n(GICD_ICENABLER), Field::Enabled, v, false),
        0x200..=0x27C => write_bits(core, cpu, n(GICD_ISPENDR), Field::Pending, v, true),
        0x280..=0x2FC => write_bits(core, cpu, n(GICD_ICPENDR), Field::Pending, v, false),
        0x300..=0x37C => write_bits(core, cpu, n(GICD_ISACTIVER), Field::Active, v, true),
        0x380..=0x3FC => write_bits(core, cpu, n(GICD_ICACTIVER), Field::Active, v, false),
        0x400..=0x7FF => write_prio(core, cpu, (off - GICD_IPRIORITYR) as u32, w.bytes(), val),
        0x800..=0xBFF => {
            let all = (1u64 << core.num_cpus) - 1;
            for b in 0..w.bytes() as u32 {
                let id = (off - GICD_ITARGETSR) as u32 + b;
                if id >= 32 && core.ids.valid(id) && core.num_cpus > 1 {
                    core.ids.targets[id as usize] = (val >> (8 * b)) & 0xFF & all;
                }
            }
        }
        0xC00..=0xCFC => write_cfg(core, cpu, n(GICD_ICFGR), v),
        GICD_SGIR => {
            let sgi = v & 0xF;
            let all = (1u64 << core.num_cpus) - 1;
            let targets = match (v >> 24) & 3 {
                0 => ((v >> 16) & 0xFF) as u64 & all,
                1 => all & !(1 << cpu),
                2 => 1 << cpu,
                _ => all, // reserved filter: QEMU treats it as "all"
            };
            core.send_sgi(cpu, sgi, targets);
        }
        0xF10..=0xF2F => {
            let set = off >= GICD_SPENDSGIR;
            let base = if set { GICD_SPENDSGIR } else { GICD_CPENDSGIR };
            let b = &mut core.ids.banked[cpu as usize];
            for i in 0..w.bytes() {
                let sgi = off - base + i;
                let bits = (val >> (8 * i)) & 0xFF;
                if sgi < NR_SGIS as usize {
                    let old = b.sgi_src(sgi);
                    b.set_sgi_src(sgi, if set { old | bits } else { old & !bits });
                }
            }
        }
        _ => {}
    }
    Ok(())
}

impl MmioFrame for V2Dist<'_> {
    fn frame_read(&self, cpu: u32, offset: usize, width: Width) -> Result<u64, MmioError> {
        read(&self.0.inner.lock().core, cpu, offset, width)
    }
    fn frame_write(&self, cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        self.0.with(|core| write(core, cpu, off, w, val))
    }
}
