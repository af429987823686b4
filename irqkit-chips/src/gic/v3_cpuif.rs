//! GICv3 CPU interface as system registers (ICC_*_EL1), accessed by register name or by
//! the (op0, op1, CRn, CRm, op2) encoding an MRS/MSR trap reports.

use irqkit_core::IrqError;

use super::core::{GicCore, GroupSel};
use super::v3::{affinity_cpu, GicV3};

/// An ICC system register.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum IccReg {
    /// ICC_PMR_EL1.
    Pmr,
    /// ICC_IAR0_EL1.
    Iar0,
    /// ICC_EOIR0_EL1.
    Eoir0,
    /// ICC_HPPIR0_EL1.
    Hppir0,
    /// ICC_BPR0_EL1.
    Bpr0,
    /// ICC_AP0R`<n>`_EL1.
    Ap0r(u8),
    /// ICC_AP1R`<n>`_EL1.
    Ap1r(u8),
    /// ICC_DIR_EL1.
    Dir,
    /// ICC_RPR_EL1.
    Rpr,
    /// ICC_SGI1R_EL1.
    Sgi1r,
    /// ICC_ASGI1R_EL1.
    Asgi1r,
    /// ICC_SGI0R_EL1.
    Sgi0r,
    /// ICC_IAR1_EL1.
    Iar1,
    /// ICC_EOIR1_EL1.
    Eoir1,
    /// ICC_HPPIR1_EL1.
    Hppir1,
    /// ICC_BPR1_EL1.
    Bpr1,
    /// ICC_CTLR_EL1.
    Ctlr,
    /// ICC_SRE_EL1.
    Sre,
    /// ICC_IGRPEN0_EL1.
    Igrpen0,
    /// ICC_IGRPEN1_EL1.
    Igrpen1,
}

impl IccReg {
    /// Decodes an (op0, op1, CRn, CRm, op2) system-register encoding (spec 7.1).
    pub fn from_encoding(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> Option<IccReg> {
        use IccReg::*;
        if op0 != 3 || op1 != 0 {
            return None;
        }
        Some(match (crn, crm, op2) {
            (4, 6, 0) => Pmr,
            (12, 8, 0) => Iar0,
            (12, 8, 1) => Eoir0,
            (12, 8, 2) => Hppir0,
            (12, 8, 3) => Bpr0,
            (12, 8, n @ 4..=7) => Ap0r(n - 4),
            (12, 9, n @ 0..=3) => Ap1r(n),
            (12, 11, 1) => Dir,
            (12, 11, 3) => Rpr,
            (12, 11, 5) => Sgi1r,
            (12, 11, 6) => Asgi1r,
            (12, 11, 7) => Sgi0r,
            (12, 12, 0) => Iar1,
            (12, 12, 1) => Eoir1,
            (12, 12, 2) => Hppir1,
            (12, 12, 3) => Bpr1,
            (12, 12, 4) => Ctlr,
            (12, 12, 5) => Sre,
            (12, 12, 6) => Igrpen0,
            (12, 12, 7) => Igrpen1,
            _ => return None,
        })
    }
}

/// ICC_CTLR_EL1.CBPR.
pub const ICC_CTLR_CBPR: u64 = 1 << 0;
/// ICC_CTLR_EL1.EOImode.
pub const ICC_CTLR_EOIMODE: u64 = 1 << 1;
/// ICC_SGI1R_EL1.IRM: all CPUs but self.
pub const SGI1R_IRM: u64 = 1 << 40;

/// Target CPU set of an ICC_SGI1R/SGI0R value written by `cpu`.
fn sgi_targets(core: &GicCore, cpu: u32, v: u64) -> u64 {
    let n = core.num_cpus;
    let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    if v & SGI1R_IRM != 0 {
        return all & !(1 << cpu);
    }
    let rs = (v >> 44) & 0xF;
    let aff = ((v >> 16) & 0xFF) << 8 | ((v >> 32) & 0xFF) << 16 | ((v >> 48) & 0xFF) << 24;
    let mut t = 0u64;
    for bit in 0..16u64 {
        if v & (1 << bit) != 0 {
            if let Some(c) = affinity_cpu(aff | (rs * 16 + bit), n) {
                t |= 1 << c;
            }
        }
    }
    t
}

fn sysreg_read(core: &mut GicCore, cpu: u32, reg: IccReg) -> u64 {
    let prio_bits = 8 - core.prio_mask.trailing_zeros() as u64;
    let id_bits = core.lpi.as_ref().map_or(0, |l| (l.id_bits > 16) as u64);
    let c = &core.cpus[cpu as usize];
    match reg {
        IccReg::Pmr => c.pmr as u64,
        IccReg::Bpr0 => c.bpr0 as u64,
        IccReg::Bpr1 => {
            if c.cbpr {
                c.bpr0 as u64 + 1
            } else {
                c.bpr1 as u64
            }
        }
        IccReg::Ctlr => {
            (c.cbpr as u64) | (c.eoi_mode as u64) << 1 | (prio_bits - 1) << 8 | id_bits << 11
        }
        IccReg::Sre => 0b111,
        IccReg::Igrpen0 => c.en_grp0 as u64,
        IccReg::Igrpen1 => c.en_grp1 as u64,
        IccReg::Rpr => core.running(cpu).min(0xFF) as u64,
        IccReg::Ap0r(0) => (c.apr & !c.apr_g1) as u32 as u64,
        IccReg::Ap1r(0) => (c.apr & c.apr_g1) as u32 as u64,
        IccReg::Iar0 => core.acknowledge(cpu, GroupSel::G0) as u64,
        IccReg::Iar1 => core.acknowledge(cpu, GroupSel::G1) as u64,
        IccReg::Hppir0 => core.hppir(cpu, GroupSel::G0) as u64,
        IccReg::Hppir1 => core.hppir(cpu, GroupSel::G1) as u64,
        _ => 0,
    }
}

fn sysreg_write(core: &mut GicCore, cpu: u32, reg: IccReg, v: u64) {
    let min0 = core.min_bpr0;
    let mask = core.prio_mask;
    let targets = sgi_targets(core, cpu, v);
    let c = &mut core.cpus[cpu as usize];
    match reg {
        IccReg::Pmr => c.pmr = v as u8 & mask,
        IccReg::Bpr0 => c.bpr0 = ((v & 7) as u8).max(min0),
        IccReg::Bpr1 if !c.cbpr => c.bpr1 = ((v & 7) as u8).max(min0 + 1),
        IccReg::Ctlr => {
            c.cbpr = v & ICC_CTLR_CBPR != 0;
            c.eoi_mode = v & ICC_CTLR_EOIMODE != 0;
        }
        IccReg::Igrpen0 => c.en_grp0 = v & 1 != 0,
        IccReg::Igrpen1 => c.en_grp1 = v & 1 != 0,
        IccReg::Ap0r(_) | IccReg::Ap1r(_) if v == 0 => {
            let g1 = matches!(reg, IccReg::Ap1r(_));
            let keep = if g1 { !c.apr_g1 } else { c.apr_g1 };
            c.apr &= keep;
            c.apr_g1 &= c.apr;
        }
        IccReg::Eoir0 => core.end_of_interrupt(cpu, v as u32, GroupSel::G0),
        IccReg::Eoir1 => core.end_of_interrupt(cpu, v as u32, GroupSel::G1),
        IccReg::Dir => core.deactivate_interrupt(cpu, v as u32),
        IccReg::Sgi1r | IccReg::Sgi0r | IccReg::Asgi1r => {
            core.send_sgi(cpu, ((v >> 24) & 0xF) as u32, targets)
        }
        _ => {}
    }
}

impl GicV3 {
    /// MRS of `reg` on `cpu`. IAR reads acknowledge. Unknown CPU → typed error.
    pub fn sysreg_read(&self, cpu: u32, reg: IccReg) -> Result<u64, IrqError> {
        self.with(|i| {
            if cpu >= i.core.num_cpus {
                return Err(IrqError::CpuOffline(cpu));
            }
            Ok(sysreg_read(&mut i.core, cpu, reg))
        })
    }

    /// MSR of `value` to `reg` on `cpu`. Read-only registers ignore writes.
    pub fn sysreg_write(&self, cpu: u32, reg: IccReg, value: u64) -> Result<(), IrqError> {
        self.with(|i| {
            if cpu >= i.core.num_cpus {
                return Err(IrqError::CpuOffline(cpu));
            }
            sysreg_write(&mut i.core, cpu, reg, value);
            Ok(())
        })
    }
}
