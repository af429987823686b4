//! The local APICs of a machine ([`LapicSet`]): one lock over all of them, line
//! notification, broadcast-EOI listeners (IO-APICs) and message delivery by physical,
//! logical or shorthand destination, fixed / lowest-priority / NMI / INIT.

use alloc::sync::Arc;
use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::lapic::{test_bit, DeliveryMode, Destination, Lapic};
use crate::signal::{notify, Changed, CpuLines, LineNotifier};

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
            // Called under the listener lock (no allocation on the EOI path). Lock order:
            // listeners → IO-APIC → LAPIC set; the LAPIC lock is already dropped here.
            for l in self.eoi_listeners.lock().iter() {
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

    /// Drives `cpu`'s LINT0 (`pin` 0) or LINT1 (`pin` 1) input: on a rising edge (or
    /// while high for a level LVT) an unmasked entry delivers its vector (fixed) or an
    /// NMI. ExtINT entries are left to the runtime, which acknowledges the 8259.
    pub fn set_lint(&self, cpu: u32, pin: u32, level: bool) -> Result<(), IrqError> {
        if pin > 1 {
            return Err(IrqError::InvalidArgument("LINT pin"));
        }
        self.with(|i| {
            let l = i.cpus.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
            let e = l.lvt[super::lapic::lvt::LINT0 + pin as usize];
            let bit = 1u8 << pin;
            let rising = level && l.lint & bit == 0;
            l.lint = if level { l.lint | bit } else { l.lint & !bit };
            let level_trig = e & (1 << 15) != 0;
            if e & super::lapic::LVT_MASKED != 0 || !(rising || (level && level_trig)) {
                return Ok(());
            }
            match DeliveryMode::from_bits(e >> 8) {
                Some(DeliveryMode::Fixed) => l.accept(e as u8, level_trig),
                Some(DeliveryMode::Nmi) => l.nmi_pending = true,
                _ => {}
            }
            Ok(())
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
