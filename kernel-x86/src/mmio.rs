//! Real MMIO behind `irqkit_chips::mmio::Mmio`, so the chips' drivers can drive QEMU's
//! devices; the kernel's own APIC code already goes through it.

use irqkit_chips::mmio::Mmio;

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

    fn addr(&self, offset: usize) -> usize {
        // An out-of-window or misaligned offset is a driver bug: stop rather than
        // touch a neighbouring device.
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "MMIO offset {offset:#x} outside window"
        );
        self.base + offset
    }
}

impl Mmio for PhysMmio {
    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: in the window `new`'s caller vouched for, 4-byte aligned.
        unsafe { (self.addr(offset) as *const u32).read_volatile() }
    }

    fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { (self.addr(offset) as *mut u32).write_volatile(value) }
    }
}
