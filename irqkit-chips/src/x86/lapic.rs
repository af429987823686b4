//! Local APIC state machine of one CPU: IRR/ISR/TMR, TPR/PPR priority classes,
//! acknowledge (INTA), EOI with broadcast for level vectors, spurious vector. All LAPICs
//! of a machine live in a [`super::LapicSet`] so IPIs, IO-APIC and MSI delivery reach any
//! CPU under one lock.
//!
//! # Model
//! A vector is delivered when its priority class (vector >> 4) is above the processor
//! priority class, PPR = max(TPR, highest in-service class) (spec 8.3). Acknowledge
//! moves the highest IRR vector to ISR; with nothing deliverable it returns the spurious
//! vector without touching ISR (so Linux does not EOI it). EOI retires the highest ISR
//! vector and, if its TMR bit is set, tells the registered EOI listeners (IO-APICs).
//! Time never passes by itself: the runtime calls [`LapicSet::advance_time`](super::LapicSet::advance_time).

use super::lapic_timer::Timer;
use crate::signal::CpuLines;

/// LVT mask bit.
pub const LVT_MASKED: u32 = 1 << 16;
/// SVR: APIC software enable.
pub const SVR_APIC_ENABLED: u32 = 1 << 8;
/// SVR: directed EOI (no broadcast to IO-APICs).
pub const SVR_DIRECTED_EOI: u32 = 1 << 12;
/// ESR: received illegal vector.
pub const ESR_RECV_ILLEGAL_VECTOR: u32 = 1 << 6;
/// ESR: send illegal vector.
pub const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;

/// Index of each LVT entry in a [`Lapic`]'s LVT array.
pub mod lvt {
    /// LVT CMCI (0x2F0).
    pub const CMCI: usize = 0;
    /// LVT timer (0x320).
    pub const TIMER: usize = 1;
    /// LVT thermal (0x330).
    pub const THERMAL: usize = 2;
    /// LVT performance counter (0x340).
    pub const PMC: usize = 3;
    /// LVT LINT0 (0x350).
    pub const LINT0: usize = 4;
    /// LVT LINT1 (0x360).
    pub const LINT1: usize = 5;
    /// LVT error (0x370).
    pub const ERROR: usize = 6;
}

/// APIC delivery mode (ICR / RTE / MSI data bits \[10:8\]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeliveryMode {
    /// Fixed.
    Fixed,
    /// Lowest priority.
    LowestPriority,
    /// SMI (accepted and ignored).
    Smi,
    /// NMI.
    Nmi,
    /// INIT (counted).
    Init,
    /// Start-up IPI (counted).
    StartUp,
    /// ExtINT (the 8259 supplies the vector; accepted and ignored here).
    ExtInt,
}

impl DeliveryMode {
    /// Decodes bits \[10:8\]; 3 is reserved.
    pub fn from_bits(b: u32) -> Option<Self> {
        Some(match b & 7 {
            0 => DeliveryMode::Fixed,
            1 => DeliveryMode::LowestPriority,
            2 => DeliveryMode::Smi,
            4 => DeliveryMode::Nmi,
            5 => DeliveryMode::Init,
            6 => DeliveryMode::StartUp,
            7 => DeliveryMode::ExtInt,
            _ => return None,
        })
    }
}

/// Where an interrupt message goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Destination {
    /// Physical APIC ID (0xFF = broadcast).
    Physical(u32),
    /// Flat logical mode: every LAPIC whose LDR\[31:24\] shares a bit.
    Logical(u8),
    /// The sender only (ICR shorthand 1).
    SelfOnly,
    /// Everyone including the sender (shorthand 2).
    AllIncludingSelf,
    /// Everyone but the sender (shorthand 3).
    AllExcludingSelf,
}

/// One CPU's local APIC.
#[derive(Clone)]
pub struct Lapic {
    pub(crate) id: u32,
    pub(crate) svr: u32,
    pub(crate) tpr: u32,
    pub(crate) irr: [u32; 8],
    pub(crate) isr: [u32; 8],
    pub(crate) tmr: [u32; 8],
    pub(crate) esr: u32,
    pub(crate) esr_pending: u32,
    pub(crate) lvt: [u32; 7],
    pub(crate) icr_lo: u32,
    pub(crate) icr_hi: u32,
    pub(crate) ldr: u32,
    pub(crate) dfr: u32,
    pub(crate) timer: Timer,
    pub(crate) nmi_pending: bool,
    pub(crate) init_count: u32,
    /// Current LINT0/LINT1 input levels (bits 0/1).
    pub(crate) lint: u8,
    pub(crate) lines: CpuLines,
}

pub(crate) fn highest(bits: &[u32; 8]) -> Option<u8> {
    (0..8)
        .rev()
        .find(|&w| bits[w] != 0)
        .map(|w| (w * 32 + 31 - bits[w].leading_zeros() as usize) as u8)
}

pub(crate) fn set_bit(bits: &mut [u32; 8], v: u8, on: bool) {
    let (w, m) = (v as usize / 32, 1u32 << (v % 32));
    if on {
        bits[w] |= m;
    } else {
        bits[w] &= !m;
    }
}

pub(crate) fn test_bit(bits: &[u32; 8], v: u8) -> bool {
    bits[v as usize / 32] & (1 << (v % 32)) != 0
}

impl Lapic {
    pub(crate) fn new(id: u32) -> Self {
        Lapic {
            id,
            svr: 0xFF,
            tpr: 0,
            irr: [0; 8],
            isr: [0; 8],
            tmr: [0; 8],
            esr: 0,
            esr_pending: 0,
            lvt: [LVT_MASKED; 7],
            icr_lo: 0,
            icr_hi: 0,
            ldr: 0,
            dfr: 0xFFFF_FFFF,
            timer: Timer::default(),
            nmi_pending: false,
            init_count: 0,
            lint: 0,
            lines: CpuLines::default(),
        }
    }

    /// Whether the APIC is software-enabled (SVR bit 8).
    pub fn enabled(&self) -> bool {
        self.svr & SVR_APIC_ENABLED != 0
    }

    /// Processor priority: max(TPR, highest in-service vector's class).
    pub fn ppr(&self) -> u8 {
        let tpr = (self.tpr & 0xFF) as u8;
        let isrv = highest(&self.isr).unwrap_or(0);
        if tpr >> 4 >= isrv >> 4 {
            tpr
        } else {
            isrv & 0xF0
        }
    }

    /// The vector that would be delivered now.
    pub fn deliverable(&self) -> Option<u8> {
        let v = highest(&self.irr)?;
        (self.enabled() && v >> 4 > self.ppr() >> 4).then_some(v)
    }

    /// Accepts a fixed interrupt into IRR (TMR = `level`).
    pub(crate) fn accept(&mut self, vector: u8, level: bool) {
        if vector < 16 {
            self.signal_error(ESR_RECV_ILLEGAL_VECTOR);
            return;
        }
        if !self.enabled() {
            return; // a software-disabled APIC drops fixed interrupts
        }
        set_bit(&mut self.irr, vector, true);
        set_bit(&mut self.tmr, vector, level);
    }

    /// Records an APIC error and raises the LVT error vector if it is unmasked.
    pub(crate) fn signal_error(&mut self, bit: u32) {
        self.esr_pending |= bit;
        let e = self.lvt[lvt::ERROR];
        if e & LVT_MASKED == 0 && e as u8 >= 16 && self.enabled() {
            set_bit(&mut self.irr, e as u8, true);
            set_bit(&mut self.tmr, e as u8, false);
        }
    }

    /// INTA: the delivered vector (moved IRR → ISR) or the spurious vector.
    pub(crate) fn ack(&mut self) -> u8 {
        match self.deliverable() {
            Some(v) => {
                set_bit(&mut self.irr, v, false);
                set_bit(&mut self.isr, v, true);
                v
            }
            None => (self.svr & 0xFF) as u8,
        }
    }

    /// EOI: retires the highest in-service vector; returns it if IO-APICs must be told.
    pub(crate) fn eoi(&mut self) -> Option<u8> {
        let v = highest(&self.isr)?;
        set_bit(&mut self.isr, v, false);
        (test_bit(&self.tmr, v) && self.svr & SVR_DIRECTED_EOI == 0).then_some(v)
    }

    pub(crate) fn compute_lines(&self) -> CpuLines {
        CpuLines { irq: self.deliverable().is_some(), fiq: self.nmi_pending }
    }
}
