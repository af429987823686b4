//! Local APIC and IO-APIC drivers over [`Mmio`]: Linux's setup_local_APIC essentials
//! (SVR, TPR = 0x10, LVT error), the LAPIC timer, IPIs through the ICR, EOI, and the
//! IO-APIC chip callbacks including `ioapic_ack_level` (spec 8.3, 8.4).

use irqkit_core::IrqError;

use super::ioapic::*;
use super::lapic::{LVT_MASKED, SVR_APIC_ENABLED};
use super::lapic_regs::*;
use super::lapic_timer::mode;
use super::vector::{ERROR_APIC_VECTOR, FIRST_EXTERNAL_VECTOR, SPURIOUS_APIC_VECTOR};
use crate::mmio::Mmio;
use crate::trigger::{poll_until, Trigger};

/// Where an IPI goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IpiDest {
    /// One CPU by physical APIC ID.
    Apic(u32),
    /// The sender.
    SelfOnly,
    /// Everyone including the sender.
    All,
    /// Everyone but the sender.
    AllButSelf,
}

/// Local APIC driver (stateless: every CPU uses it on its own LAPIC).
pub struct LapicDriver;

impl LapicDriver {
    /// The chip column of the vector domain ("APIC").
    pub const CHIP_NAME: &'static str = "APIC";

    /// setup_local_APIC: TPR 0x10, enable with spurious vector 0xFF, LINTs masked,
    /// error LVT on 0xFE, ESR cleared.
    pub fn setup(apic: &impl Mmio) {
        apic.write32(APIC_TASKPRI, 0x10);
        apic.write32(APIC_SPIV, SVR_APIC_ENABLED | SPURIOUS_APIC_VECTOR as u32);
        apic.write32(APIC_LVT0, LVT_MASKED);
        apic.write32(APIC_LVT1, LVT_MASKED);
        apic.write32(APIC_LVTERR, ERROR_APIC_VECTOR as u32);
        apic.write32(APIC_ESR, 0);
        apic.write32(APIC_ESR, 0);
    }

    /// Programs the timer: `Some(count)` periodic or one-shot with that initial count
    /// (divide by 16 as Linux does), or TSC-deadline mode when `count` is `None`.
    pub fn setup_timer(
        apic: &impl Mmio,
        vector: u8,
        periodic: bool,
        count: Option<u32>,
    ) -> Result<(), IrqError> {
        if vector < FIRST_EXTERNAL_VECTOR {
            return Err(IrqError::InvalidArgument("timer vector"));
        }
        let m = match (count, periodic) {
            (None, _) => mode::TSC_DEADLINE,
            (Some(_), true) => mode::PERIODIC,
            (Some(_), false) => mode::ONESHOT,
        };
        apic.write32(APIC_TDCR, 0x3); // divide by 16
        apic.write32(APIC_LVTT, m | vector as u32);
        if let Some(c) = count {
            apic.write32(APIC_TMICT, c);
        }
        Ok(())
    }

    /// ack_APIC_irq: EOI register write.
    pub fn eoi(apic: &impl Mmio) {
        apic.write32(APIC_EOI, 0);
    }

    /// Whether `vector` is set in the ISR / TMR bank at `base`.
    pub fn test_vector(apic: &impl Mmio, base: usize, vector: u8) -> bool {
        apic.read32(base + (vector as usize / 32) * 16) & (1 << (vector % 32)) != 0
    }

    /// Sends `vector` (fixed) or an NMI to `dest` through the ICR.
    pub fn send_ipi(
        apic: &impl Mmio,
        dest: IpiDest,
        vector: u8,
        nmi: bool,
    ) -> Result<(), IrqError> {
        if !nmi && vector < FIRST_EXTERNAL_VECTOR {
            return Err(IrqError::InvalidArgument("IPI vector"));
        }
        poll_until("ICR busy", || apic.read32(APIC_ICR) & APIC_ICR_BUSY == 0)?;
        let dm = if nmi { APIC_DM_NMI } else { 0 };
        let lo = match dest {
            IpiDest::Apic(id) => {
                if id > 0xFF {
                    return Err(IrqError::InvalidArgument("xAPIC destination"));
                }
                apic.write32(APIC_ICR2, id << 24);
                0
            }
            IpiDest::SelfOnly => APIC_DEST_SELF,
            IpiDest::All => APIC_DEST_ALLINC,
            IpiDest::AllButSelf => APIC_DEST_ALLBUT,
        };
        apic.write32(APIC_ICR, lo | dm | vector as u32);
        Ok(())
    }
}

/// IO-APIC driver for one IO-APIC.
pub struct IoApicDriver {
    pins: u32,
    version: u32,
}

impl IoApicDriver {
    /// Reads the version register; masks every pin (Linux's clear_IO_APIC).
    pub fn probe(io: &impl Mmio) -> Self {
        let ver = Self::read(io, 1);
        let d = IoApicDriver { pins: ((ver >> 16) & 0xFF) + 1, version: ver & 0xFF };
        for pin in 0..d.pins {
            let _ = d.mask(io, pin);
        }
        d
    }

    /// The chip column `/proc/interrupts` shows ("IO-APIC   4-edge  ttyS0").
    pub const CHIP_NAME: &'static str = "IO-APIC";

    /// Number of redirection entries.
    pub fn pins(&self) -> u32 {
        self.pins
    }

    fn read(io: &impl Mmio, reg: u32) -> u32 {
        io.write32(IOAPIC_REGSEL, reg);
        io.read32(IOAPIC_WINDOW)
    }

    fn write(io: &impl Mmio, reg: u32, v: u32) {
        io.write32(IOAPIC_REGSEL, reg);
        io.write32(IOAPIC_WINDOW, v);
    }

    fn check(&self, pin: u32) -> Result<u32, IrqError> {
        if pin >= self.pins {
            return Err(IrqError::InvalidArgument("IO-APIC pin"));
        }
        Ok(IOAPIC_REDTBL + 2 * pin)
    }

    /// Reads the full RTE of `pin`.
    pub fn read_rte(&self, io: &impl Mmio, pin: u32) -> Result<u64, IrqError> {
        let r = self.check(pin)?;
        Ok(Self::read(io, r) as u64 | (Self::read(io, r + 1) as u64) << 32)
    }

    /// Writes the full RTE of `pin` (high word first so the entry is never half-set).
    pub fn write_rte(&self, io: &impl Mmio, pin: u32, rte: u64) -> Result<(), IrqError> {
        let r = self.check(pin)?;
        Self::write(io, r + 1, (rte >> 32) as u32);
        Self::write(io, r, rte as u32);
        Ok(())
    }

    /// Programs `pin` → `vector` on APIC `dest`, masked, with the given trigger.
    pub fn setup_pin(
        &self,
        io: &impl Mmio,
        pin: u32,
        vector: u8,
        dest: u8,
        t: Trigger,
    ) -> Result<(), IrqError> {
        if vector < FIRST_EXTERNAL_VECTOR {
            return Err(IrqError::InvalidArgument("IO-APIC vector"));
        }
        let mut rte = vector as u64 | (dest as u64) << 56 | RTE_MASKED;
        match t {
            Trigger::LevelHigh => rte |= RTE_LEVEL,
            Trigger::LevelLow => rte |= RTE_LEVEL | RTE_ACTIVE_LOW,
            Trigger::EdgeRising => {}
            Trigger::EdgeFalling => rte |= RTE_ACTIVE_LOW,
            Trigger::EdgeBoth => return Err(IrqError::InvalidArgument("IO-APIC: no both-edge")),
        }
        self.write_rte(io, pin, rte)
    }

    /// irq_mask: set the mask bit and read it back.
    pub fn mask(&self, io: &impl Mmio, pin: u32) -> Result<(), IrqError> {
        let r = self.check(pin)?;
        let lo = Self::read(io, r);
        Self::write(io, r, lo | RTE_MASKED as u32);
        let _ = Self::read(io, r);
        Ok(())
    }

    /// irq_unmask: clear the mask bit.
    pub fn unmask(&self, io: &impl Mmio, pin: u32) -> Result<(), IrqError> {
        let r = self.check(pin)?;
        let lo = Self::read(io, r);
        Self::write(io, r, lo & !(RTE_MASKED as u32));
        Ok(())
    }

    /// irq_set_affinity: new destination APIC ID in the high word.
    pub fn set_affinity(&self, io: &impl Mmio, pin: u32, dest: u8) -> Result<(), IrqError> {
        let r = self.check(pin)?;
        Self::write(io, r + 1, (dest as u32) << 24);
        Ok(())
    }

    /// ioapic_ack_level for `pin` with `vector`: LAPIC EOI, and if the LAPIC's TMR bit
    /// was clear (the level interrupt arrived as edge) EOI the IO-APIC explicitly.
    /// Returns whether the explicit EOI was needed (Linux counts it in irq_mis_count).
    pub fn ack_level(
        &self,
        io: &impl Mmio,
        apic: &impl Mmio,
        pin: u32,
        vector: u8,
    ) -> Result<bool, IrqError> {
        self.check(pin)?;
        let tmr = LapicDriver::test_vector(apic, APIC_TMR, vector);
        LapicDriver::eoi(apic);
        if tmr {
            return Ok(false);
        }
        if self.version >= 0x20 {
            io.write32(IOAPIC_EOI, vector as u32);
        } else {
            let rte = self.read_rte(io, pin)?;
            self.write_rte(io, pin, (rte | RTE_MASKED) & !RTE_LEVEL)?;
            self.write_rte(io, pin, rte)?;
        }
        Ok(true)
    }
}
