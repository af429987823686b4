//! The hosted machine's polling idle (`MachineConfig::idle_poll_ns`): a virtual CPU
//! that has just gone idle polls for a bounded time before its thread sleeps in the
//! host, and a wake-up that finds it polling needs no host wake-up — Linux's
//! cpuidle `poll_idle` (drivers/cpuidle/poll_state.c) with the scheduler's
//! `TIF_POLLING_NRFLAG` short cut (kernel/sched/core.c, `set_nr_if_polling`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

// drivers/cpuidle/poll_state.c poll_idle: the poll ends at its time limit and the
// CPU then enters a real idle state. With no tick and nothing to run, every CPU
// that polled must end up asleep in the host: an unbounded poll would burn a host
// core for ever and never reach the sleep counted here.
#[test]
fn poll_idle_ends_at_its_time_limit_and_the_cpu_sleeps() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    for c in 0..2 {
        let cpu = CpuId(c);
        let before = m.stats(cpu).unwrap();
        // A thread runs there and exits: the switch back to the idle thread arms a poll.
        m.run_on(cpu, |_| ()).unwrap();
        common::wait_until("the idle CPU polled and then slept", || {
            let s = m.stats(cpu).unwrap();
            s.idle_polls > before.idle_polls && s.idle_sleeps > before.idle_sleeps
        });
    }
}

// A machine whose config turns the poll off sleeps at once: no idle entry polls.
#[test]
fn idle_poll_zero_never_polls() {
    let m =
        Machine::new(MachineConfig { nr_cpus: 2, hz: 0, idle_poll_ns: 0, ..Default::default() })
            .unwrap();
    for c in 0..2 {
        m.run_on(CpuId(c), |_| ()).unwrap();
    }
    common::wait_until("both CPUs asleep", || {
        (0..2).all(|c| m.stats(CpuId(c)).unwrap().idle_sleeps > 0)
    });
    for c in 0..2 {
        assert_eq!(m.stats(CpuId(c)).unwrap().idle_polls, 0);
    }
}

// kernel/sched/core.c set_nr_if_polling: a CPU polling in idle takes a wake-up by
// seeing the flag, without the IPI. Here: a call-function IPI to a polling CPU is
// taken by the poll (a hit). The poll bound is generous (10 s) so that only a hang
// can end it first; the IPI may still land before the poll starts (the thread that
// armed it is exiting), so a few attempts are allowed and one must be a hit.
#[test]
fn a_polling_idle_cpu_takes_an_ipi_without_a_host_wakeup() {
    let m = Machine::new(MachineConfig {
        nr_cpus: 1,
        hz: 0,
        idle_poll_ns: 10_000_000_000,
        ..Default::default()
    })
    .unwrap();
    let cpu = CpuId(0);
    let hit = (0..5).any(|_| {
        let before = m.stats(cpu).unwrap();
        m.run_on(cpu, |_| ()).unwrap();
        common::wait_until("the idle CPU polls", || {
            m.stats(cpu).unwrap().idle_polls > before.idle_polls
        });
        // Let the run_on thread finish exiting (an IPI before that is no test).
        std::thread::sleep(std::time::Duration::from_millis(5));
        let polling = m.stats(cpu).unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        m.call_on(cpu, move |_, _| r.store(true, Ordering::SeqCst)).unwrap();
        common::wait_until("the IPI ran", || ran.load(Ordering::SeqCst));
        m.stats(cpu).unwrap().idle_poll_hits > polling.idle_poll_hits
    });
    assert!(hit, "no IPI was taken by the idle poll");
}
