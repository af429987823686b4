//! x86 MSI / MSI-X message format (spec 8.5, arch/x86/include/asm/msi.h): compose a
//! message for (APIC ID, vector) and decode one back into a LAPIC delivery.

use irqkit_core::IrqError;

use super::lapic::{DeliveryMode, Destination};
use super::lapic_set::LapicSet;

/// Fixed upper bits of every MSI address (0xFEE in bits 31..20).
pub const MSI_ADDR_BASE: u32 = 0xFEE0_0000;
/// Address: destination mode logical.
pub const MSI_ADDR_DEST_LOGICAL: u32 = 1 << 2;
/// Address: redirection hint.
pub const MSI_ADDR_REDIRECTION_HINT: u32 = 1 << 3;
/// Data: logical (legacy bit 11).
pub const MSI_DATA_LOGICAL: u32 = 1 << 11;
/// Data: level assert.
pub const MSI_DATA_LEVEL_ASSERT: u32 = 1 << 14;
/// Data: level trigger.
pub const MSI_DATA_TRIGGER_LEVEL: u32 = 1 << 15;
/// Size of one MSI-X table entry.
pub const MSIX_ENTRY_SIZE: usize = 16;
/// MSI-X vector control: masked.
pub const MSIX_ENTRY_CTRL_MASKBIT: u32 = 1;

/// An MSI message as a device stores it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MsiMessage {
    /// Address low word.
    pub address_lo: u32,
    /// Address high word (0 unless an IOMMU is in use).
    pub address_hi: u32,
    /// Data.
    pub data: u32,
}

/// What an MSI message asks the LAPICs to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MsiTarget {
    /// Destination APIC ID (physical) or logical mask.
    pub dest: u32,
    /// Logical destination mode.
    pub logical: bool,
    /// Vector.
    pub vector: u8,
    /// Delivery mode.
    pub mode: DeliveryMode,
    /// Level-triggered.
    pub level: bool,
}

impl MsiMessage {
    /// Linux's compose: physical destination `apic_id`, fixed delivery, edge. With
    /// `ext_dest` the virt extended-destination bits carry APIC ID bits 8–14.
    pub fn compose(apic_id: u32, vector: u8, ext_dest: bool) -> Result<Self, IrqError> {
        if apic_id >= 0x8000 || (apic_id > 0xFF && !ext_dest) {
            return Err(IrqError::InvalidArgument("APIC ID does not fit an MSI address"));
        }
        if vector < 0x10 {
            return Err(IrqError::InvalidArgument("illegal MSI vector"));
        }
        let lo = MSI_ADDR_BASE | (apic_id & 0xFF) << 12 | ((apic_id >> 8) & 0x7F) << 5;
        Ok(MsiMessage { address_lo: lo, address_hi: 0, data: vector as u32 })
    }

    /// Decodes the message; a non-0xFEE address or reserved delivery mode is an error.
    pub fn decode(&self, ext_dest: bool) -> Result<MsiTarget, IrqError> {
        if self.address_lo & 0xFFF0_0000 != MSI_ADDR_BASE || self.address_hi != 0 {
            return Err(IrqError::InvalidArgument("not an x86 MSI address"));
        }
        let mut dest = (self.address_lo >> 12) & 0xFF;
        if ext_dest {
            dest |= ((self.address_lo >> 5) & 0x7F) << 8;
        }
        let mode = DeliveryMode::from_bits(self.data >> 8)
            .ok_or(IrqError::InvalidArgument("reserved MSI delivery mode"))?;
        Ok(MsiTarget {
            dest,
            logical: self.address_lo & MSI_ADDR_DEST_LOGICAL != 0,
            vector: self.data as u8,
            mode,
            level: self.data & MSI_DATA_TRIGGER_LEVEL != 0,
        })
    }

    /// An MSI-X table entry (address lo, hi, data, vector control).
    pub fn to_msix_entry(&self, masked: bool) -> [u32; 4] {
        [self.address_lo, self.address_hi, self.data, masked as u32]
    }

    /// Reads an MSI-X table entry back: the message and whether it is masked.
    pub fn from_msix_entry(e: [u32; 4]) -> (Self, bool) {
        let m = MsiMessage { address_lo: e[0], address_hi: e[1], data: e[2] };
        (m, e[3] & MSIX_ENTRY_CTRL_MASKBIT != 0)
    }
}

impl LapicSet {
    /// A device's MSI write: decode and deliver. Returns the number of LAPICs reached.
    pub fn deliver_msi(&self, msg: &MsiMessage) -> Result<u32, IrqError> {
        let t = msg.decode(false)?;
        let dest = if t.logical {
            Destination::Logical(t.dest as u8)
        } else {
            Destination::Physical(t.dest)
        };
        self.deliver(None, dest, t.mode, t.vector, t.level)
    }
}
