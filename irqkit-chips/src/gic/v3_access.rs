//! How the GICv3 driver reaches what is not MMIO: the calling CPU's ICC_* system
//! registers ([`IccSysRegs`]) and the memory LPI tables and the ITS queue live in
//! ([`DmaMemory`]), with their implementations on the models.

use super::memory::ModelMemory;
use super::v3::GicV3;
use super::v3_cpuif::IccReg;

/// Access to the calling CPU's ICC_* system registers (MRS/MSR on hardware).
pub trait IccSysRegs {
    /// MRS.
    fn icc_read(&self, reg: IccReg) -> u64;
    /// MSR.
    fn icc_write(&self, reg: IccReg, value: u64);
}

/// Memory the driver places LPI tables and the ITS queue in (physical addresses).
pub trait DmaMemory {
    /// Writes `data` at physical address `pa`.
    fn dma_write(&self, pa: u64, data: &[u8]);
    /// Reads into `buf` from physical address `pa`.
    fn dma_read(&self, pa: u64, buf: &mut [u8]);
}

impl DmaMemory for ModelMemory {
    fn dma_write(&self, pa: u64, data: &[u8]) {
        self.write(pa, data)
    }
    fn dma_read(&self, pa: u64, buf: &mut [u8]) {
        self.read(pa, buf)
    }
}

/// One CPU's system registers on a [`GicV3`] model.
#[derive(Clone, Copy)]
pub struct ModelSysRegs<'a> {
    /// The model.
    pub gic: &'a GicV3,
    /// The CPU executing the MRS/MSR.
    pub cpu: u32,
}

impl IccSysRegs for ModelSysRegs<'_> {
    fn icc_read(&self, reg: IccReg) -> u64 {
        self.gic.sysreg_read(self.cpu, reg).unwrap_or(0)
    }
    fn icc_write(&self, reg: IccReg, value: u64) {
        let _ = self.gic.sysreg_write(self.cpu, reg, value);
    }
}
