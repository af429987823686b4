//! Per-CPU clock events: the local APIC timer in one-shot (or TSC-deadline) mode serves
//! both the periodic tick and one high-resolution timer, as Linux's highres mode
//! emulates the tick with `tick_sched_timer` on the same clock event device.
//!
//! Each timer interrupt compares the TSC clock with the next tick and the armed
//! high-resolution expiry, reports which are due, and programs the APIC count for the
//! earlier of the two that remain. The APIC counts QEMU's 1 GHz bus clock at divide-by-1,
//! so a count is a nanosecond; if it fires a little before the TSC says the deadline is
//! reached (the two clocks are calibrated, not identical), the handler simply programs
//! the short remainder (counted as an early interrupt). In TSC-deadline mode the
//! deadline is the TSC value itself, so the interrupt cannot come early.
//!
//! In idle the tick can be stopped ([`crate::tick_sched`]): the tick handler's next
//! event is then the next timer-wheel expiry instead of the next grid point, until the
//! restart puts it back on its grid.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::{hw_irq_restore, hw_irq_save};
use crate::lapic;
use crate::percpu::MAX_CPUS;
use crate::timer_trace::{self, Ev};

/// Why an expired high-resolution timer does not reprogram the device at once: under
/// QEMU TCG a write of the APIC's initial count costs about 25 µs (QEMU rearms its
/// timer list and wakes its main loop), and it would sit between the expiry and the
/// woken thread, which usually re-arms the timer right away anyway
/// ([`arm_hrtimer`] programs the earlier of its deadline and the tick). In LAPIC mode
/// the timer runs periodic, so without that re-arm it fires again one period (at most
/// one tick period) later, finds nothing due, and programs the tick then: the tick is
/// never lost, at worst late by less than one period. In TSC-deadline mode there is no
/// such backstop (and an MSR write is cheap), so expiry always reprograms.
///
/// The skip needs the period left in the APIC to be long: a period of a few µs (left by
/// an early interrupt's short remainder) would fire again and again until the thread
/// re-arms, more so when the host deschedules the vCPU meanwhile (QEMU's periodic
/// timer steps from period boundary to period boundary). Below this period the expiry
/// reprograms after all.
const MIN_BACKSTOP_NS: u64 = 50_000;

/// Shortest programmed delay: below this the interrupt would arrive while the handler
/// that programmed it is still returning.
const MIN_DELTA_NS: u64 = 2_000;
/// Longest programmed delay: the APIC's 32-bit count at 1 GHz (Linux's
/// `max_delta_ns`). A CPU with nothing armed wakes this often.
const MAX_DELTA_NS: u64 = u32::MAX as u64;
/// No event.
pub(crate) const DISARMED: u64 = u64::MAX;

pub(crate) struct ClockEvent {
    /// The tick handler's next event: a point of the tick grid, or while the tick is
    /// stopped the next timer-wheel expiry (or [`DISARMED`]).
    pub(crate) next_tick: AtomicU64,
    /// Grid origin: ticks fall on `tick_origin + k * period`.
    pub(crate) tick_origin: AtomicU64,
    /// The tick is stopped in idle ([`crate::tick_sched`]).
    pub(crate) tick_stopped: AtomicBool,
    /// The delay last programmed: in LAPIC mode also the timer's period.
    programmed_ns: AtomicU64,
    /// When the hardware fires next (programmed time, then the periodic backstop's
    /// next period after each interrupt that did not reprogram).
    pub(crate) hw_next: AtomicU64,
    hr_expires: AtomicU64,
    /// Timer interrupts that found nothing due yet (arrived before the programmed
    /// time: APIC count vs calibrated TSC; impossible in TSC-deadline mode).
    early: AtomicU64,
    /// High-resolution expiries handled, the last one's deadline and handling time.
    hr_fired: AtomicU64,
    hr_last_deadline: AtomicU64,
    hr_last_at: AtomicU64,
    pub(crate) tick_stops: AtomicU64,
    pub(crate) tick_restarts: AtomicU64,
}

static EVENTS: [ClockEvent; MAX_CPUS] = [const {
    ClockEvent {
        next_tick: AtomicU64::new(0),
        tick_origin: AtomicU64::new(0),
        tick_stopped: AtomicBool::new(false),
        programmed_ns: AtomicU64::new(0),
        hw_next: AtomicU64::new(DISARMED),
        hr_expires: AtomicU64::new(DISARMED),
        early: AtomicU64::new(0),
        hr_fired: AtomicU64::new(0),
        hr_last_deadline: AtomicU64::new(0),
        hr_last_at: AtomicU64::new(0),
        tick_stops: AtomicU64::new(0),
        tick_restarts: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// A CPU's clock-event counters (see [`stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Timer interrupts that arrived before anything was due.
    pub early: u64,
    /// High-resolution expiries handled.
    pub hr_fired: u64,
    /// Deadline of the last one.
    pub hr_last_deadline: u64,
    /// Clock time at which the timer interrupt handled it.
    pub hr_last_at: u64,
    /// Times the tick was stopped in idle.
    pub tick_stops: u64,
    /// Times a stopped tick was restarted.
    pub tick_restarts: u64,
}

/// `cpu`'s counters.
pub fn stats(cpu: usize) -> Stats {
    let ev = &EVENTS[cpu];
    Stats {
        early: ev.early.load(Ordering::Relaxed),
        hr_fired: ev.hr_fired.load(Ordering::Acquire),
        hr_last_deadline: ev.hr_last_deadline.load(Ordering::Relaxed),
        hr_last_at: ev.hr_last_at.load(Ordering::Relaxed),
        tick_stops: ev.tick_stops.load(Ordering::Relaxed),
        tick_restarts: ev.tick_restarts.load(Ordering::Relaxed),
    }
}
static PERIOD_NS: AtomicU64 = AtomicU64::new(0);

/// What a timer interrupt found due.
pub struct Due {
    /// The periodic tick.
    pub tick: bool,
    /// The high-resolution timer.
    pub hrtimer: bool,
}

/// The earlier of the tick handler's next event and the armed hrtimer.
pub(crate) fn earliest(ev: &ClockEvent) -> u64 {
    ev.next_tick.load(Ordering::Relaxed).min(ev.hr_expires.load(Ordering::Relaxed))
}

/// Programs `cpu`'s APIC (`ev` is its event) for [`earliest`], at least
/// [`MIN_DELTA_NS`] and at most [`MAX_DELTA_NS`] ahead.
pub(crate) fn program(cpu: usize, ev: &ClockEvent) {
    let now = lapic::now_ns();
    let delta = earliest(ev).saturating_sub(now).clamp(MIN_DELTA_NS, MAX_DELTA_NS);
    ev.programmed_ns.store(delta, Ordering::Relaxed);
    ev.hw_next.store(now + delta, Ordering::Relaxed);
    timer_trace::record(cpu, Ev::Program, delta);
    lapic::program_ns(now + delta, delta);
}

/// Starts `cpu`'s tick at `hz` (call on that CPU).
pub fn start(cpu: usize, hz: u32) {
    let period = 1_000_000_000 / hz as u64;
    PERIOD_NS.store(period, Ordering::Relaxed);
    let ev = &EVENTS[cpu];
    let now = lapic::now_ns();
    ev.tick_origin.store(now, Ordering::Relaxed);
    ev.next_tick.store(now + period, Ordering::Relaxed);
    lapic::clockevent_mode();
    program(cpu, ev);
}

/// The tick period in nanoseconds (1 / HZ).
pub fn period_ns() -> u64 {
    PERIOD_NS.load(Ordering::Relaxed)
}

/// Whether `cpu`'s tick is stopped (it is idle with no tick due).
#[inline]
pub fn tick_stopped(cpu: usize) -> bool {
    EVENTS[cpu].tick_stopped.load(Ordering::Relaxed)
}

/// The time of `cpu`'s next tick (while it ticks).
pub fn next_tick(cpu: usize) -> u64 {
    EVENTS[cpu].next_tick.load(Ordering::Relaxed)
}

/// `cpu`'s clock event (for [`crate::tick_sched`]'s stop and restart).
pub(crate) fn event(cpu: usize) -> &'static ClockEvent {
    &EVENTS[cpu]
}

/// Called by the timer interrupt on `cpu`: what is due; reprograms the next event.
pub fn expire(cpu: usize) -> Due {
    let ev = &EVENTS[cpu];
    let now = lapic::now_ns();
    let period = PERIOD_NS.load(Ordering::Relaxed);
    let mut next_tick = ev.next_tick.load(Ordering::Relaxed);
    let tick = now >= next_tick;
    if tick {
        if ev.tick_stopped.load(Ordering::Relaxed) {
            // The timer-wheel expiry the stopped tick was kept for: the idle loop
            // (or the restart on leaving it) decides what comes next.
            next_tick = DISARMED;
        } else {
            // Missed ticks are skipped, not replayed (jiffies follow the clock), so a
            // long stall does not cause a burst.
            while next_tick <= now {
                next_tick += period;
            }
        }
        ev.next_tick.store(next_tick, Ordering::Relaxed);
    }
    let expires = ev.hr_expires.load(Ordering::Relaxed);
    let hrtimer = now >= expires;
    // Before the programmed time (a backstop or maximum-delta wake-up is not).
    let early = !hrtimer && !tick && now < ev.hw_next.load(Ordering::Relaxed);
    if hrtimer {
        ev.hr_expires.store(DISARMED, Ordering::Relaxed);
        ev.hr_last_deadline.store(expires, Ordering::Relaxed);
        ev.hr_last_at.store(now, Ordering::Relaxed);
        ev.hr_fired.fetch_add(1, Ordering::Release);
    } else if early {
        ev.early.fetch_add(1, Ordering::Relaxed);
    }
    timer_trace::record(cpu, Ev::Irq, tick as u64 | (hrtimer as u64) << 1 | (early as u64) << 2);
    let programmed = ev.programmed_ns.load(Ordering::Relaxed);
    if !hrtimer || lapic::tsc_deadline_mode() || programmed < MIN_BACKSTOP_NS {
        program(cpu, ev);
    } else {
        // Not reprogrammed: the periodic timer fires again one period on.
        let mut hw = ev.hw_next.load(Ordering::Relaxed);
        while hw <= now {
            hw += programmed;
        }
        ev.hw_next.store(hw, Ordering::Relaxed);
    }
    Due { tick, hrtimer }
}

/// Arms the calling CPU's high-resolution timer for absolute time `expires_ns`.
pub fn arm_hrtimer(cpu: usize, expires_ns: u64) {
    let was = hw_irq_save();
    let ev = &EVENTS[cpu];
    ev.hr_expires.store(expires_ns, Ordering::Relaxed);
    timer_trace::record(cpu, Ev::Arm, expires_ns);
    program(cpu, ev);
    hw_irq_restore(was);
}
