//! A short ring of one CPU's clock-event decisions (hrtimer arm, APIC program, timer
//! interrupt, tick stop and restart, idle halt and wake-up), for the cyclictest: it
//! keeps a copy of the ring at its worst sample and prints it, so a late wake-up
//! shows whether the device was programmed for the deadline, when the interrupt came,
//! and what the CPU was doing meanwhile. Off (one relaxed load per event) unless the
//! cyclictest turned it on.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use alloc::format;
use alloc::string::String;

use crate::{arch, kprintln, lapic};

/// What an entry records; its value is in nanoseconds of the TSC clock unless noted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Ev {
    /// `arm_hrtimer`: the deadline.
    Arm = 1,
    /// The APIC programmed: the delay.
    Program = 2,
    /// A timer interrupt handled: bit 0 tick due, bit 1 hrtimer due, bit 2 early.
    Irq = 3,
    /// The tick stopped in idle: the tick handler's next event.
    Stop = 4,
    /// The tick restarted: its next grid point.
    Restart = 5,
    /// The idle loop halts (value unused).
    Halt = 6,
    /// The halt ended (value unused).
    Wake = 7,
    /// The timer vector entered (before any lazy-mask deferral): the interrupted
    /// instruction pointer.
    Entry = 8,
}

const N: usize = 32;
/// The traced CPU (the cyclictest's).
const CPU: usize = 0;

static ON: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicUsize = AtomicUsize::new(0);
static RING: [(AtomicU64, AtomicU64); N] = [const { (AtomicU64::new(0), AtomicU64::new(0)) }; N];

/// Starts recording the traced CPU's events.
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Records `ev` with `val` if tracing is on and `cpu` is the traced CPU. Called with
/// hardware interrupts masked or from the interrupt itself, so entries of one CPU do
/// not interleave; the one exception, the wake-up record after a halt whose interrupt
/// was not deferred, can at worst leave one torn diagnostic entry.
#[inline]
pub fn record(cpu: usize, ev: Ev, val: u64) {
    if !ON.load(Ordering::Relaxed) || cpu != CPU {
        return;
    }
    let i = NEXT.load(Ordering::Relaxed);
    NEXT.store(i.wrapping_add(1), Ordering::Relaxed);
    let slot = &RING[i % N];
    slot.0.store(arch::rdtsc(), Ordering::Relaxed);
    slot.1.store(((ev as u64) << 56) | (val & ((1 << 56) - 1)), Ordering::Relaxed);
}

/// One recorded event: when (TSC clock, ns), what, and its value.
#[derive(Clone, Copy, Default)]
pub struct Entry {
    /// TSC clock time of the event, ns.
    pub at_ns: u64,
    /// The event kind (`None`: an empty slot).
    pub kind: Option<Ev>,
    /// Its value.
    pub val: u64,
}

/// A copy of the ring, oldest entry first.
pub type Trace = [Entry; N];

impl Ev {
    fn from_bits(b: u8) -> Option<Ev> {
        const ALL: [Ev; 8] =
            [Ev::Arm, Ev::Program, Ev::Irq, Ev::Stop, Ev::Restart, Ev::Halt, Ev::Wake, Ev::Entry];
        ALL.into_iter().find(|e| *e as u8 == b)
    }

    fn name(self) -> &'static str {
        match self {
            Ev::Arm => "arm",
            Ev::Program => "program",
            Ev::Irq => "irq",
            Ev::Stop => "stop",
            Ev::Restart => "restart",
            Ev::Halt => "halt",
            Ev::Wake => "wake",
            Ev::Entry => "entry",
        }
    }
}

/// The ring, oldest entry first (read on the traced CPU, between events).
pub fn snapshot() -> Trace {
    let next = NEXT.load(Ordering::Relaxed);
    core::array::from_fn(|k| {
        let slot = &RING[next.wrapping_add(k) % N];
        let w = slot.1.load(Ordering::Relaxed);
        Entry {
            at_ns: lapic::tsc_to_ns(slot.0.load(Ordering::Relaxed)),
            kind: Ev::from_bits((w >> 56) as u8),
            val: w & ((1 << 56) - 1),
        }
    })
}

/// Prints `trace` one event per line, prefixed by `prefix`, times and absolute
/// times in µs relative to `origin_ns`, delays in µs.
pub fn print(prefix: &str, origin_ns: u64, trace: &Trace) {
    let rel = |ns: u64| (ns as i64 - origin_ns as i64) / 1000;
    for e in trace {
        let Some(kind) = e.kind else { continue };
        let val = match kind {
            Ev::Arm | Ev::Stop | Ev::Restart if e.val < (1 << 55) => format!("{}", rel(e.val)),
            Ev::Program => format!("+{}", e.val / 1000),
            Ev::Irq => {
                format!("tick {} hr {} early {}", e.val & 1, (e.val >> 1) & 1, (e.val >> 2) & 1)
            }
            Ev::Entry => format!("at {:#x}", e.val),
            _ => String::new(),
        };
        kprintln!("{prefix} {:>8} {:<8} {}", rel(e.at_ns), kind.name(), val);
    }
}
