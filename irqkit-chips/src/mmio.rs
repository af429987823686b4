//! `Mmio`: how a driver reaches controller registers — real MMIO or a model.
//!
//! A driver talks to a [`Mmio`] implementation through sized accesses that return a
//! typed [`MmioError`] for an offset outside the frame or a width the register does not
//! support. The convenience accessors (`read32`, `write32`, ...) turn such errors into the
//! architecture's RAZ/WI behaviour, which is what hardware does for a reserved location.
//!
//! Models implement [`MmioFrame`]: the same accesses plus the number of the CPU doing
//! them (GIC and APIC registers are banked per CPU). [`CpuView`] binds a frame to one CPU
//! and is the [`Mmio`] a driver running on that CPU uses.

use core::fmt;

use irqkit_core::IrqError;

/// The size of one register access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// 8-bit access.
    W8,
    /// 16-bit access.
    W16,
    /// 32-bit access.
    W32,
    /// 64-bit access.
    W64,
}

impl Width {
    /// The access size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Width::W8 => 1,
            Width::W16 => 2,
            Width::W32 => 4,
            Width::W64 => 8,
        }
    }

    /// All bits of an access of this width.
    pub const fn mask(self) -> u64 {
        match self {
            Width::W8 => 0xFF,
            Width::W16 => 0xFFFF,
            Width::W32 => 0xFFFF_FFFF,
            Width::W64 => u64::MAX,
        }
    }
}

/// Why a register access could not be performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MmioError {
    /// The offset lies outside the register frame.
    OutOfRange {
        /// Byte offset of the access.
        offset: usize,
    },
    /// The register exists but not with this width, or the access is misaligned.
    BadWidth {
        /// Byte offset of the access.
        offset: usize,
        /// The width used.
        width: Width,
    },
    /// The offset is inside the frame but names no register (reserved).
    Reserved {
        /// Byte offset of the access.
        offset: usize,
    },
    /// The register is read-only (write) or write-only (read).
    Access {
        /// Byte offset of the access.
        offset: usize,
    },
    /// The CPU number is not one the model implements.
    NoSuchCpu(u32),
}

impl fmt::Display for MmioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmioError::OutOfRange { offset } => write!(f, "offset {offset:#x} out of range"),
            MmioError::BadWidth { offset, width } => {
                write!(f, "offset {offset:#x}: {}-byte access not supported", width.bytes())
            }
            MmioError::Reserved { offset } => write!(f, "offset {offset:#x} is reserved"),
            MmioError::Access { offset } => write!(f, "offset {offset:#x}: wrong direction"),
            MmioError::NoSuchCpu(c) => write!(f, "no CPU {c} on this controller"),
        }
    }
}

impl From<MmioError> for IrqError {
    fn from(e: MmioError) -> Self {
        match e {
            MmioError::NoSuchCpu(c) => IrqError::CpuOffline(c),
            _ => IrqError::InvalidArgument("bad register access"),
        }
    }
}

/// Checks that `offset` is aligned for `width`, as every GIC/APIC register requires.
pub fn check_aligned(offset: usize, width: Width) -> Result<(), MmioError> {
    if !offset.is_multiple_of(width.bytes()) {
        return Err(MmioError::BadWidth { offset, width });
    }
    Ok(())
}

/// Register access for a controller driver. Real hardware implements it with volatile
/// loads and stores; the models implement it (through [`CpuView`]) on their state.
pub trait Mmio {
    /// Reads `width` bytes at byte `offset`.
    fn read(&self, offset: usize, width: Width) -> Result<u64, MmioError>;
    /// Writes the low `width` bytes of `value` at byte `offset`.
    fn write(&self, offset: usize, width: Width, value: u64) -> Result<(), MmioError>;

    /// Reads an 8-bit register; an invalid access reads as zero (RAZ).
    fn read8(&self, offset: usize) -> u8 {
        self.read(offset, Width::W8).unwrap_or(0) as u8
    }
    /// Writes an 8-bit register; an invalid access is ignored (WI).
    fn write8(&self, offset: usize, value: u8) {
        let _ = self.write(offset, Width::W8, value as u64);
    }
    /// Reads a 32-bit register; an invalid access reads as zero (RAZ).
    fn read32(&self, offset: usize) -> u32 {
        self.read(offset, Width::W32).unwrap_or(0) as u32
    }
    /// Writes a 32-bit register; an invalid access is ignored (WI).
    fn write32(&self, offset: usize, value: u32) {
        let _ = self.write(offset, Width::W32, value as u64);
    }
    /// Reads a 64-bit register; an invalid access reads as zero (RAZ).
    fn read64(&self, offset: usize) -> u64 {
        self.read(offset, Width::W64).unwrap_or(0)
    }
    /// Writes a 64-bit register; an invalid access is ignored (WI).
    fn write64(&self, offset: usize, value: u64) {
        let _ = self.write(offset, Width::W64, value);
    }
}

/// A model's register frame: accesses carry the number of the CPU performing them.
pub trait MmioFrame {
    /// Reads `width` bytes at `offset` as seen by `cpu`.
    fn frame_read(&self, cpu: u32, offset: usize, width: Width) -> Result<u64, MmioError>;
    /// Writes `width` bytes at `offset` as `cpu`.
    fn frame_write(
        &self,
        cpu: u32,
        offset: usize,
        width: Width,
        value: u64,
    ) -> Result<(), MmioError>;
}

/// A model frame seen from one CPU: the [`Mmio`] a driver on that CPU uses.
#[derive(Debug, Clone, Copy)]
pub struct CpuView<F> {
    frame: F,
    cpu: u32,
}

impl<F: MmioFrame> CpuView<F> {
    /// Binds `frame` to accesses from `cpu`.
    pub const fn new(frame: F, cpu: u32) -> Self {
        CpuView { frame, cpu }
    }
    /// The CPU this view accesses as.
    pub const fn cpu(&self) -> u32 {
        self.cpu
    }
}

impl<F: MmioFrame> Mmio for CpuView<F> {
    fn read(&self, offset: usize, width: Width) -> Result<u64, MmioError> {
        self.frame.frame_read(self.cpu, offset, width)
    }
    fn write(&self, offset: usize, width: Width, value: u64) -> Result<(), MmioError> {
        self.frame.frame_write(self.cpu, offset, width, value & width.mask())
    }
}
