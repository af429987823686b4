//! GICv2 driver over [`Mmio`]: the init sequences and chip callbacks of Linux's
//! drivers/irqchip/irq-gic.c (spec 7.3), with plain signatures the generic IRQ layer
//! wraps into its chip type.
//!
//! The distributor's INTIDs 0–31 and the CPU interface are banked per CPU, so calls that
//! touch them take the Mmio *as seen by the calling CPU* (on hardware: the same address;
//! with the model: a [`crate::mmio::CpuView`] for that CPU).

use irqkit_core::sync::atomic::{AtomicU32, Ordering};
use irqkit_core::IrqError;

use super::v2_cpuif::*;
use super::v2_dist::*;
use crate::mmio::Mmio;
use crate::trigger::Trigger;

/// Linux's default priority for every INTID (GICD_INT_DEF_PRI).
pub const GICD_INT_DEF_PRI: u8 = 0xA0;
/// Linux's default priority mask (DEFAULT_PMR_VALUE).
pub const DEFAULT_PMR_VALUE: u32 = 0xF0;

/// A GICv2 driver instance.
pub struct GicV2Driver {
    nr_irqs: u32,
    split_eoi: bool,
    /// Per CPU, its interface mask as read from ITARGETSR0–7 (0 = not yet known).
    cpu_mask: [AtomicU32; 8],
}

fn word(id: u32) -> usize {
    (id / 32 * 4) as usize
}

impl GicV2Driver {
    /// Probes the distributor (TYPER) and remembers whether EOImode 1 is used.
    pub fn probe(dist: &impl Mmio, split_eoi: bool) -> Self {
        let typer = dist.read32(GICD_TYPER);
        let nr_irqs = (((typer & 0x1F) + 1) * 32).min(1020);
        GicV2Driver { nr_irqs, split_eoi, cpu_mask: Default::default() }
    }

    /// The chip column `/proc/interrupts` shows for GIC `n` ("GIC-0" for the primary).
    pub fn chip_name(n: u32) -> alloc::string::String {
        alloc::format!("GIC-{n}")
    }

    /// Number of INTIDs the distributor implements (capped at 1020).
    pub fn nr_irqs(&self) -> u32 {
        self.nr_irqs
    }

    /// Whether the driver runs in EOImode 1 (priority drop in the entry, DIR in `eoi`).
    pub fn split_eoi(&self) -> bool {
        self.split_eoi
    }

    /// gic_dist_init: disable; target SPIs at the boot CPU; level, priority 0xA0,
    /// deactivated and disabled; enable.
    pub fn dist_init(&self, dist: &impl Mmio, boot_cpu_mask: u8) {
        dist.write32(GICD_CTLR, 0);
        let m = boot_cpu_mask as u32 * 0x0101_0101;
        for id in (32..self.nr_irqs).step_by(4) {
            dist.write32(GICD_ITARGETSR + id as usize, m);
        }
        for id in (32..self.nr_irqs).step_by(16) {
            dist.write32(GICD_ICFGR + (id / 4) as usize, 0);
        }
        let pri = GICD_INT_DEF_PRI as u32 * 0x0101_0101;
        for id in (32..self.nr_irqs).step_by(4) {
            dist.write32(GICD_IPRIORITYR + id as usize, pri);
        }
        for id in (32..self.nr_irqs).step_by(32) {
            dist.write32(GICD_ICACTIVER + word(id), !0);
            dist.write32(GICD_ICENABLER + word(id), !0);
        }
        dist.write32(GICD_CTLR, 1);
    }

    /// gic_cpu_init on `cpu`: learn its interface mask, reset SGIs/PPIs, PMR 0xF0,
    /// clear APRs, enable the CPU interface (with EOImode if split).
    pub fn cpu_init(&self, cpu: u32, dist: &impl Mmio, cpuif: &impl Mmio) -> Result<u8, IrqError> {
        let slot = self.cpu_mask.get(cpu as usize).ok_or(IrqError::InvalidArgument("cpu"))?;
        let mut mask = 0u8;
        for i in 0..8 {
            mask = dist.read8(GICD_ITARGETSR + i);
            if mask != 0 {
                break;
            }
        }
        // A uniprocessor GIC has RAZ ITARGETSR: its only interface is CPU 0.
        if mask == 0 {
            mask = 1;
        }
        slot.store(mask as u32, Ordering::Relaxed);
        dist.write32(GICD_ICACTIVER, !0);
        dist.write32(GICD_ICENABLER, 0xFFFF_0000);
        let pri = GICD_INT_DEF_PRI as u32 * 0x0101_0101;
        for id in (0..32).step_by(4) {
            dist.write32(GICD_IPRIORITYR + id, pri);
        }
        cpuif.write32(GICC_PMR, DEFAULT_PMR_VALUE);
        cpuif.write32(GICC_APR0, 0);
        let bypass = cpuif.read32(GICC_CTLR) & 0x1E0;
        let eoi = if self.split_eoi { ctlr::EOI_MODE } else { 0 };
        cpuif.write32(GICC_CTLR, bypass | eoi | ctlr::ENABLE_GRP0);
        Ok(mask)
    }

    /// The interface mask `cpu_init` found for `cpu` (0 if not initialised).
    pub fn cpu_mask(&self, cpu: u32) -> u8 {
        self.cpu_mask.get(cpu as usize).map_or(0, |m| m.load(Ordering::Relaxed) as u8)
    }

    fn check(&self, hwirq: u32) -> Result<(), IrqError> {
        if hwirq >= self.nr_irqs {
            return Err(IrqError::InvalidArgument("hwirq beyond GICD_TYPER"));
        }
        Ok(())
    }

    /// irq_mask: ICENABLER bit.
    pub fn mask(&self, dist: &impl Mmio, hwirq: u32) -> Result<(), IrqError> {
        self.check(hwirq)?;
        dist.write32(GICD_ICENABLER + word(hwirq), 1 << (hwirq % 32));
        Ok(())
    }

    /// irq_unmask: ISENABLER bit.
    pub fn unmask(&self, dist: &impl Mmio, hwirq: u32) -> Result<(), IrqError> {
        self.check(hwirq)?;
        dist.write32(GICD_ISENABLER + word(hwirq), 1 << (hwirq % 32));
        Ok(())
    }

    /// irq_eoi: EOIR with the IAR value (mode 0) or DIR (mode 1).
    pub fn eoi(&self, cpuif: &impl Mmio, iar: u32) {
        let reg = if self.split_eoi { GICC_DIR } else { GICC_EOIR };
        cpuif.write32(reg, iar);
    }

    /// gic_handle_irq: reads IAR until a special INTID, priority-dropping first in
    /// EOImode 1, and hands each `(hwirq, iar)` to `dispatch`. Returns how many ran.
    pub fn handle_irq(&self, cpuif: &impl Mmio, mut dispatch: impl FnMut(u32, u32)) -> u32 {
        let mut n = 0;
        loop {
            let iar = cpuif.read32(GICC_IAR);
            let hwirq = iar & 0x3FF;
            if hwirq >= 1020 {
                return n;
            }
            if self.split_eoi {
                cpuif.write32(GICC_EOIR, iar);
            }
            dispatch(hwirq, iar);
            n += 1;
            // Bounded: a storm cannot keep one exception busy forever.
            if n >= self.nr_irqs {
                return n;
            }
        }
    }

    /// irq_set_type: SGIs only edge; others level-high or edge-rising (readback checked).
    pub fn set_type(&self, dist: &impl Mmio, hwirq: u32, t: Trigger) -> Result<(), IrqError> {
        self.check(hwirq)?;
        let edge = match t {
            Trigger::EdgeRising => true,
            Trigger::LevelHigh if hwirq >= 16 => false,
            _ => return Err(IrqError::InvalidArgument("GIC supports level-high or edge-rising")),
        };
        if hwirq < 16 {
            return Ok(());
        }
        let off = GICD_ICFGR + (hwirq / 16 * 4) as usize;
        let bit = 2 << (2 * (hwirq % 16));
        let old = dist.read32(off);
        let new = if edge { old | bit } else { old & !bit };
        if new == old {
            return Ok(());
        }
        dist.write32(off, new);
        if dist.read32(off) != new {
            if hwirq < 32 {
                return Ok(()); // "GIC: PPI%ld is secure or misconfigured": a warning only
            }
            return Err(IrqError::InvalidArgument("ICFGR readback mismatch"));
        }
        Ok(())
    }

    /// irq_set_affinity: SPIs only, one CPU (< 8) whose interface mask is known.
    pub fn set_affinity(&self, dist: &impl Mmio, hwirq: u32, cpu: u32) -> Result<(), IrqError> {
        self.check(hwirq)?;
        if hwirq < 32 {
            return Err(IrqError::InvalidArgument("per-CPU interrupt"));
        }
        let mask = self.cpu_mask(cpu);
        if cpu >= 8 || mask == 0 {
            return Err(IrqError::CpuOffline(cpu));
        }
        dist.write8(GICD_ITARGETSR + hwirq as usize, mask);
        Ok(())
    }

    /// IPI: SGI `sgi` to the CPUs in `cpus` (bit n = CPU n).
    pub fn send_sgi(&self, dist: &impl Mmio, sgi: u32, cpus: u64) -> Result<(), IrqError> {
        if sgi >= 16 {
            return Err(IrqError::InvalidArgument("SGI number"));
        }
        let mut list = 0u32;
        for cpu in 0..8 {
            if cpus & (1 << cpu) != 0 {
                list |= self.cpu_mask(cpu) as u32;
            }
        }
        dist.write32(GICD_SGIR, list << 16 | sgi);
        Ok(())
    }

    /// irq_retrigger: set pending through ISPENDR.
    pub fn retrigger(&self, dist: &impl Mmio, hwirq: u32) -> Result<(), IrqError> {
        self.check(hwirq)?;
        dist.write32(GICD_ISPENDR + word(hwirq), 1 << (hwirq % 32));
        Ok(())
    }

    /// irq_get_irqchip_state(PENDING / ACTIVE / MASKED).
    pub fn irqchip_state(
        &self,
        dist: &impl Mmio,
        hwirq: u32,
        which: ChipState,
    ) -> Result<bool, IrqError> {
        self.check(hwirq)?;
        let (reg, inv) = match which {
            ChipState::Pending => (GICD_ISPENDR, false),
            ChipState::Active => (GICD_ISACTIVER, false),
            ChipState::Masked => (GICD_ISENABLER, true),
        };
        Ok((dist.read32(reg + word(hwirq)) & (1 << (hwirq % 32)) != 0) != inv)
    }
}

/// A chip state readable through `irq_get_irqchip_state`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChipState {
    /// IRQCHIP_STATE_PENDING.
    Pending,
    /// IRQCHIP_STATE_ACTIVE.
    Active,
    /// IRQCHIP_STATE_MASKED.
    Masked,
}
