//! GICv2 CPU interface registers (GICC): CTLR, PMR, BPR, IAR, EOIR, RPR, HPPIR, ABPR,
//! APR0, IIDR and DIR, all 32-bit, banked by the accessing CPU.

use super::core::{GicCore, GroupSel, IDLE_PRIORITY};
use super::v2::V2CpuIf;
use crate::mmio::{check_aligned, MmioError, MmioFrame, Width};

/// GICC_CTLR.
pub const GICC_CTLR: usize = 0x00;
/// GICC_PMR.
pub const GICC_PMR: usize = 0x04;
/// GICC_BPR.
pub const GICC_BPR: usize = 0x08;
/// GICC_IAR.
pub const GICC_IAR: usize = 0x0C;
/// GICC_EOIR.
pub const GICC_EOIR: usize = 0x10;
/// GICC_RPR.
pub const GICC_RPR: usize = 0x14;
/// GICC_HPPIR.
pub const GICC_HPPIR: usize = 0x18;
/// GICC_ABPR (binary point for group 1 when CBPR is clear).
pub const GICC_ABPR: usize = 0x1C;
/// GICC_APR0.
pub const GICC_APR0: usize = 0xD0;
/// GICC_IIDR.
pub const GICC_IIDR: usize = 0xFC;
/// GICC_DIR.
pub const GICC_DIR: usize = 0x1000;
/// GICC_CTLR bits.
pub mod ctlr {
    /// Enable group 0 signalling.
    pub const ENABLE_GRP0: u32 = 1 << 0;
    /// Enable group 1 signalling.
    pub const ENABLE_GRP1: u32 = 1 << 1;
    /// IAR may acknowledge group-1 interrupts.
    pub const ACK_CTL: u32 = 1 << 2;
    /// Group 0 is signalled as FIQ.
    pub const FIQ_EN: u32 = 1 << 3;
    /// BPR controls both groups.
    pub const CBPR: u32 = 1 << 4;
    /// EOImode: EOIR only drops priority, DIR deactivates.
    pub const EOI_MODE: u32 = 1 << 9;
}
const FRAME: usize = 0x2000;

fn check(core: &GicCore, cpu: u32, off: usize, w: Width) -> Result<(), MmioError> {
    if off >= FRAME {
        return Err(MmioError::OutOfRange { offset: off });
    }
    check_aligned(off, w)?;
    if w != Width::W32 {
        return Err(MmioError::BadWidth { offset: off, width: w });
    }
    if cpu >= core.num_cpus {
        return Err(MmioError::NoSuchCpu(cpu));
    }
    Ok(())
}

/// Reads a GICC register; IAR has the acknowledge side effect, hence `&mut`.
pub(crate) fn read(core: &mut GicCore, cpu: u32, off: usize, w: Width) -> Result<u64, MmioError> {
    check(core, cpu, off, w)?;
    let c = &core.cpus[cpu as usize];
    let v = match off {
        GICC_CTLR => {
            c.en_grp0 as u32
                | (c.en_grp1 as u32) << 1
                | (c.ack_ctl as u32) << 2
                | (c.fiq_en as u32) << 3
                | (c.cbpr as u32) << 4
                | (c.eoi_mode as u32) << 9
        }
        GICC_PMR => c.pmr as u32,
        GICC_BPR => c.bpr0 as u32,
        GICC_ABPR => c.bpr1 as u32,
        GICC_IAR => core.acknowledge(cpu, GroupSel::Any),
        GICC_RPR => core.running(cpu).min(0xFF),
        GICC_HPPIR => core.hppir(cpu, GroupSel::Any),
        GICC_APR0 => c.apr as u32,
        GICC_IIDR => 0x0202_143B,
        _ => 0,
    };
    let _ = IDLE_PRIORITY;
    Ok(v as u64)
}

/// Writes a GICC register.
pub(crate) fn write(
    core: &mut GicCore,
    cpu: u32,
    off: usize,
    w: Width,
    val: u64,
) -> Result<(), MmioError> {
    check(core, cpu, off, w)?;
    let v = val as u32;
    let min0 = core.min_bpr0;
    let prio_mask = core.prio_mask;
    match off {
        GICC_CTLR => {
            let c = &mut core.cpus[cpu as usize];
            c.en_grp0 = v & ctlr::ENABLE_GRP0 != 0;
            c.en_grp1 = v & ctlr::ENABLE_GRP1 != 0;
            c.ack_ctl = v & ctlr::ACK_CTL != 0;
            c.fiq_en = v & ctlr::FIQ_EN != 0;
            c.cbpr = v & ctlr::CBPR != 0;
            c.eoi_mode = v & ctlr::EOI_MODE != 0;
        }
        GICC_PMR => core.cpus[cpu as usize].pmr = (v as u8) & prio_mask,
        GICC_BPR => core.cpus[cpu as usize].bpr0 = ((v & 7) as u8).max(min0),
        GICC_ABPR => core.cpus[cpu as usize].bpr1 = ((v & 7) as u8).max(min0 + 1),
        GICC_EOIR => core.end_of_interrupt(cpu, v, GroupSel::Any),
        GICC_DIR => core.deactivate_interrupt(cpu, v),
        GICC_APR0 if v == 0 => {
            let c = &mut core.cpus[cpu as usize];
            c.apr = 0;
            c.apr_g1 = 0;
        }
        _ => {}
    }
    Ok(())
}

impl MmioFrame for V2CpuIf<'_> {
    fn frame_read(&self, cpu: u32, offset: usize, width: Width) -> Result<u64, MmioError> {
        self.0.with(|core| read(core, cpu, offset, width))
    }
    fn frame_write(&self, cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        self.0.with(|core| write(core, cpu, off, w, val))
    }
}
