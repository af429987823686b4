//! CPU hot-unplug on the hosted machine (kernel/cpu.c teardown states): once
//! `cpu_down` returns nothing runs on the CPU any more, and what it held — running
//! threads, timers, interrupts — carries on elsewhere while it stays down.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use irqkit_core::irq::{Flags as IrqFlags, FlowHandler, IrqReturn};
use irqkit_core::sched::{Affinity, KthreadSpec};
use irqkit_core::timer::Timer;
use irqkit_core::{CpuId, CpuMask, IrqError};
use irqkit_hosted::{Machine, MachineConfig};

fn machine(hz: u32) -> Machine {
    Machine::new(MachineConfig { nr_cpus: 2, hz, ..Default::default() }).unwrap()
}

// kernel/sched/core.c balance_push / sched_cpu_dying: a CPU going down pushes the
// thread running on it away, so when cpu_down returns that thread runs elsewhere.
// No tick here: only cpu_down's own push can move a thread that never sleeps; it
// takes effect at the thread's next preemption point (cond_resched).
#[test]
fn balance_push_moves_the_running_thread_off_the_dying_cpu() {
    let m = machine(0);
    let sys = m.sys().clone();
    let (last, rounds, down, on_dead) = (
        Arc::new(AtomicU32::new(u32::MAX)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let (l, r, d, od) = (last.clone(), rounds.clone(), down.clone(), on_dead.clone());
    let t = m
        .spawn(KthreadSpec::bound("spinner", CpuId(1)), move |_task| {
            // Started on CPU 1; from here it may run anywhere (cpu_down would refuse a
            // thread still bound to the CPU).
            let me = sys.current_thread().unwrap();
            me.set_affinity(Affinity::Unbound(CpuMask::first_n(2)));
            while !me.should_stop() {
                let c = sys.current_cpu().unwrap().0;
                l.store(c, SeqCst);
                // The CPU read again after the flag: the first read may predate a
                // move that cpu_down's return, and so the flag, came after.
                if c == 1 && d.load(SeqCst) && sys.current_cpu() == Some(CpuId(1)) {
                    od.fetch_add(1, SeqCst);
                }
                r.fetch_add(1, SeqCst);
                // cond_resched: a thread preempted at interrupt exit resumes where
                // it was; it moves off at a point like this one.
                sys.preempt_check_resched();
            }
        })
        .unwrap();
    common::wait_until("spinner runs on cpu 1", || last.load(SeqCst) == 1);
    m.cpu_down(CpuId(1)).unwrap();
    down.store(true, SeqCst);
    let r0 = rounds.load(SeqCst);
    common::wait_until("spinner runs on", || rounds.load(SeqCst) > r0 + 1000);
    assert_eq!(last.load(SeqCst), 0);
    assert_eq!(on_dead.load(SeqCst), 0, "the thread ran on cpu 1 after cpu_down returned");
    m.sys().kthread_stop_nowait(&t);
}

// The same rule for a thread with no preemption point at all: in Linux the stopper
// thread moves it at once. Here cpu_down's reschedule IPI preempts it at interrupt
// exit, outside any per-CPU access (`cpu::pin`), so it switches out and moves.
#[test]
fn balance_push_moves_a_thread_that_never_reaches_a_preemption_point() {
    let m = machine(0);
    let sys = m.sys().clone();
    let (last, rounds, down, on_dead, stop) = (
        Arc::new(AtomicU32::new(u32::MAX)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let (l, r, d, od, st) =
        (last.clone(), rounds.clone(), down.clone(), on_dead.clone(), stop.clone());
    let t = m
        .spawn(KthreadSpec::bound("spinner", CpuId(1)), move |_task| {
            let me = sys.current_thread().unwrap();
            me.set_affinity(Affinity::Unbound(CpuMask::first_n(2)));
            while !st.load(SeqCst) {
                let c = sys.current_cpu().unwrap().0;
                l.store(c, SeqCst);
                // The CPU read again after the flag: the first read may predate a
                // move that cpu_down's return, and so the flag, came after.
                if c == 1 && d.load(SeqCst) && sys.current_cpu() == Some(CpuId(1)) {
                    od.fetch_add(1, SeqCst);
                }
                r.fetch_add(1, SeqCst);
            }
        })
        .unwrap();
    common::wait_until("spinner runs on cpu 1", || last.load(SeqCst) == 1);
    m.cpu_down(CpuId(1)).unwrap();
    down.store(true, SeqCst);
    assert!(!t.pinned_by_irq_preemption(), "left pinned on the dead cpu");
    let r0 = rounds.load(SeqCst);
    common::wait_until("spinner runs on", || rounds.load(SeqCst) > r0 + 1000);
    assert_eq!(last.load(SeqCst), 0);
    assert_eq!(on_dead.load(SeqCst), 0, "the thread ran on cpu 1 after cpu_down returned");
    stop.store(true, SeqCst);
    common::wait_until("spinner finished", || t.state() == irqkit_core::sched::ThreadState::Dead);
}

// kernel/time/timer.c timers_dead_cpu: the timers of a CPU that goes down move to a
// live CPU and fire there on time, while the CPU stays down.
#[test]
fn timers_of_a_dead_cpu_fire_on_a_live_cpu() {
    let m = machine(1000);
    let sys = m.sys().clone();
    let fired_on = Arc::new(AtomicU32::new(u32::MAX));
    let f = fired_on.clone();
    let t = Timer::new(move |s, _t, _| f.store(s.current_cpu().unwrap().0, SeqCst));
    t.add_on(&sys, sys.jiffies() + 50, CpuId(1)).unwrap();
    m.cpu_down(CpuId(1)).unwrap();
    assert!(t.pending());
    common::wait_until("the timer fired", || fired_on.load(SeqCst) != u32::MAX);
    assert_eq!(fired_on.load(SeqCst), 0);
    // The dead CPU's wheel refuses timers until it is back, then takes them again.
    assert_eq!(t.add_on(&sys, sys.jiffies() + 1, CpuId(1)), Err(IrqError::CpuOffline(1)));
    m.cpu_up(CpuId(1)).unwrap();
    fired_on.store(u32::MAX, SeqCst);
    t.add_on(&sys, sys.jiffies() + 1, CpuId(1)).unwrap();
    common::wait_until("the timer fired on cpu 1", || fired_on.load(SeqCst) == 1);
}

// kernel/irq/cpuhotplug.c irq_migrate_all_off_this_cpu / migrate_one_irq: a line
// aimed only at the dying CPU is "broken" to the online CPUs and keeps working; it
// does not move back when the CPU returns (only managed lines do).
#[test]
fn interrupts_aimed_at_a_dying_cpu_move_to_a_live_cpu() {
    let m = machine(1000);
    let sys = m.sys().clone();
    let irq = m.create_irq_line(FlowHandler::Edge).unwrap();
    sys.irq_set_affinity(irq, &CpuMask::single(CpuId(1))).unwrap();
    let (hits, cpu) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU32::new(u32::MAX)));
    let (h, c, s) = (hits.clone(), cpu.clone(), sys.clone());
    let _reg = sys
        .request_irq(
            irq,
            move |_| {
                c.store(s.current_cpu().unwrap().0, SeqCst);
                h.fetch_add(1, SeqCst);
                IrqReturn::HANDLED
            },
            IrqFlags::empty(),
            "hp-line",
        )
        .unwrap();
    m.raise_irq(irq).unwrap();
    common::wait_until("irq on cpu 1", || hits.load(SeqCst) == 1);
    assert_eq!(cpu.load(SeqCst), 1);
    m.cpu_down(CpuId(1)).unwrap();
    assert_eq!(m.irq_target(irq), Ok(CpuId(0)));
    m.raise_irq(irq).unwrap();
    common::wait_until("irq after cpu_down", || hits.load(SeqCst) == 2);
    assert_eq!(cpu.load(SeqCst), 0);
    m.cpu_up(CpuId(1)).unwrap();
    assert_eq!(m.irq_target(irq), Ok(CpuId(0)));
}

// kernel/cpu.c: hotplug is driven from outside the CPUs (cpu_device_down sleeps on
// the hotplug state machine), so a machine thread that asks gets a typed error and
// nothing changes; bringing up an online CPU changes nothing either.
#[test]
fn bad_input_cpu_down_from_a_machine_thread_is_refused() {
    let m = Arc::new(machine(1000));
    let m2 = m.clone();
    let r = m.run_on(CpuId(0), move |_t| m2.cpu_down(CpuId(1))).unwrap();
    assert_eq!(r, Err(IrqError::WrongContext("cpu_down from a machine thread")));
    assert!(m.sys().cpu(CpuId(1)).unwrap().online());
    assert_eq!(m.cpu_up(CpuId(1)), Ok(()));
    assert!(m.sys().online_mask().contains(CpuId(1)));
}
