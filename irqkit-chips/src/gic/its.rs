//! GICv3 ITS model: device, collection and interrupt-translation tables turning
//! (DeviceID, EventID) into an LPI on a target redistributor, and the register frame
//! (CTLR, TYPER, CBASER, CWRITER, CREADR, BASERn, TRANSLATER).
//!
//! # Model
//! The tables live in the model in an implementation-defined format (as a GIC with
//! on-chip caches would hold them): BASERn registers are accepted but the entries are
//! not written to memory. Translation is two indexed loads — the device table and the
//! device's ITT are dense vectors — so it costs less than one hash lookup. ITTs grow
//! on MAPTI/MAPI up to the size MAPD declared, so a hostile command stream cannot make
//! the model allocate more than it maps.
//!
//! The command queue is read from [`ModelMemory`](super::memory::ModelMemory); commands run synchronously when
//! CWRITER is written (or the ITS is enabled), so SYNC is a no-op, as in QEMU. A
//! command with bad parameters is skipped and its architectural error code recorded
//! ([`GicV3::its_last_error`]); a queue that cannot be read stalls (CREADR.Stalled).
//!
//! TRANSLATER writes through [`GicV3::its_view`] take the view's accessor number as the
//! requester (DeviceID), which is what the bus supplies on hardware.

use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::v3::GicV3;
use crate::mmio::CpuView;

/// GITS_CTLR.
pub const GITS_CTLR: usize = 0x0000;
/// GITS_IIDR.
pub const GITS_IIDR: usize = 0x0004;
/// GITS_TYPER.
pub const GITS_TYPER: usize = 0x0008;
/// GITS_CBASER.
pub const GITS_CBASER: usize = 0x0080;
/// GITS_CWRITER.
pub const GITS_CWRITER: usize = 0x0088;
/// GITS_CREADR.
pub const GITS_CREADR: usize = 0x0090;
/// GITS_BASER`<n>`.
pub const GITS_BASER: usize = 0x0100;
/// GITS_TRANSLATER (second 64 KiB frame).
pub const GITS_TRANSLATER: usize = 0x10040;
/// GITS_CTLR.Enabled.
pub const GITS_CTLR_ENABLED: u32 = 1 << 0;
/// GITS_CTLR.Quiescent.
pub const GITS_CTLR_QUIESCENT: u32 = 1 << 31;
/// GITS_CBASER.Valid.
pub const GITS_CBASER_VALID: u64 = 1 << 63;
/// GITS_CREADR.Stalled.
pub const GITS_CREADR_STALLED: u64 = 1 << 0;
/// Number of collections the ITS holds.
pub const ITS_COLLECTIONS: u32 = 256;
/// Bytes per ITT entry reported in GITS_TYPER (Linux sizes ITTs with it).
pub const ITS_ITT_ENTRY_SIZE: u32 = 8;

/// One interrupt translation entry: `lpi == 0` means unmapped.
#[derive(Clone, Copy, Default)]
pub(crate) struct Ite {
    pub lpi: u32,
    pub icid: u16,
}

/// A mapped device: its ITT size and entries.
pub(crate) struct ItsDevice {
    /// Number of EventID bits (MAPD size + 1).
    pub event_bits: u8,
    pub ites: Vec<Ite>,
}

/// ITS state.
pub(crate) struct ItsState {
    pub enabled: bool,
    pub cbaser: u64,
    pub cwriter: u64,
    pub creadr: u64,
    pub baser: [u64; 8],
    pub dev_bits: u8,
    pub id_bits: u8,
    pub num_cpus: u32,
    pub devices: Vec<Option<ItsDevice>>,
    /// Collection → target redistributor (processor number).
    pub collections: Vec<Option<u32>>,
    pub last_error: Option<u32>,
    pub errors: u64,
}

/// The ITS of a [`GicV3`].
pub struct Its {
    pub(crate) st: SpinLock<ItsState>,
}

impl ItsState {
    /// (DeviceID, EventID) → (LPI, target CPU), or the reason it does not translate.
    #[inline]
    pub fn translate(&self, dev: u32, event: u32) -> Result<(u32, u32), ItsFault> {
        let d = self.devices.get(dev as usize).and_then(Option::as_ref);
        let d = d.ok_or(ItsFault::UnmappedDevice)?;
        let ite = d.ites.get(event as usize).filter(|i| i.lpi != 0);
        let ite = ite.ok_or(ItsFault::UnmappedInterrupt)?;
        let cpu = self.collections.get(ite.icid as usize).copied().flatten();
        let cpu = cpu.ok_or(ItsFault::UnmappedCollection)?;
        Ok((ite.lpi, cpu))
    }
}

/// Why a (DeviceID, EventID) pair does not translate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ItsFault {
    /// No valid device-table entry.
    UnmappedDevice,
    /// No valid ITT entry for the EventID.
    UnmappedInterrupt,
    /// The ITT entry's collection is not mapped.
    UnmappedCollection,
    /// The ITS is disabled.
    Disabled,
}

impl From<ItsFault> for IrqError {
    fn from(f: ItsFault) -> Self {
        match f {
            ItsFault::Disabled => IrqError::Unsupported("ITS disabled"),
            _ => IrqError::NotFound("ITS translation"),
        }
    }
}

impl Its {
    pub(crate) fn new(dev_bits: u8, id_bits: u8, num_cpus: u32) -> Self {
        Its {
            st: SpinLock::new(ItsState {
                enabled: false,
                cbaser: 0,
                cwriter: 0,
                creadr: 0,
                baser: [0; 8],
                dev_bits,
                id_bits,
                num_cpus,
                devices: Vec::new(),
                collections: alloc::vec![None; ITS_COLLECTIONS as usize],
                last_error: None,
                errors: 0,
            }),
        }
    }
}

/// The ITS register frames (control + translation), bound to a requester by
/// [`CpuView`].
#[derive(Clone, Copy)]
pub struct ItsFrame<'a>(pub(crate) &'a GicV3);

impl GicV3 {
    fn its(&self) -> Result<&Its, IrqError> {
        self.its.as_ref().ok_or(IrqError::Unsupported("no ITS"))
    }

    /// Translates (DeviceID, EventID) to (LPI INTID, target CPU) without side effects.
    #[inline]
    pub fn its_translate(&self, device: u32, event: u32) -> Result<(u32, u32), ItsFault> {
        let its = self.its.as_ref().ok_or(ItsFault::Disabled)?;
        its.st.lock().translate(device, event)
    }

    /// A device's MSI write of `event` to GITS_TRANSLATER: sets the LPI pending.
    pub fn its_msi(&self, device: u32, event: u32) -> Result<(), IrqError> {
        let its = self.its()?;
        let st = its.st.lock();
        if !st.enabled {
            return Err(ItsFault::Disabled.into());
        }
        let (lpi, cpu) = st.translate(device, event)?;
        self.with(|i| super::v3_redist::set_lpi_pending(i, cpu, lpi, true));
        Ok(())
    }

    /// The architectural error code of the last rejected command, and the count.
    pub fn its_last_error(&self) -> Option<(u32, u64)> {
        let st = self.its.as_ref()?.st.lock();
        st.last_error.map(|e| (e, st.errors))
    }

    /// The ITS frames; the view's accessor number is the requester's DeviceID.
    pub fn its_view(&self, requester: u32) -> CpuView<ItsFrame<'_>> {
        CpuView::new(ItsFrame(self), requester)
    }
}
