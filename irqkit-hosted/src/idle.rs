//! The idle state of a hosted virtual CPU: Linux's idle loop body (`do_idle` →
//! `cpuidle_idle_call`) with two states, `poll_idle` and a host futex sleep.
//!
//! Right after a switch to the idle thread the CPU polls for work for
//! `MachineConfig::idle_poll_ns` (drivers/cpuidle/poll_state.c; a KVM guest's
//! haltpoll does the same before it halts), flagged `polling` so that a raiser, like
//! Linux's waker of a `TIF_POLLING_NRFLAG` CPU, only sets its pending bit: no futex
//! wake, no signal. Then, or at once after an idle entry no switch preceded (a tick
//! on an idle CPU), the thread sleeps on the CPU's `idle_seq` futex.

use std::sync::atomic::Ordering;
use std::time::Instant;

use irqkit_core::CpuId;

use crate::shared::Shared;
use crate::{futex, thread_ctx};

/// `Platform::idle_wait`: wait until this CPU has an interrupt pending, a
/// reschedule, or the machine shuts down.
pub(crate) fn idle_wait(shared: &Shared, idle_poll_ns: u64, cpu: CpuId) {
    let Some((sys, _)) = thread_ctx::machine() else { return };
    let hc = &shared.cpus[cpu.index()];
    let cs = sys.cpu(cpu).expect("cpu exists");
    if !cs.online() {
        return dead_wait(shared, cpu);
    }
    let seq = hc.idle_seq.load(Ordering::SeqCst);
    hc.idle.store(true, Ordering::SeqCst);
    let wake = || hc.has_work() || cs.need_resched() || sys.sched.shutting_down();
    if idle_poll_ns != 0 && hc.poll_armed.swap(false, Ordering::Relaxed) {
        crate::hostcpu::bump(&hc.counters.idle_polls);
        hc.polling.store(true, Ordering::SeqCst);
        // Pairs with the fence in `set_pending`: we see the bit or the raiser
        // sees us polling.
        std::sync::atomic::fence(Ordering::SeqCst);
        let hit = poll_idle(idle_poll_ns, wake);
        hc.polling.store(false, Ordering::SeqCst);
        if hit {
            crate::hostcpu::bump(&hc.counters.idle_poll_hits);
        }
    }
    // Pairs with the fence in `set_pending`: we see the bit or the raiser sees us
    // idle (and no longer polling).
    std::sync::atomic::fence(Ordering::SeqCst);
    if !wake() {
        crate::hostcpu::bump(&hc.counters.idle_sleeps);
        futex::wait(&hc.idle_seq, seq);
    }
    hc.idle.store(false, Ordering::SeqCst);
    if hc.has_work() {
        cs.set_irq_deferred(true);
    }
}

/// An offline CPU with nothing left to run (`arch_cpu_idle_dead`): reports itself
/// dead and sleeps, its interrupts masked, until it is brought back online, a
/// per-CPU thread parked here is woken, or the machine shuts down.
fn dead_wait(shared: &Shared, cpu: CpuId) {
    let Some((sys, _)) = thread_ctx::machine() else { return };
    let hc = &shared.cpus[cpu.index()];
    let cs = sys.cpu(cpu).expect("cpu exists");
    loop {
        let gen = hc.down_gen.load(Ordering::SeqCst);
        let seq = hc.idle_seq.load(Ordering::SeqCst);
        if cs.online() || cs.need_resched() || sys.sched.shutting_down() {
            break;
        }
        // Seen offline after `gen` began: that cpu_down may take over what is left.
        if hc.dead.report_dead(gen) {
            hand_over_tasklets(shared, sys, cpu);
        }
        // `idle`: a kick (cpu_up, a push, a parked thread woken) bumps the futex.
        hc.idle.store(true, Ordering::SeqCst);
        if !(cs.online() || cs.need_resched() || sys.sched.shutting_down()) {
            futex::wait(&hc.idle_seq, seq);
        }
        hc.idle.store(false, Ordering::SeqCst);
    }
    if hc.has_work() {
        cs.set_irq_deferred(true);
    }
}

/// CPUHP_SOFTIRQ_DEAD for a CPU whose cpu_down could not wait for it to die: now
/// that it runs nothing, a live CPU takes its tasklets over. Nothing to do if it is
/// back online (it runs them itself) or no CPU is.
fn hand_over_tasklets(shared: &Shared, sys: &irqkit_core::IrqSystem, dead: CpuId) {
    let Some(live) = sys.online_mask().first() else { return };
    let f = Box::new(move |s: &irqkit_core::IrqSystem, _: &irqkit_core::HardIrq| {
        let _ = s.tasklets_takeover(dead);
    });
    let _ = shared.call_on(sys, live, f);
}

/// Linux's `poll_idle`: spins until `wake()` or `bound_ns` has passed; true if woken.
/// The clock is read every 32nd round (a poll costs far less than a clock read).
fn poll_idle(bound_ns: u64, wake: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    let bound = std::time::Duration::from_nanos(bound_ns);
    let mut i = 0u32;
    loop {
        if wake() {
            return true;
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(32) && start.elapsed() >= bound {
            return false;
        }
        std::hint::spin_loop();
    }
}
