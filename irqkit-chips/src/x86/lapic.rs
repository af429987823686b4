//! Local APIC model: one LAPIC per CPU in a [`LapicSet`] (so IPIs, IO-APIC and MSI
//! delivery reach any CPU under one lock): IRR/ISR/TMR, TPR/PPR priority classes,
//! acknowledge (INTA), EOI with broadcast to IO-APICs for level vectors, spurious vector.
//!
//! # Model
//! A vector is delivered when its priority class (vector >> 4) is above the processor
//! priority class, PPR = max(TPR, highest in-service class) (spec 8.3). Acknowledge
//! moves the highest IRR vector to ISR; with nothing deliverable it returns the spurious
//! vector without touching ISR (so Linux does not EOI it). EOI retires the highest ISR
//! vector and, if its TMR bit is set, tells the registered EOI listeners (IO-APICs).
//! Time never passes by itself: the runtime calls [`LapicSet::advance_time`].

use alloc::sync::Arc;
use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::lapic_timer::Timer;
use crate::signal::{notify, Changed, CpuLines, LineNotifier};

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

/// Index of each LVT entry in [`Lapic::lvt`].
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

/// APIC delivery mode (ICR / RTE / MSI data bits [10:8]).
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
    /// Decodes bits [10:8]; 3 is reserved.
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
    /// Flat logical mode: every LAPIC whose LDR[31:24] shares a bit.
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
    pub(crate) lines: CpuLines,
}

pub(crate) fn highest(bits: &[u32; 8]) -> Option<u8> {
    (0..8)
        .rev()
        .find(|&w| bits[w] != 0)
        .map(|w| (w * 32 + 31 - bits[w].leading_zeros() as usize) as u8)
}

fn set_bit(bits: &mut [u32; 8], v: u8, on: bool) {
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
    fn new(id: u32) -> Self {
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
            self.esr_pending |= ESR_RECV_ILLEGAL_VECTOR;
            return;
        }
        if !self.enabled() {
            return; // a software-disabled APIC drops fixed interrupts
        }
        set_bit(&mut self.irr, vector, true);
        set_bit(&mut self.tmr, vector, level);
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

    fn compute_lines(&self) -> CpuLines {
        CpuLines { irq: self.deliverable().is_some(), fiq: self.nmi_pending }
    }
}

/// Listener told of a broadcast EOI of a level-triggered vector.
pub type EoiListener = Arc<dyn Fn(u8) + Send + Sync>;

pub(crate) struct LapicInner {
    pub cpus: Vec<Lapic>,
    pub notifier: Option<LineNotifier>,
}

/// The local APICs of all CPUs of a machine (APIC ID = CPU number).
pub struct LapicSet {
    pub(crate) inner: SpinLock<LapicInner>,
    eoi_listeners: SpinLock<Vec<EoiListener>>,
}

impl LapicSet {
    /// `num_cpus` (1–255) local APICs, software-disabled, as after reset.
    pub fn new(num_cpus: u32) -> Result<Self, IrqError> {
        if num_cpus == 0 || num_cpus > 255 {
            return Err(IrqError::InvalidArgument("LAPIC count"));
        }
        let cpus = (0..num_cpus).map(Lapic::new).collect();
        Ok(LapicSet {
            inner: SpinLock::new(LapicInner { cpus, notifier: None }),
            eoi_listeners: SpinLock::new(Vec::new()),
        })
    }

    /// Registers the notifier told about IRQ/NMI line changes.
    pub fn set_notifier(&self, n: LineNotifier) {
        self.inner.lock().notifier = Some(n);
    }

    /// Registers a listener for broadcast EOIs (an IO-APIC).
    pub fn add_eoi_listener(&self, l: EoiListener) {
        self.eoi_listeners.lock().push(l);
    }

    /// Runs `f`, recomputes lines, notifies after unlocking and forwards a broadcast EOI.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut LapicInner) -> R) -> R {
        self.with_eoi(|i| (f(i), None))
    }

    pub(crate) fn with_eoi<R>(&self, f: impl FnOnce(&mut LapicInner) -> (R, Option<u8>)) -> R {
        let (r, eoi, changed, n) = {
            let mut g = self.inner.lock();
            let (r, eoi) = f(&mut g);
            let mut changed = Changed::default();
            for (cpu, l) in g.cpus.iter_mut().enumerate() {
                let new = l.compute_lines();
                if new != l.lines {
                    l.lines = new;
                    changed.add(cpu as u32);
                }
            }
            let n = if changed.0 != 0 { g.notifier.clone() } else { None };
            (r, eoi, changed, n)
        };
        notify(n.as_ref(), changed, |c| self.cpu_lines(c));
        if let Some(v) = eoi {
            let ls: Vec<EoiListener> = self.eoi_listeners.lock().clone();
            for l in ls {
                l(v);
            }
        }
        r
    }

    /// Number of LAPICs.
    pub fn num_cpus(&self) -> u32 {
        self.inner.lock().cpus.len() as u32
    }

    /// The IRQ (and NMI, as `fiq`) lines towards `cpu`.
    pub fn cpu_lines(&self, cpu: u32) -> CpuLines {
        self.inner.lock().cpus.get(cpu as usize).map(|l| l.lines).unwrap_or_default()
    }

    /// Whether `cpu` has a deliverable vector.
    pub fn irq_asserted(&self, cpu: u32) -> bool {
        self.cpu_lines(cpu).irq
    }

    /// INTA on `cpu`: the vector to dispatch (the spurious vector if none).
    pub fn acknowledge(&self, cpu: u32) -> Result<u8, IrqError> {
        self.with(|i| i.cpus.get_mut(cpu as usize).map(Lapic::ack).ok_or(IrqError::CpuOffline(cpu)))
    }

    /// EOI register write on `cpu`.
    pub fn eoi(&self, cpu: u32) -> Result<(), IrqError> {
        self.with_eoi(|i| match i.cpus.get_mut(cpu as usize) {
            Some(l) => (Ok(()), l.eoi()),
            None => (Err(IrqError::CpuOffline(cpu)), None),
        })
    }

    /// Takes `cpu`'s pending NMI (the runtime's NMI entry calls this).
    pub fn take_nmi(&self, cpu: u32) -> bool {
        self.with(|i| {
            i.cpus.get_mut(cpu as usize).is_some_and(|l| core::mem::take(&mut l.nmi_pending))
        })
    }

    /// A copy of `cpu`'s LAPIC state (for inspection).
    pub fn snapshot(&self, cpu: u32) -> Option<Lapic> {
        self.inner.lock().cpus.get(cpu as usize).cloned()
    }

    /// Whether `vector` is set in `cpu`'s IRR / ISR / TMR.
    pub fn vector_state(&self, cpu: u32, vector: u8) -> Option<(bool, bool, bool)> {
        let g = self.inner.lock();
        let l = g.cpus.get(cpu as usize)?;
        Some((test_bit(&l.irr, vector), test_bit(&l.isr, vector), test_bit(&l.tmr, vector)))
    }

    /// Delivers an interrupt message from `src` (an IPI sender; `None` for IO-APIC/MSI).
    pub fn deliver(
        &self,
        src: Option<u32>,
        dest: Destination,
        mode: DeliveryMode,
        vector: u8,
        level: bool,
    ) -> Result<u32, IrqError> {
        self.with(|i| deliver_locked(i, src, dest, mode, vector, level))
    }
}

/// CPU set a destination names (bit n = APIC ID n; IDs ≥ 64 are not addressable here).
fn targets(i: &LapicInner, src: Option<u32>, dest: Destination) -> u64 {
    let all = i.cpus.iter().fold(0u64, |m, l| if l.id < 64 { m | 1 << l.id } else { m });
    let me = src.map_or(0, |s| 1u64 << (s & 63));
    match dest {
        Destination::Physical(0xFF) | Destination::AllIncludingSelf => all,
        Destination::Physical(id) if id < 64 => all & (1 << id),
        Destination::Physical(_) => 0,
        Destination::Logical(m) => i.cpus.iter().fold(0, |acc, l| {
            if (l.ldr >> 24) as u8 & m != 0 && l.id < 64 {
                acc | 1 << l.id
            } else {
                acc
            }
        }),
        Destination::SelfOnly => me,
        Destination::AllExcludingSelf => all & !me,
    }
}

/// Delivery under the lock; returns how many LAPICs accepted it.
pub(crate) fn deliver_locked(
    i: &mut LapicInner,
    src: Option<u32>,
    dest: Destination,
    mode: DeliveryMode,
    vector: u8,
    level: bool,
) -> Result<u32, IrqError> {
    let mut t = targets(i, src, dest);
    if mode == DeliveryMode::LowestPriority && t != 0 {
        let best = (0..64)
            .filter(|c| t & (1 << c) != 0)
            .min_by_key(|&c| i.cpus[c as usize].ppr())
            .unwrap_or(0);
        t = 1 << best;
    }
    let mut n = 0;
    for c in 0..i.cpus.len().min(64) {
        if t & (1 << c) == 0 {
            continue;
        }
        let l = &mut i.cpus[c];
        match mode {
            DeliveryMode::Fixed | DeliveryMode::LowestPriority => l.accept(vector, level),
            DeliveryMode::Nmi => l.nmi_pending = true,
            DeliveryMode::Init | DeliveryMode::StartUp => l.init_count += 1,
            DeliveryMode::Smi | DeliveryMode::ExtInt => {}
        }
        n += 1;
    }
    if n == 0 {
        return Err(IrqError::NotFound("no LAPIC matches the destination"));
    }
    Ok(n)
}
