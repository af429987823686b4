//! ITS driver: command-queue setup and the commands Linux's irq-gic-v3-its.c issues
//! (MAPD, MAPC, MAPTI, INV, INVALL, SYNC, INT, CLEAR, DISCARD, MOVI), and the MSI
//! message a device is given (address = ITS base + 0x10040, data = EventID).

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::its::*;
use super::its_cmd::opcode;
use super::v3_driver::DmaMemory;
use crate::mmio::Mmio;
use crate::trigger::poll_until;

/// Command queue size Linux uses (64 KiB = 2048 commands).
pub const ITS_CMD_QUEUE_SZ: u64 = 64 * 1024;

/// An ITS driver instance.
pub struct ItsDriver {
    phys_base: u64,
    queue_pa: u64,
    cwriter: SpinLock<u64>,
}

/// An MSI message: the doorbell address and the payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MsiMsg {
    /// Address the device writes to.
    pub address: u64,
    /// Data it writes.
    pub data: u32,
}

impl ItsDriver {
    /// Sets up a 64 KiB command queue at `queue_pa` and enables the ITS whose frames are
    /// at physical `phys_base`.
    pub fn init(
        its: &impl Mmio,
        mem: &impl DmaMemory,
        phys_base: u64,
        queue_pa: u64,
    ) -> Result<Self, IrqError> {
        if queue_pa & 0xFFF != 0 {
            return Err(IrqError::InvalidArgument("ITS queue alignment"));
        }
        if its.read64(GITS_TYPER) & 1 == 0 {
            return Err(IrqError::Unsupported("ITS without physical LPIs"));
        }
        its.write32(GITS_CTLR, 0);
        let zero = [0u8; 256];
        for off in (0..ITS_CMD_QUEUE_SZ).step_by(256) {
            mem.dma_write(queue_pa + off, &zero);
        }
        its.write64(GITS_CBASER, GITS_CBASER_VALID | queue_pa | (ITS_CMD_QUEUE_SZ / 4096 - 1));
        its.write64(GITS_CWRITER, 0);
        its.write32(GITS_CTLR, GITS_CTLR_ENABLED);
        Ok(ItsDriver { phys_base, queue_pa, cwriter: SpinLock::new(0) })
    }

    /// The MSI message for `event` of any device behind this ITS.
    pub fn msi_msg(&self, event: u32) -> MsiMsg {
        MsiMsg { address: self.phys_base + GITS_TRANSLATER as u64, data: event }
    }

    /// Posts one command and waits for the ITS to consume it.
    pub fn send(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        cmd: [u64; 4],
    ) -> Result<(), IrqError> {
        let mut w = self.cwriter.lock();
        let mut raw = [0u8; 32];
        for (i, c) in cmd.iter().enumerate() {
            raw[i * 8..i * 8 + 8].copy_from_slice(&c.to_le_bytes());
        }
        mem.dma_write(self.queue_pa + *w, &raw);
        let next = (*w + 32) % ITS_CMD_QUEUE_SZ;
        its.write64(GITS_CWRITER, next);
        *w = next;
        poll_until("ITS queue timeout", || {
            let r = its.read64(GITS_CREADR);
            r & GITS_CREADR_STALLED != 0 || r == next
        })?;
        if its.read64(GITS_CREADR) & GITS_CREADR_STALLED != 0 {
            return Err(IrqError::Busy("ITS command queue stalled"));
        }
        Ok(())
    }

    /// MAPD: map `dev` with room for `nvecs` events (rounded up to a power of two,
    /// at least 2) and its ITT at `itt_pa`; `valid = false` unmaps.
    pub fn mapd(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        nvecs: u32,
        itt_pa: u64,
        valid: bool,
    ) -> Result<(), IrqError> {
        let n =
            nvecs.max(2).checked_next_power_of_two().ok_or(IrqError::InvalidArgument("nvecs"))?;
        let size = n.trailing_zeros() - 1;
        let dw2 = (itt_pa & 0x000F_FFFF_FFFF_FF00) | (valid as u64) << 63;
        self.send(its, mem, [opcode::MAPD as u64 | (dev as u64) << 32, size as u64, dw2, 0])
    }

    /// MAPC: collection `icid` → redistributor `cpu` (processor number, PTA = 0).
    pub fn mapc(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        icid: u16,
        cpu: u32,
    ) -> Result<(), IrqError> {
        let dw2 = icid as u64 | (cpu as u64) << 16 | 1 << 63;
        self.send(its, mem, [opcode::MAPC as u64, 0, dw2, 0])?;
        self.sync(its, mem, cpu)
    }

    /// MAPTI: (dev, event) → `lpi` on collection `icid`.
    pub fn mapti(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        event: u32,
        lpi: u32,
        icid: u16,
    ) -> Result<(), IrqError> {
        let dw0 = opcode::MAPTI as u64 | (dev as u64) << 32;
        self.send(its, mem, [dw0, event as u64 | (lpi as u64) << 32, icid as u64, 0])
    }

    fn dev_event(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        op: u8,
        dev: u32,
        event: u32,
    ) -> Result<(), IrqError> {
        self.send(its, mem, [op as u64 | (dev as u64) << 32, event as u64, 0, 0])
    }

    /// INV: re-read (dev, event)'s LPI configuration.
    pub fn inv(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        event: u32,
    ) -> Result<(), IrqError> {
        self.dev_event(its, mem, opcode::INV, dev, event)
    }

    /// INT: make (dev, event) pending (retrigger / set PENDING).
    pub fn int(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        event: u32,
    ) -> Result<(), IrqError> {
        self.dev_event(its, mem, opcode::INT, dev, event)
    }

    /// CLEAR: clear (dev, event)'s pending state.
    pub fn clear(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        event: u32,
    ) -> Result<(), IrqError> {
        self.dev_event(its, mem, opcode::CLEAR, dev, event)
    }

    /// DISCARD: unmap (dev, event) (IRQ deactivation).
    pub fn discard(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        event: u32,
    ) -> Result<(), IrqError> {
        self.dev_event(its, mem, opcode::DISCARD, dev, event)
    }

    /// MOVI: move (dev, event) to collection `icid` (affinity change).
    pub fn movi(
        &self,
        its: &impl Mmio,
        mem: &impl DmaMemory,
        dev: u32,
        event: u32,
        icid: u16,
    ) -> Result<(), IrqError> {
        let dw0 = opcode::MOVI as u64 | (dev as u64) << 32;
        self.send(its, mem, [dw0, event as u64, icid as u64, 0])
    }

    /// INVALL: re-read all LPI configuration for collection `icid`.
    pub fn invall(&self, its: &impl Mmio, mem: &impl DmaMemory, icid: u16) -> Result<(), IrqError> {
        self.send(its, mem, [opcode::INVALL as u64, 0, icid as u64, 0])
    }

    /// SYNC on redistributor `cpu`.
    pub fn sync(&self, its: &impl Mmio, mem: &impl DmaMemory, cpu: u32) -> Result<(), IrqError> {
        self.send(its, mem, [opcode::SYNC as u64, 0, (cpu as u64) << 16, 0])
    }
}
