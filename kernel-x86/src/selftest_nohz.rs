//! Self-test of tickless idle (NO_HZ_IDLE, kernel/time/tick-sched.c): the rest of the
//! self-test holds a tick dependency on every CPU (it counts ticks of idle CPUs and
//! its IPI turns are polled from the APs' idle loops); here it is dropped.
//!
//! - CPU 0 runs its idle loop until a timer-wheel timer 25 jiffies out fires: the
//!   timer fires no earlier than its expiry (jiffies, and the clock), the tick was
//!   stopped meanwhile (fewer than half the ticks a periodic tick takes in that time),
//!   and jiffies agree with the clock afterwards.
//! - With more than one CPU, a timer queued from CPU 0 on the last CPU while that CPU's
//!   tick is stopped wakes it with a reschedule IPI (`wake_up_nohz_cpu`); it fires
//!   there, no earlier than due. A round in which that CPU woke for something else
//!   while the timer was queued is run again (up to five).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use irqkit_core::timer::Timer;
use irqkit_core::CpuId;

use crate::lapic::{self, RESCHEDULE_VECTOR, TIMER_VECTOR};
use crate::selftest::{check, wait_for, SECOND};
use crate::{clockevent, percpu, platform, tick_sched};

static FIRED: AtomicBool = AtomicBool::new(false);
static FIRED_CPU: AtomicU64 = AtomicU64::new(0);
static FIRED_JIFFIES: AtomicU64 = AtomicU64::new(0);
static FIRED_NS: AtomicU64 = AtomicU64::new(0);

fn recorder() -> Timer {
    FIRED.store(false, Ordering::Release);
    Timer::new(|sys, _, _| {
        FIRED_CPU.store(percpu::this_cpu() as u64, Ordering::Relaxed);
        FIRED_JIFFIES.store(sys.jiffies(), Ordering::Relaxed);
        FIRED_NS.store(lapic::now_ns(), Ordering::Relaxed);
        FIRED.store(true, Ordering::Release);
    })
}

/// Runs the checks; every CPU's tick dependency is dropped meanwhile.
pub fn run(n: usize) {
    for c in 0..n {
        tick_sched::tick_dep_clear(c);
    }
    idle_cpu0();
    if n > 1 {
        remote_wake(n - 1);
    }
    for c in 0..n {
        tick_sched::tick_dep_set(c);
    }
}

fn idle_cpu0() {
    let sys = platform::system();
    let period = clockevent::period_ns();
    let area = percpu::area(0);
    let (ticks0, irqs0, stops0) = (
        area.ticks.load(Ordering::Relaxed),
        area.count(TIMER_VECTOR),
        clockevent::stats(0).tick_stops,
    );
    let t = recorder();
    let expires = sys.jiffies() + 25;
    let start = lapic::now_ns();
    let added = t.add(sys, expires).is_ok();
    // The boot context is swapper/0: run its idle loop until the timer fired.
    let me = CpuId(0);
    while !FIRED.load(Ordering::Acquire) && lapic::now_ns() < start + 2 * SECOND {
        platform::idle_once(sys, me);
    }
    // Leaving the idle loop for the test's own work: restart the tick.
    tick_sched::idle_exit(0);
    let elapsed = lapic::now_ns() - start;
    let ticks = area.ticks.load(Ordering::Relaxed) - ticks0;
    let irqs = area.count(TIMER_VECTOR) - irqs0;
    let stops = clockevent::stats(0).tick_stops - stops0;
    let (j, at) = (FIRED_JIFFIES.load(Ordering::Relaxed), FIRED_NS.load(Ordering::Relaxed));
    let periodic = elapsed / period;
    check(
        added && FIRED.load(Ordering::Acquire) && j >= expires && at >= expires * period,
        format_args!(
            "tickless idle: a timer for jiffy {expires} fired on CPU0 at jiffy {j}, {} us after its expiry",
            at.saturating_sub(expires * period) / 1000
        ),
    );
    check(
        stops >= 1 && ticks * 2 < periodic,
        format_args!(
            "tickless idle: CPU0 stopped its tick {stops} times and took {ticks} ticks ({irqs} timer interrupts) in {} ms (periodic: {periodic})",
            elapsed / 1_000_000
        ),
    );
    // Both read together: the reports above go out over the serial line, which on a
    // loaded host can take longer than a jiffy.
    let jiffies = sys.jiffies();
    let now_j = lapic::now_ns() / period;
    check(
        jiffies + 1 >= now_j && jiffies <= now_j + 1,
        format_args!("tickless idle: jiffies {jiffies} follow the clock ({now_j}) after the idle"),
    );
}

/// What CPU `cpu` did, to tell whether it stayed idle with its tick stopped: its
/// tick-stop count and the interrupts it took.
fn idle_witness(cpu: usize) -> (u64, u64) {
    let area = percpu::area(cpu);
    (clockevent::stats(cpu).tick_stops, (0..=255u8).map(|v| area.count(v)).sum())
}

fn remote_wake(cpu: usize) {
    // The kick is owed only if the CPU is still idle with its tick stopped when the
    // timer is added, and the timer is its first. A CPU that wakes for something else
    // in that window (a stall of the host can line it up with the CPU's next timer),
    // or has an earlier timer of its own, needs none, so such a round proves nothing
    // either way and is run again.
    for _ in 0..5 {
        if let Some((ok, msg)) = remote_wake_once(cpu) {
            check(ok, format_args!("{msg}"));
            return;
        }
    }
    check(
        false,
        format_args!("tickless idle: CPU{cpu} never stayed idle across a timer's queueing"),
    );
}

/// One round of [`remote_wake`]: `None` if the CPU did not stay idle with its tick
/// stopped while the timer was queued.
fn remote_wake_once(cpu: usize) -> Option<(bool, alloc::string::String)> {
    let sys = platform::system();
    let stopped = wait_for(SECOND, || clockevent::tick_stopped(cpu));
    let t = recorder();
    let area = percpu::area(cpu);
    let res0 = area.count(RESCHEDULE_VECTOR);
    let before = idle_witness(cpu);
    let expires = sys.jiffies() + 5;
    // Only a timer that becomes the CPU's first is owed a kick (`enqueue_timer` calls
    // `trigger_dyntick_cpu` only then): one already due by then wakes the CPU anyway.
    // A level-0 timer's bucket is one jiffy past its expiry (`calc_index` rounds up).
    let first = sys.next_timer_expiry(CpuId(cpu as u32)).is_none_or(|n| n > expires + 1);
    let added = t.add_on(sys, expires, CpuId(cpu as u32)).is_ok();
    let idle_throughout = clockevent::tick_stopped(cpu) && idle_witness(cpu) == before;
    let fired = wait_for(SECOND, || FIRED.load(Ordering::Acquire));
    let (j, on) = (FIRED_JIFFIES.load(Ordering::Relaxed), FIRED_CPU.load(Ordering::Relaxed));
    // Without the kick the timer still fires once something else wakes the CPU (its
    // next wheel timer), so the kick itself is what is checked: a reschedule IPI.
    let kicks = area.count(RESCHEDULE_VECTOR) - res0;
    if stopped && kicks == 0 && (!idle_throughout || !first) {
        return None;
    }
    Some((
        stopped && added && fired && on == cpu as u64 && j >= expires && kicks >= 1,
        alloc::format!(
            "tickless idle: a timer queued on CPU{cpu} while its tick was stopped woke it ({kicks} RES IPI; fired on CPU{on} at jiffy {j}, due {expires})"
        ),
    ))
}
