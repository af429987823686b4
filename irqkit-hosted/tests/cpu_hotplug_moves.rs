//! Threads preempted at interrupt exit move off CPUs going down (kernel/sched/core.c
//! `balance_push`, kernel/stop_machine.c): a stress run where spinning threads use
//! every per-CPU primitive while CPUs go down and come back. Each section that must
//! stay on one CPU (irq-off, preempt-off, bh-off) checks that it did, and every
//! deferred item raised along the way runs exactly once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use irqkit_core::irq_work::IrqWork;
use irqkit_core::sched::{Affinity, KthreadSpec, ThreadState};
use irqkit_core::tasklet::Tasklet;
use irqkit_core::workqueue::{Work, WQ_PERCPU};
use irqkit_core::{CpuId, CpuMask, IrqSystem};
use irqkit_hosted::{Machine, MachineConfig};

const SPINNERS: usize = 3;
const ROUNDS: usize = 300;

/// What one spinner did: sections that saw their CPU change, deferred items it
/// queued (each `Ok(true)` owes one run), and the CPUs it ran on.
#[derive(Default)]
struct Tally {
    torn: AtomicU64,
    queued: AtomicU64,
    cpus_seen: AtomicU32,
}

/// One round of per-CPU sections, each of which must start and end on one CPU.
fn sections(sys: &IrqSystem, t: &Tally) {
    let here = || sys.current_cpu().unwrap().0;
    let spin = || (0..50).for_each(|_| std::hint::spin_loop());
    let flags = sys.local_irq_save();
    let c = here();
    spin();
    t.torn.fetch_add(u64::from(here() != c), SeqCst);
    sys.local_irq_restore(flags);
    sys.preempt_disable();
    let c = here();
    spin();
    t.torn.fetch_add(u64::from(here() != c), SeqCst);
    sys.preempt_enable();
    sys.local_bh_disable();
    let c = here();
    spin();
    t.torn.fetch_add(u64::from(here() != c), SeqCst);
    sys.local_bh_enable().unwrap();
    t.cpus_seen.fetch_or(1 << here(), SeqCst);
}

// The spinners never sleep and reach a preemption point only where a section ends,
// so cpu_down's reschedule IPI usually preempts them at interrupt exit. Moved there,
// none of their sections may straddle two CPUs, and nothing they queued may be lost.
#[test]
fn per_cpu_sections_hold_while_threads_move_off_dying_cpus() {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 1000, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    sys.workqueue_init().unwrap();
    let wq = sys.alloc_workqueue("moves", WQ_PERCPU, 0).unwrap();
    let (ran, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let tallies: Vec<Arc<Tally>> = (0..SPINNERS).map(|_| Arc::default()).collect();
    let mut threads = Vec::new();
    for (i, tally) in tallies.iter().enumerate() {
        let (sys2, t, st, wq) = (sys.clone(), tally.clone(), stop.clone(), wq.clone());
        let r = ran.clone();
        let tasklet = Tasklet::new(move |_| {
            r.fetch_add(1, SeqCst);
        });
        let r = ran.clone();
        let iw = IrqWork::new(move |_, _, _| {
            r.fetch_add(1, SeqCst);
        });
        let r = ran.clone();
        let work = Work::new(move |_, _, _| {
            r.fetch_add(1, SeqCst);
        });
        let spec = KthreadSpec::bound(format!("mover/{i}"), CpuId(1 + i as u32));
        let th = m
            .spawn(spec, move |task| {
                let me = sys2.current_thread().unwrap();
                // CPUs 1-3, which go down in turn: each round pushes somebody off.
                let mut mask = CpuMask::first_n(4);
                mask.clear(CpuId(0));
                me.set_affinity(Affinity::Unbound(mask));
                let mut n = 0u64;
                while !st.load(SeqCst) {
                    sections(&sys2, &t);
                    n += 1;
                    let owed = match n % 3 {
                        0 => tasklet.schedule(&sys2).unwrap(),
                        1 => sys2.irq_work_queue(&iw).unwrap(),
                        _ => sys2.queue_work(&wq, &work).unwrap(),
                    };
                    t.queued.fetch_add(u64::from(owed), SeqCst);
                }
                // Everything queued has run before the thread reports done.
                while sys2.flush_work(task, &work).unwrap_or(false) {}
                tasklet.kill(&sys2, task).unwrap();
                while iw.is_busy() {
                    std::hint::spin_loop();
                }
            })
            .unwrap();
        threads.push(th);
    }
    common::wait_until("spinners started", || {
        tallies.iter().all(|t| t.cpus_seen.load(SeqCst) != 0)
    });
    for round in 0..ROUNDS {
        let cpu = CpuId(1 + (round % 3) as u32);
        m.cpu_down(cpu).unwrap();
        for th in &threads {
            assert!(
                th.cpu() != cpu || th.state() == ThreadState::Dead,
                "{} still placed on {cpu:?} after cpu_down",
                th.name()
            );
        }
        m.cpu_up(cpu).unwrap();
    }
    stop.store(true, SeqCst);
    for th in &threads {
        common::wait_until("spinner finished", || th.state() == ThreadState::Dead);
    }
    assert!(m.panics().is_empty(), "{:?}", m.panics());
    let torn: u64 = tallies.iter().map(|t| t.torn.load(SeqCst)).sum();
    assert_eq!(torn, 0, "a per-CPU section ran on two CPUs");
    let queued: u64 = tallies.iter().map(|t| t.queued.load(SeqCst)).sum();
    assert_eq!(ran.load(SeqCst), queued, "each queued item runs exactly once");
    // The spinners really moved: each ran on all three CPUs it may use.
    for t in &tallies {
        assert_eq!(t.cpus_seen.load(SeqCst), 0b1110, "a spinner stayed off a CPU");
    }
}
