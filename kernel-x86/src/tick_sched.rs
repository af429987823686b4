//! Tickless idle: Linux's NO_HZ_IDLE (kernel/time/tick-sched.c) on the LAPIC clock event.
//!
//! A CPU that goes idle with nothing for its tick to do stops the tick
//! (`tick_nohz_idle_stop_tick`): the clock event is left with the next timer-wheel
//! expiry and the hrtimer, whichever is first (`stop_tick`). When the
//! idle thread switches to a task the tick restarts on its grid and jiffies catch up
//! (`tick_nohz_idle_exit`); an interrupt taken while the tick is stopped brings
//! jiffies up to date first (`tick_nohz_irq_enter`), so handlers never see stale ones.
//!
//! The tick is kept (`can_stop_idle_tick` / `tick_nohz_next_event`) while lazy
//! irq_work waits for it, while the CPU holds an old vector to release (its cleanup
//! runs from the tick), while a wheel timer is due by the next tick, and while
//! someone holds a tick dependency on the CPU ([`tick_dep_set`], after Linux's
//! `tick_dep_set_cpu`; the self-test uses it where it counts ticks of idle CPUs).
//! `nohz=off` on the command line keeps every tick, as on Linux.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use irqkit_core::{CpuId, Ipi};

use crate::arch::{hw_irq_restore, hw_irq_save};
use crate::percpu::{self, MAX_CPUS};
use crate::timer_trace::{self, Ev};
use crate::{clockevent, lapic, platform, x86irq};

static ENABLED: AtomicBool = AtomicBool::new(true);
static TICK_DEP: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// `nohz=off`: every CPU keeps its periodic tick in idle.
pub fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
}

/// `tick_dep_set_cpu`: `cpu` keeps its tick in idle until the matching
/// [`tick_dep_clear`]. A CPU that already stopped it is kicked (a reschedule IPI)
/// so it restarts it now, not at its next wake-up.
pub fn tick_dep_set(cpu: usize) {
    TICK_DEP[cpu].fetch_add(1, Ordering::AcqRel);
    if cpu != percpu::this_cpu() {
        // Not only when its tick looks stopped: it may be stopping it right now,
        // having read the dependency before this set it.
        let _ = platform::system().platform().send_ipi(CpuId(cpu as u32), Ipi::Reschedule);
    }
}

/// `tick_dep_clear_cpu`: drops one dependency; `cpu` may stop its tick at its next
/// idle entry.
pub fn tick_dep_clear(cpu: usize) {
    TICK_DEP[cpu].fetch_sub(1, Ordering::AcqRel);
}

/// `tick_nohz_idle_stop_tick`, from the idle loop with interrupts masked and nothing
/// to run: stops `cpu`'s tick if nothing needs it before the next timer-wheel expiry,
/// or restarts a stopped one that something needs again.
pub fn idle_enter(cpu: usize) {
    if !ENABLED.load(Ordering::Relaxed) || !percpu::area(cpu).sched_ready.load(Ordering::Relaxed) {
        return;
    }
    let sys = platform::system();
    let me = CpuId(cpu as u32);
    let stopped = clockevent::tick_stopped(cpu);
    let jiffies = if stopped { sys.update_jiffies() } else { sys.jiffies() };
    let next = if TICK_DEP[cpu].load(Ordering::Acquire) != 0
        || sys.irq_work_needs_cpu()
        || x86irq::cleanup_pending(cpu)
    {
        Some(jiffies)
    } else {
        sys.timers_idle_enter(me)
    };
    // A wheel timer already due (its softirq not run yet) or a need above: tick on.
    if next.is_some_and(|j| j <= jiffies) {
        sys.timers_clear_idle(me);
        if stopped {
            restart_tick(cpu);
        }
        return;
    }
    let next_ns = next.map(|j| j.saturating_mul(clockevent::period_ns()));
    // Something due by the next tick: the tick serves it, no point in stopping.
    if !stopped && next_ns.is_some_and(|t| t <= clockevent::next_tick(cpu)) {
        sys.timers_clear_idle(me);
        return;
    }
    stop_tick(cpu, next_ns);
}

/// `tick_nohz_idle_exit`: `cpu`'s idle thread switches to a task; a stopped tick
/// restarts and jiffies catch up.
pub fn idle_exit(cpu: usize) {
    if clockevent::tick_stopped(cpu) {
        let sys = platform::system();
        sys.update_jiffies();
        restart_tick(cpu);
        sys.timers_clear_idle(CpuId(cpu as u32));
    }
}

/// `tick_nohz_irq_enter`: an interrupt on a CPU whose tick is stopped brings jiffies
/// up to the clock before its handler runs.
#[inline]
pub fn irq_enter(cpu: usize) {
    if clockevent::tick_stopped(cpu) {
        platform::system().update_jiffies();
    }
}

/// `tick_nohz_stop_tick` on the calling CPU `cpu`: the tick handler runs next at
/// `next_ns` (the next timer-wheel expiry; `None`: only an hrtimer or nothing).
/// Reprograms the APIC only if its programmed event is no longer the earliest —
/// in the common case (a sleeping thread's hrtimer is first) it writes nothing.
fn stop_tick(cpu: usize, next_ns: Option<u64>) {
    let was = hw_irq_save();
    let ev = clockevent::event(cpu);
    if !ev.tick_stopped.swap(true, Ordering::Relaxed) {
        ev.tick_stops.fetch_add(1, Ordering::Relaxed);
    }
    ev.next_tick.store(next_ns.unwrap_or(clockevent::DISARMED), Ordering::Relaxed);
    timer_trace::record(cpu, Ev::Stop, next_ns.unwrap_or(clockevent::DISARMED));
    let want = clockevent::earliest(ev);
    let hw = ev.hw_next.load(Ordering::Relaxed);
    // With nothing armed, a far-off wake-up already programmed may stay.
    let far = want == clockevent::DISARMED && hw > lapic::now_ns() + clockevent::period_ns();
    if hw != want && !far {
        clockevent::program(cpu, ev);
    }
    hw_irq_restore(was);
}

/// `tick_nohz_restart` on the calling CPU `cpu`: the tick resumes on its grid, at the
/// first grid point after now. The APIC is reprogrammed only if it would fire later
/// than that *and* not within one tick period: an interrupt that comes within a
/// period (the periodic backstop after an hrtimer expiry, typically; the woken
/// thread's re-arm usually reprograms first anyway) finds the tick due and programs
/// the next one, so the restart costs no APIC write on the wake-up path — the tick
/// is at worst late by less than one period, the bound the backstop already has.
fn restart_tick(cpu: usize) {
    let was = hw_irq_save();
    let ev = clockevent::event(cpu);
    if ev.tick_stopped.swap(false, Ordering::Relaxed) {
        ev.tick_restarts.fetch_add(1, Ordering::Relaxed);
        let now = lapic::now_ns();
        let period = clockevent::period_ns();
        let origin = ev.tick_origin.load(Ordering::Relaxed);
        let next = origin + (now.saturating_sub(origin) / period + 1) * period;
        ev.next_tick.store(next, Ordering::Relaxed);
        timer_trace::record(cpu, Ev::Restart, next);
        let hw = ev.hw_next.load(Ordering::Relaxed);
        if hw > next && hw > now + period {
            clockevent::program(cpu, ev);
        }
    }
    hw_irq_restore(was);
}
