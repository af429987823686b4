//! Real MMIO behind `irqkit_chips::mmio::Mmio`, so the chips' drivers can drive QEMU's
//! devices; the kernel's own APIC code already goes through it.

use irqkit_chips::mmio::{Mmio, MmioError, Width};

/// A window of device registers at a physical address (identity-mapped, uncached).
pub struct PhysMmio {
    base: usize,
    len: usize,
}

impl PhysMmio {
    /// A window of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be device registers mapped uncached at the same virtual
    /// address, and nothing else may treat that range as memory.
    pub const unsafe fn new(base: usize, len: usize) -> Self {
        PhysMmio { base, len }
    }

    /// The address of a `width`-sized register at `offset`, or the typed error for an
    /// access outside the window or misaligned.
    fn addr(&self, offset: usize, width: Width) -> Result<usize, MmioError> {
        let n = width.bytes();
        if offset.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(MmioError::OutOfRange { offset });
        }
        if !offset.is_multiple_of(n) || n > 4 {
            return Err(MmioError::BadWidth { offset, width });
        }
        Ok(self.base + offset)
    }
}

impl Mmio for PhysMmio {
    fn read(&self, offset: usize, width: Width) -> Result<u64, MmioError> {
        let a = self.addr(offset, width)?;
        // SAFETY: inside the window `new`'s caller vouched for, naturally aligned.
        Ok(unsafe {
            match width {
                Width::W8 => (a as *const u8).read_volatile() as u64,
                Width::W16 => (a as *const u16).read_volatile() as u64,
                _ => (a as *const u32).read_volatile() as u64,
            }
        })
    }

    fn write(&self, offset: usize, width: Width, value: u64) -> Result<(), MmioError> {
        let a = self.addr(offset, width)?;
        // SAFETY: as for `read`.
        unsafe {
            match width {
                Width::W8 => (a as *mut u8).write_volatile(value as u8),
                Width::W16 => (a as *mut u16).write_volatile(value as u16),
                _ => (a as *mut u32).write_volatile(value as u32),
            }
        }
        Ok(())
    }
}
