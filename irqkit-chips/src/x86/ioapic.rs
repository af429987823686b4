//! IO-APIC model (spec 8.4): a redirection table of 64-bit entries reached through
//! IOREGSEL/IOWIN, edge and level pins, Remote IRR for level pins, masking, and the
//! version-0x20 EOI register.
//!
//! # Model
//! An edge pin delivers on a rising edge of its (polarity-corrected) input while
//! unmasked; an edge while masked is lost, as on hardware. A level pin delivers when
//! asserted, unmasked and Remote IRR is clear, and sets Remote IRR; the LAPIC's
//! broadcast EOI (or the EOI register) clears it and re-delivers if the line is still
//! asserted. Rewriting an entry as edge clears Remote IRR — the trick Linux uses on
//! IO-APICs older than version 0x20.
//!
//! Lock order: IO-APIC, then LAPIC set. EOI listeners run with no lock held.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::lapic::{DeliveryMode, Destination};
use super::lapic_set::LapicSet;
use crate::mmio::{CpuView, MmioError, MmioFrame, Width};

/// IOREGSEL.
pub const IOAPIC_REGSEL: usize = 0x00;
/// IOWIN.
pub const IOAPIC_WINDOW: usize = 0x10;
/// EOI register (version ≥ 0x20).
pub const IOAPIC_EOI: usize = 0x40;
/// First redirection-table register.
pub const IOAPIC_REDTBL: u32 = 0x10;
/// RTE: delivery status.
pub const RTE_DELIVERY_STATUS: u64 = 1 << 12;
/// RTE: active low.
pub const RTE_ACTIVE_LOW: u64 = 1 << 13;
/// RTE: Remote IRR.
pub const RTE_REMOTE_IRR: u64 = 1 << 14;
/// RTE: level triggered.
pub const RTE_LEVEL: u64 = 1 << 15;
/// RTE: masked.
pub const RTE_MASKED: u64 = 1 << 16;
/// RTE: logical destination mode.
pub const RTE_LOGICAL: u64 = 1 << 11;
/// Version this model reports (has the EOI register).
pub const IOAPIC_VERSION: u32 = 0x20;

struct Inner {
    id: u32,
    regsel: u32,
    rte: Vec<u64>,
    input: Vec<bool>,
    version: u32,
}

/// One IO-APIC wired to a [`LapicSet`].
pub struct IoApic {
    inner: SpinLock<Inner>,
    lapics: Arc<LapicSet>,
}

fn asserted(rte: u64, input: bool) -> bool {
    input != (rte & RTE_ACTIVE_LOW != 0)
}

impl IoApic {
    /// An IO-APIC with `pins` (1–240) entries, all masked, listening to `lapics`' EOIs.
    pub fn new(id: u32, pins: u32, lapics: Arc<LapicSet>) -> Result<Arc<Self>, IrqError> {
        Self::with_version(id, pins, lapics, IOAPIC_VERSION)
    }

    /// As [`IoApic::new`] with an explicit version (< 0x20: no EOI register).
    pub fn with_version(
        id: u32,
        pins: u32,
        lapics: Arc<LapicSet>,
        version: u32,
    ) -> Result<Arc<Self>, IrqError> {
        if pins == 0 || pins > 240 {
            return Err(IrqError::InvalidArgument("IO-APIC pin count"));
        }
        let inner = Inner {
            id,
            regsel: 0,
            rte: alloc::vec![RTE_MASKED; pins as usize],
            input: alloc::vec![false; pins as usize],
            version: version & 0xFF,
        };
        let io = Arc::new(IoApic { inner: SpinLock::new(inner), lapics: lapics.clone() });
        let weak: Weak<IoApic> = Arc::downgrade(&io);
        lapics.add_eoi_listener(Arc::new(move |v| {
            if let Some(io) = weak.upgrade() {
                io.eoi(v);
            }
        }));
        Ok(io)
    }

    /// Number of pins.
    pub fn pins(&self) -> u32 {
        self.inner.lock().rte.len() as u32
    }

    fn deliver(&self, rte: u64) {
        let vector = rte as u8;
        let mode = DeliveryMode::from_bits((rte >> 8) as u32).unwrap_or(DeliveryMode::Fixed);
        let dest_id = (rte >> 56) as u32;
        let dest = if rte & RTE_LOGICAL != 0 {
            Destination::Logical(dest_id as u8)
        } else {
            Destination::Physical(dest_id)
        };
        let _ = self.lapics.deliver(None, dest, mode, vector, rte & RTE_LEVEL != 0);
    }

    /// Delivers `pin` if its state says so; returns the RTE to deliver (lock held).
    fn service(g: &mut Inner, pin: usize) -> Option<u64> {
        let rte = g.rte[pin];
        if rte & RTE_MASKED != 0 || !asserted(rte, g.input[pin]) {
            return None;
        }
        if rte & RTE_LEVEL != 0 {
            if rte & RTE_REMOTE_IRR != 0 {
                return None;
            }
            g.rte[pin] |= RTE_REMOTE_IRR;
        }
        Some(rte)
    }

    /// Drives the electrical input of `pin`.
    pub fn set_line(&self, pin: u32, level: bool) -> Result<(), IrqError> {
        let todo = {
            let mut g = self.inner.lock();
            let p = pin as usize;
            let was = *g.input.get(p).ok_or(IrqError::InvalidArgument("IO-APIC pin"))?;
            g.input[p] = level;
            let rte = g.rte[p];
            let rising = asserted(rte, level) && !asserted(rte, was);
            if rte & RTE_LEVEL != 0 || rising {
                Self::service(&mut g, p)
            } else {
                None
            }
        };
        if let Some(rte) = todo {
            self.deliver(rte);
        }
        Ok(())
    }

    /// EOI for `vector` (broadcast from a LAPIC or the EOI register): clears Remote IRR
    /// of level pins with that vector and re-delivers those still asserted.
    pub fn eoi(&self, vector: u8) {
        let mut again: Vec<u64> = Vec::new();
        {
            let mut g = self.inner.lock();
            for p in 0..g.rte.len() {
                let r = g.rte[p];
                if r as u8 == vector && r & RTE_LEVEL != 0 && r & RTE_REMOTE_IRR != 0 {
                    g.rte[p] &= !RTE_REMOTE_IRR;
                    if let Some(r) = Self::service(&mut g, p) {
                        again.push(r);
                    }
                }
            }
        }
        for r in again {
            self.deliver(r);
        }
    }

    /// The redirection entry of `pin`.
    pub fn rte(&self, pin: u32) -> Option<u64> {
        self.inner.lock().rte.get(pin as usize).copied()
    }

    fn read_reg(g: &Inner, reg: u32) -> u32 {
        match reg {
            0 => g.id << 24,
            1 => g.version | ((g.rte.len() as u32 - 1) << 16),
            2 => g.id << 24,
            r if r >= IOAPIC_REDTBL => {
                let pin = ((r - IOAPIC_REDTBL) / 2) as usize;
                let Some(rte) = g.rte.get(pin) else { return 0 };
                if r % 2 == 0 {
                    *rte as u32
                } else {
                    (*rte >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    /// Writes register `reg` through the window; may deliver (returns the RTE).
    fn write_reg(g: &mut Inner, reg: u32, v: u32) -> Option<u64> {
        match reg {
            0 => g.id = (v >> 24) & 0xF,
            r if r >= IOAPIC_REDTBL => {
                let pin = ((r - IOAPIC_REDTBL) / 2) as usize;
                let old = *g.rte.get(pin)?;
                let ro = RTE_REMOTE_IRR | RTE_DELIVERY_STATUS;
                let mut new = if r % 2 == 0 {
                    (old & !0xFFFF_FFFF) | (v as u64 & !ro & 0xFFFF_FFFF) | (old & ro)
                } else {
                    (old & 0xFFFF_FFFF) | ((v as u64) << 32)
                };
                if new & RTE_LEVEL == 0 {
                    new &= !RTE_REMOTE_IRR;
                }
                g.rte[pin] = new;
                if new & RTE_LEVEL != 0 {
                    return Self::service(g, pin);
                }
            }
            _ => {}
        }
        None
    }

    /// The register frame (IOREGSEL/IOWIN/EOI).
    pub fn mmio_view(&self) -> CpuView<IoApicFrame<'_>> {
        CpuView::new(IoApicFrame(self), 0)
    }
}

/// The IO-APIC MMIO window.
#[derive(Clone, Copy)]
pub struct IoApicFrame<'a>(&'a IoApic);

fn check(off: usize, w: Width) -> Result<(), MmioError> {
    if off >= 0x100 {
        return Err(MmioError::OutOfRange { offset: off });
    }
    if w != Width::W32 || !off.is_multiple_of(16) {
        return Err(MmioError::BadWidth { offset: off, width: w });
    }
    Ok(())
}

impl MmioFrame for IoApicFrame<'_> {
    fn frame_read(&self, _cpu: u32, off: usize, w: Width) -> Result<u64, MmioError> {
        check(off, w)?;
        let g = self.0.inner.lock();
        Ok(match off {
            IOAPIC_REGSEL => g.regsel as u64,
            IOAPIC_WINDOW => IoApic::read_reg(&g, g.regsel) as u64,
            _ => 0,
        })
    }

    fn frame_write(&self, _cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        check(off, w)?;
        let todo = {
            let mut g = self.0.inner.lock();
            match off {
                IOAPIC_REGSEL => {
                    g.regsel = val as u32 & 0xFF;
                    None
                }
                IOAPIC_WINDOW => {
                    let r = g.regsel;
                    IoApic::write_reg(&mut g, r, val as u32)
                }
                IOAPIC_EOI if g.version >= 0x20 => {
                    drop(g);
                    self.0.eoi(val as u8);
                    None
                }
                _ => None,
            }
        };
        if let Some(r) = todo {
            self.0.deliver(r);
        }
        Ok(())
    }
}
