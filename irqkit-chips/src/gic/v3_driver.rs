//! GICv3 driver: distributor/redistributor/CPU-interface init and chip callbacks of
//! Linux's drivers/irqchip/irq-gic-v3.c (spec 7.4), plus LPI table setup.
//!
//! Registers are reached through [`Mmio`] (GICD, the GICR region) and [`IccSysRegs`]
//! (the ICC_* system registers of the calling CPU); LPI tables through [`DmaMemory`]
//! (see v3_lpi_driver.rs).

pub use super::v3_access::{DmaMemory, IccSysRegs, ModelSysRegs};

use irqkit_core::IrqError;

use super::lpi::FIRST_LPI;
use super::v3::cpu_affinity;
use super::v3_cpuif::{IccReg, ICC_CTLR_EOIMODE, SGI1R_IRM};
use super::v3_dist::*;
use super::v3_redist::*;
use crate::mmio::Mmio;
use crate::trigger::{poll_until, Trigger};

/// Linux's default priority (GICD_INT_DEF_PRI).
pub const GICD_INT_DEF_PRI: u8 = 0xA0;
/// Linux's default priority mask.
pub const DEFAULT_PMR_VALUE: u64 = 0xF0;

/// A GICv3 driver instance.
pub struct GicV3Driver {
    pub(crate) nr_irqs: u32,
    pub(crate) split_eoi: bool,
    pub(crate) lpi_bits: u8,
}

fn word(id: u32) -> usize {
    (id / 32 * 4) as usize
}

pub(crate) fn rd(cpu: u32) -> usize {
    cpu as usize * GICR_STRIDE
}

impl GicV3Driver {
    /// Probes GICD_TYPER; `split_eoi` selects EOImode 1.
    pub fn probe(dist: &impl Mmio, split_eoi: bool) -> Self {
        let typer = dist.read32(GICD_TYPER);
        let nr_irqs = (((typer & 0x1F) + 1) * 32).min(1020);
        let idbits = ((typer >> 19) & 0x1F) + 1;
        let lpi_bits = if typer & (1 << 17) != 0 { idbits.min(16) as u8 } else { 0 };
        GicV3Driver { nr_irqs, split_eoi, lpi_bits }
    }

    /// The chip column `/proc/interrupts` shows ("GICv3  27 Level  arch_timer").
    pub const CHIP_NAME: &'static str = "GICv3";

    /// Number of SGI+PPI+SPI INTIDs.
    pub fn nr_irqs(&self) -> u32 {
        self.nr_irqs
    }

    /// LPI INTID bits in use (0 = no LPIs).
    pub fn lpi_bits(&self) -> u8 {
        self.lpi_bits
    }

    fn wait_rwp(dist: &impl Mmio) -> Result<(), IrqError> {
        poll_until("RWP timeout, gone fishing", || dist.read32(GICD_CTLR) & CTLR_RWP == 0)
    }

    /// gic_dist_init: disable, SPIs group 1 / level / default priority / disabled,
    /// enable with ARE, route every SPI to the boot CPU.
    pub fn dist_init(&self, dist: &impl Mmio, boot_cpu: u32) -> Result<(), IrqError> {
        dist.write32(GICD_CTLR, 0);
        Self::wait_rwp(dist)?;
        for id in (32..self.nr_irqs).step_by(32) {
            dist.write32(GICD_IGROUPR + word(id), !0);
            dist.write32(GICD_ICACTIVER + word(id), !0);
            dist.write32(GICD_ICENABLER + word(id), !0);
        }
        for id in (32..self.nr_irqs).step_by(16) {
            dist.write32(GICD_ICFGR + (id / 4) as usize, 0);
        }
        for id in (32..self.nr_irqs).step_by(4) {
            dist.write32(GICD_IPRIORITYR + id as usize, GICD_INT_DEF_PRI as u32 * 0x0101_0101);
        }
        Self::wait_rwp(dist)?;
        dist.write32(GICD_CTLR, CTLR_ARE | CTLR_ENABLE_G1 | CTLR_ENABLE_G0);
        Self::wait_rwp(dist)?;
        for id in 32..self.nr_irqs {
            dist.write64(GICD_IROUTER + id as usize * 8, cpu_affinity(boot_cpu));
        }
        Ok(())
    }

    /// gic_cpu_init part 1: wake `cpu`'s redistributor and reset its SGIs/PPIs.
    pub fn redist_init(&self, gicr: &impl Mmio, cpu: u32) -> Result<(), IrqError> {
        let base = rd(cpu);
        let waker = gicr.read32(base + GICR_WAKER);
        gicr.write32(base + GICR_WAKER, waker & !WAKER_PROCESSOR_SLEEP);
        poll_until("redistributor failed to wakeup", || {
            gicr.read32(base + GICR_WAKER) & WAKER_CHILDREN_ASLEEP == 0
        })?;
        let sgi = base + GICR_SGI_BASE;
        gicr.write32(sgi + 0x080, !0);
        gicr.write32(sgi + 0x380, !0);
        gicr.write32(sgi + 0x180, !0);
        for id in (0..32).step_by(4) {
            gicr.write32(sgi + 0x400 + id, GICD_INT_DEF_PRI as u32 * 0x0101_0101);
        }
        Ok(())
    }

    /// gic_cpu_init part 2 on the calling CPU: PMR 0xF0, BPR1 0, EOImode, clear APRs,
    /// IGRPEN1 = 1.
    pub fn cpu_init(&self, icc: &impl IccSysRegs) {
        icc.icc_write(IccReg::Pmr, DEFAULT_PMR_VALUE);
        icc.icc_write(IccReg::Bpr1, 0);
        let eoi = if self.split_eoi { ICC_CTLR_EOIMODE } else { 0 };
        icc.icc_write(IccReg::Ctlr, eoi);
        for n in 0..4 {
            icc.icc_write(IccReg::Ap0r(n), 0);
            icc.icc_write(IccReg::Ap1r(n), 0);
        }
        icc.icc_write(IccReg::Igrpen1, 1);
    }

    fn check(&self, hwirq: u32) -> Result<(), IrqError> {
        if hwirq >= self.nr_irqs {
            return Err(IrqError::InvalidArgument("hwirq beyond GICD_TYPER"));
        }
        Ok(())
    }

    /// The register and offset of `hwirq`'s bit in a bit-per-INTID bank at `dist_base`.
    fn bank(&self, hwirq: u32, cpu: u32, dist_base: usize, sgi_base: usize) -> (bool, usize) {
        if hwirq < 32 {
            (false, rd(cpu) + GICR_SGI_BASE + sgi_base)
        } else {
            (true, dist_base + word(hwirq))
        }
    }

    /// irq_mask (waits for RWP). SGI/PPIs are masked on `cpu`'s redistributor.
    pub fn mask(
        &self,
        dist: &impl Mmio,
        gicr: &impl Mmio,
        hwirq: u32,
        cpu: u32,
    ) -> Result<(), IrqError> {
        self.check(hwirq)?;
        match self.bank(hwirq, cpu, GICD_ICENABLER, 0x180) {
            (true, off) => {
                dist.write32(off, 1 << (hwirq % 32));
                Self::wait_rwp(dist)
            }
            (false, off) => {
                gicr.write32(off, 1 << hwirq);
                poll_until("RWP timeout", || gicr.read32(rd(cpu)) & (1 << 3) == 0)
            }
        }
    }

    /// irq_unmask (no RWP wait).
    pub fn unmask(
        &self,
        dist: &impl Mmio,
        gicr: &impl Mmio,
        hwirq: u32,
        cpu: u32,
    ) -> Result<(), IrqError> {
        self.check(hwirq)?;
        match self.bank(hwirq, cpu, GICD_ISENABLER, 0x100) {
            (true, off) => dist.write32(off, 1 << (hwirq % 32)),
            (false, off) => gicr.write32(off, 1 << hwirq),
        }
        Ok(())
    }

    /// Entry: one ICC_IAR1 read per exception; priority drop first in EOImode 1.
    /// Returns the INTID, or `None` for 1020–1023.
    pub fn handle_irq(&self, icc: &impl IccSysRegs) -> Option<u32> {
        let irq = icc.icc_read(IccReg::Iar1) as u32;
        if (1020..1024).contains(&irq) {
            return None;
        }
        if self.split_eoi {
            icc.icc_write(IccReg::Eoir1, irq as u64);
        }
        Some(irq)
    }

    /// irq_eoi: EOIR1 (mode 0) or DIR (mode 1; skipped for LPIs).
    pub fn eoi(&self, icc: &impl IccSysRegs, intid: u32) {
        if !self.split_eoi {
            icc.icc_write(IccReg::Eoir1, intid as u64);
        } else if intid < FIRST_LPI {
            icc.icc_write(IccReg::Dir, intid as u64);
        }
    }

    /// irq_set_type: SGIs edge only; SPI/PPI level-high or edge-rising.
    pub fn set_type(
        &self,
        dist: &impl Mmio,
        gicr: &impl Mmio,
        hwirq: u32,
        cpu: u32,
        t: Trigger,
    ) -> Result<(), IrqError> {
        self.check(hwirq)?;
        let edge = match t {
            Trigger::EdgeRising => true,
            Trigger::LevelHigh if hwirq >= 16 => false,
            _ => return Err(IrqError::InvalidArgument("GIC supports level-high or edge-rising")),
        };
        if hwirq < 16 {
            return Ok(());
        }
        let (mmio, off): (&dyn Mmio, usize) = if hwirq < 32 {
            (gicr, rd(cpu) + GICR_SGI_BASE + 0xC04)
        } else {
            (dist, GICD_ICFGR + (hwirq / 16 * 4) as usize)
        };
        let bit = 2 << (2 * (hwirq % 16));
        let old = mmio.read32(off);
        let new = if edge { old | bit } else { old & !bit };
        mmio.write32(off, new);
        if mmio.read32(off) != new && hwirq >= 32 {
            return Err(IrqError::InvalidArgument("ICFGR readback mismatch"));
        }
        Ok(())
    }

    /// irq_set_affinity: SPIs only; mask, write IROUTER with the CPU's affinity, unmask.
    pub fn set_affinity(
        &self,
        dist: &impl Mmio,
        hwirq: u32,
        cpu: u32,
        num_cpus: u32,
    ) -> Result<(), IrqError> {
        self.check(hwirq)?;
        if hwirq < 32 {
            return Err(IrqError::InvalidArgument("per-CPU interrupt"));
        }
        if cpu >= num_cpus {
            return Err(IrqError::CpuOffline(cpu));
        }
        let bit = 1 << (hwirq % 32);
        let enabled = dist.read32(GICD_ISENABLER + word(hwirq)) & bit != 0;
        if enabled {
            dist.write32(GICD_ICENABLER + word(hwirq), bit);
            Self::wait_rwp(dist)?;
        }
        dist.write64(GICD_IROUTER + hwirq as usize * 8, cpu_affinity(cpu));
        if enabled {
            dist.write32(GICD_ISENABLER + word(hwirq), bit);
        }
        Ok(())
    }

    /// IPI: SGI `sgi` to `cpus` via ICC_SGI1R, one write per affinity cluster of 16.
    pub fn send_sgi(&self, icc: &impl IccSysRegs, sgi: u32, cpus: u64) -> Result<(), IrqError> {
        if sgi >= 16 {
            return Err(IrqError::InvalidArgument("SGI number"));
        }
        for cluster in 0..4u64 {
            let list = (cpus >> (cluster * 16)) & 0xFFFF;
            if list != 0 {
                icc.icc_write(IccReg::Sgi1r, list | cluster << 16 | (sgi as u64) << 24);
            }
        }
        Ok(())
    }

    /// IPI to every CPU but the caller (IRM = 1).
    pub fn send_sgi_others(&self, icc: &impl IccSysRegs, sgi: u32) -> Result<(), IrqError> {
        if sgi >= 16 {
            return Err(IrqError::InvalidArgument("SGI number"));
        }
        icc.icc_write(IccReg::Sgi1r, SGI1R_IRM | (sgi as u64) << 24);
        Ok(())
    }
}
