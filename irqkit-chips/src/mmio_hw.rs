//! [`Mmio`] on real hardware: volatile loads and stores inside a mapped register frame
//! (what the bare-metal kernel hands the drivers).

use core::ptr::NonNull;

use crate::mmio::{check_aligned, Mmio, MmioError, Width};

/// A device register frame mapped at a fixed virtual address.
///
/// # Invariants
/// `base..base + len` is mapped, uncached device memory valid for the lifetime of the
/// value, and every access the hardware allows there is side-effect safe for Rust (no
/// Rust object lives in it).
pub struct VolatileMmio {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the frame is device memory, not Rust data; concurrent volatile accesses from
// several CPUs are what the hardware is designed for.
unsafe impl Send for VolatileMmio {}
// SAFETY: as above; `&self` methods only perform single volatile accesses.
unsafe impl Sync for VolatileMmio {}

impl VolatileMmio {
    /// Wraps the frame at `base` of `len` bytes.
    ///
    /// # Safety
    /// The caller guarantees the type's invariants: the range is mapped device memory
    /// for as long as the value lives.
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        VolatileMmio { base, len }
    }

    fn ptr(&self, offset: usize, width: Width) -> Result<*mut u8, MmioError> {
        check_aligned(offset, width)?;
        match offset.checked_add(width.bytes()) {
            Some(end) if end <= self.len => Ok(self.base.as_ptr().wrapping_add(offset)),
            _ => Err(MmioError::OutOfRange { offset }),
        }
    }
}

impl Mmio for VolatileMmio {
    fn read(&self, offset: usize, width: Width) -> Result<u64, MmioError> {
        let p = self.ptr(offset, width)?;
        // SAFETY: `p` is aligned for `width` and inside the mapped frame (checked above,
        // and by the type's invariants).
        Ok(unsafe {
            match width {
                Width::W8 => p.read_volatile() as u64,
                Width::W16 => (p as *mut u16).read_volatile() as u64,
                Width::W32 => (p as *mut u32).read_volatile() as u64,
                Width::W64 => (p as *mut u64).read_volatile(),
            }
        })
    }

    fn write(&self, offset: usize, width: Width, value: u64) -> Result<(), MmioError> {
        let p = self.ptr(offset, width)?;
        // SAFETY: as in `read`; the value is truncated to the access width.
        unsafe {
            match width {
                Width::W8 => p.write_volatile(value as u8),
                Width::W16 => (p as *mut u16).write_volatile(value as u16),
                Width::W32 => (p as *mut u32).write_volatile(value as u32),
                Width::W64 => (p as *mut u64).write_volatile(value),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_mmio_checks_bounds_and_alignment() {
        let mut frame = [0u64; 4];
        let base = NonNull::new(frame.as_mut_ptr() as *mut u8).unwrap();
        // SAFETY: `frame` outlives `m` and is plain memory standing in for registers.
        let m = unsafe { VolatileMmio::new(base, 32) };
        m.write32(4, 0xDEAD_BEEF);
        assert_eq!(m.read32(4), 0xDEAD_BEEF);
        assert_eq!(m.read8(5), 0xBE);
        assert_eq!(m.read(32, Width::W8), Err(MmioError::OutOfRange { offset: 32 }));
        assert_eq!(
            m.read(28, Width::W64),
            Err(MmioError::BadWidth { offset: 28, width: Width::W64 })
        );
        assert_eq!(
            m.read(usize::MAX - 3, Width::W32),
            Err(MmioError::OutOfRange { offset: usize::MAX - 3 })
        );
    }
}
