//! GICv3 driver, LPI part: property and pending tables (its_cpu_init_lpis) and LPI
//! mask/unmask through the property byte and GICR_INVLPIR (DirectLPI).

use irqkit_core::IrqError;

use super::lpi::{FIRST_LPI, LPI_PROP_ENABLED, LPI_PROP_GROUP1};
use super::v3_access::DmaMemory;
use super::v3_driver::{rd, GicV3Driver, GICD_INT_DEF_PRI};
use super::v3_redist::*;
use crate::mmio::Mmio;
use crate::trigger::poll_until;

impl GicV3Driver {
    /// its_cpu_init_lpis for `cpu`: property table at `prop_pa` (all LPIs disabled at
    /// default priority, group 1), pending table at `pend_pa` (64 KiB aligned), enable.
    pub fn lpi_init(
        &self,
        gicr: &impl Mmio,
        mem: &impl DmaMemory,
        cpu: u32,
        prop_pa: u64,
        pend_pa: u64,
    ) -> Result<(), IrqError> {
        if self.lpi_bits == 0 {
            return Err(IrqError::Unsupported("no LPIs"));
        }
        if prop_pa & 0xFFF != 0 || pend_pa & 0xFFFF != 0 {
            return Err(IrqError::InvalidArgument("LPI table alignment"));
        }
        let nr = (1usize << self.lpi_bits) - FIRST_LPI as usize;
        let dflt = [GICD_INT_DEF_PRI | LPI_PROP_GROUP1; 256];
        for off in (0..nr).step_by(256) {
            mem.dma_write(prop_pa + off as u64, &dflt[..256.min(nr - off)]);
        }
        let zero = [0u8; 256];
        for off in (0..(1usize << self.lpi_bits) / 8).step_by(256) {
            mem.dma_write(pend_pa + off as u64, &zero);
        }
        let base = rd(cpu);
        gicr.write64(base + GICR_PROPBASER, prop_pa | (self.lpi_bits as u64 - 1));
        gicr.write64(base + GICR_PENDBASER, pend_pa | PENDBASER_PTZ);
        gicr.write32(base + GICR_CTLR, GICR_CTLR_ENABLE_LPIS);
        Ok(())
    }

    /// LPI mask/unmask: rewrite the property byte and invalidate with GICR_INVLPIR
    /// (DirectLPI), waiting for SYNCR.
    pub fn lpi_set_enabled(
        &self,
        gicr: &impl Mmio,
        mem: &impl DmaMemory,
        prop_pa: u64,
        cpu: u32,
        lpi: u32,
        on: bool,
    ) -> Result<(), IrqError> {
        if lpi < FIRST_LPI || (self.lpi_bits as u32) < 14 || lpi >= 1 << self.lpi_bits {
            return Err(IrqError::InvalidArgument("not an LPI"));
        }
        let pa = prop_pa + (lpi - FIRST_LPI) as u64;
        let mut b = [0u8];
        mem.dma_read(pa, &mut b);
        b[0] = if on { b[0] | LPI_PROP_ENABLED } else { b[0] & !LPI_PROP_ENABLED };
        mem.dma_write(pa, &b);
        gicr.write64(rd(cpu) + GICR_INVLPIR, lpi as u64);
        poll_until("GICR_SYNCR", || gicr.read32(rd(cpu) + GICR_SYNCR) & 1 == 0)
    }
}
