//! Scheduler rules on the hosted machine (kernel/sched/core.c, kernel/sched/rt.c):
//! one thread per CPU at a time, FIFO above normal with preemption at interrupt exit,
//! normal threads time-sliced by the tick, wait queues that never lose a wake-up.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use irqkit_core::sched::{Affinity, KthreadSpec, Policy, WaitQueue};
use irqkit_core::{CpuId, CpuMask};
use irqkit_hosted::{Machine, MachineConfig};

#[test]
fn two_threads_bound_to_one_cpu_never_run_at_the_same_time() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    let on_cpu = Arc::new(AtomicUsize::new(0));
    let violations = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let rounds = Arc::new(AtomicU64::new(0));
    for id in 1..=3usize {
        let (oc, v, st, d, r) =
            (on_cpu.clone(), violations.clone(), stop.clone(), done.clone(), rounds.clone());
        let sys = m.sys().clone();
        m.spawn(KthreadSpec::bound(format!("excl/{id}"), CpuId(0)), move |_t| {
            let me = sys.current_thread().unwrap();
            while !st.load(Ordering::SeqCst) {
                let switches = me.nvcsw() + me.nivcsw();
                oc.store(id, Ordering::SeqCst);
                for _ in 0..200 {
                    if oc.load(Ordering::SeqCst) != id && me.nvcsw() + me.nivcsw() == switches {
                        // Someone else ran on CPU 0 while we never left it.
                        v.fetch_add(1, Ordering::SeqCst);
                    }
                    std::hint::spin_loop();
                }
                r.fetch_add(1, Ordering::Relaxed);
            }
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    // Run until the tick has time-sliced the three threads many times.
    common::wait_until("preemptions", || m.stats(CpuId(0)).unwrap().preemptions >= 200);
    stop.store(true, Ordering::SeqCst);
    common::wait_until("threads done", || done.load(Ordering::SeqCst) == 3);
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    assert!(rounds.load(Ordering::Relaxed) > 0);
}

#[test]
fn fifo_thread_that_wakes_preempts_a_normal_thread_at_the_next_interrupt_exit() {
    // hz 0 here means "slow tick": the preemption must come from the reschedule IPI.
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    let fifo_ran = Arc::new(AtomicBool::new(false));
    let spinning = Arc::new(AtomicBool::new(false));
    let (fr, sp) = (fifo_ran.clone(), spinning.clone());
    let sys = m.sys().clone();
    let normal = m
        .spawn(KthreadSpec::bound("hog/1", CpuId(1)), move |_t| {
            sp.store(true, Ordering::SeqCst);
            // Never yields: only preemption lets the FIFO thread onto CPU 1.
            while !fr.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    common::wait_until("hog running", || spinning.load(Ordering::SeqCst));
    let fr = fifo_ran.clone();
    let fifo = KthreadSpec::bound("rt/1", CpuId(1)).policy(Policy::Fifo(50));
    m.spawn(fifo, move |_t| {
        assert_eq!(sys.current_cpu(), Some(CpuId(1)));
        fr.store(true, Ordering::SeqCst);
    })
    .unwrap();
    common::wait_until("fifo ran", || fifo_ran.load(Ordering::SeqCst));
    common::wait_until("hog finished", || normal.state() == irqkit_core::sched::ThreadState::Dead);
    assert!(normal.nivcsw() >= 1, "the normal thread was preempted, not yielded");
    assert!(m.stats(CpuId(1)).unwrap().resched_ipis >= 1);
}

/// Wakes a FIFO thread bound to CPU 1 that spins until `leave` (the second flag) is
/// set; the first flag tells that it runs.
fn spawn_fifo_spinner(m: &Machine) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let (in_fifo, leave) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (inf, lv) = (in_fifo.clone(), leave.clone());
    let fifo = KthreadSpec::bound("rt/1", CpuId(1)).policy(Policy::Fifo(50));
    m.spawn(fifo, move |_t| {
        inf.store(true, Ordering::SeqCst);
        while !lv.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    })
    .unwrap();
    (in_fifo, leave)
}

// kernel/sched/core.c set_cpus_allowed_ptr: a task preempted on a CPU its new
// affinity excludes moves to an allowed one (a queued task at once). irqkit's
// per-CPU accesses find the CPU and then use it, so only a thread preempted at
// interrupt exit inside one (a pinned access, `cpu::pin`) must resume where it was;
// this hog spins in plain code, so its preemption leaves it free to move.
#[test]
fn a_thread_preempted_at_interrupt_exit_moves_when_its_affinity_drops_the_cpu() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    let (spinning, release, moved) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let (sp, rel, mv, sys) = (spinning.clone(), release.clone(), moved.clone(), m.sys().clone());
    let normal = m
        .spawn(KthreadSpec::bound("hog/1", CpuId(1)), move |_t| {
            let me = sys.current_thread().unwrap();
            me.set_affinity(Affinity::Unbound(CpuMask::first_n(2)));
            sp.store(true, Ordering::SeqCst);
            // No preemption point: it leaves CPU 1 only by preemption at irq exit.
            while !rel.load(Ordering::SeqCst) {
                if sys.current_cpu() != Some(CpuId(1)) {
                    mv.fetch_add(1, Ordering::SeqCst);
                }
                std::hint::spin_loop();
            }
        })
        .unwrap();
    common::wait_until("hog running", || spinning.load(Ordering::SeqCst));
    let (in_fifo, leave) = spawn_fifo_spinner(&m);
    common::wait_until("fifo thread preempted the hog", || in_fifo.load(Ordering::SeqCst));
    assert!(!normal.pinned_by_irq_preemption(), "preempted outside a per-CPU access");
    normal.set_affinity(Affinity::Unbound(CpuMask::single(CpuId(0))));
    assert!(m.sys().migrate_queued_thread(&normal), "the queued hog stayed on cpu 1");
    common::wait_until("the hog runs on cpu 0", || moved.load(Ordering::SeqCst) > 0);
    leave.store(true, Ordering::SeqCst);
    release.store(true, Ordering::SeqCst);
    common::wait_until("hog finished", || normal.state() == irqkit_core::sched::ThreadState::Dead);
}

// kernel/sched/core.c __set_cpus_allowed_ptr: a task running on a CPU its new mask
// excludes is moved at once (by the stopper), not at its next sleep. The hog has
// no preemption point and there is no tick: only set_cpus_allowed's reschedule IPI,
// and the move at that interrupt's exit, can get it onto CPU 0.
#[test]
fn set_cpus_allowed_moves_a_running_thread_at_once() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    let (on, release) = (Arc::new(AtomicU64::new(u64::MAX)), Arc::new(AtomicBool::new(false)));
    let (o, rel, sys) = (on.clone(), release.clone(), m.sys().clone());
    let hog = m
        .spawn(KthreadSpec::bound("hog/1", CpuId(1)), move |_t| {
            let me = sys.current_thread().unwrap();
            me.set_affinity(Affinity::Unbound(CpuMask::first_n(2)));
            while !rel.load(Ordering::SeqCst) {
                o.store(u64::from(sys.current_cpu().unwrap().0), Ordering::SeqCst);
                std::hint::spin_loop();
            }
        })
        .unwrap();
    common::wait_until("hog runs on cpu 1", || on.load(Ordering::SeqCst) == 1);
    m.sys().set_cpus_allowed(&hog, Affinity::Unbound(CpuMask::single(CpuId(0))));
    common::wait_until("hog runs on cpu 0", || on.load(Ordering::SeqCst) == 0);
    assert_eq!(hog.cpu(), CpuId(0));
    release.store(true, Ordering::SeqCst);
    common::wait_until("hog finished", || hog.state() == irqkit_core::sched::ThreadState::Dead);
}

// The other side of the rule above: a thread preempted at interrupt exit inside a
// per-CPU access resumes on its CPU. Here the access is the hog's
// local_irq_restore, whose replay delivers the reschedule IPI that arrived while
// it was masked; the preemption happens inside the restore, before it returns.
#[test]
fn a_thread_preempted_inside_a_per_cpu_access_resumes_on_its_cpu() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    let (masked, unmask, release, cpu_after) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(u64::MAX)),
    );
    let (mk, um, rel, ca, sys) =
        (masked.clone(), unmask.clone(), release.clone(), cpu_after.clone(), m.sys().clone());
    let normal = m
        .spawn(KthreadSpec::bound("hog/1", CpuId(1)), move |_t| {
            let me = sys.current_thread().unwrap();
            me.set_affinity(Affinity::Unbound(CpuMask::first_n(2)));
            let flags = sys.local_irq_save();
            mk.store(true, Ordering::SeqCst);
            while !um.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            sys.local_irq_restore(flags);
            ca.store(u64::from(sys.current_cpu().unwrap().0), Ordering::SeqCst);
            while !rel.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    common::wait_until("hog masked", || masked.load(Ordering::SeqCst));
    let (in_fifo, leave) = spawn_fifo_spinner(&m);
    // The wake-up's reschedule IPI is waiting behind the hog's mask.
    let cpu1 = m.sys().cpu(CpuId(1)).unwrap();
    common::wait_until("the IPI deferred", || cpu1.irq_deferred());
    unmask.store(true, Ordering::SeqCst);
    common::wait_until("fifo thread preempted the hog", || in_fifo.load(Ordering::SeqCst));
    assert!(normal.pinned_by_irq_preemption(), "preempted inside local_irq_restore");
    // CPU 1 is no longer allowed: a thread switched out anywhere else would move now.
    normal.set_affinity(Affinity::Unbound(CpuMask::single(CpuId(0))));
    assert!(!m.sys().migrate_queued_thread(&normal), "moved a thread preempted mid-access");
    leave.store(true, Ordering::SeqCst);
    common::wait_until("the hog resumed", || cpu_after.load(Ordering::SeqCst) != u64::MAX);
    assert_eq!(cpu_after.load(Ordering::SeqCst), 1, "the hog resumed on another CPU");
    release.store(true, Ordering::SeqCst);
    common::wait_until("hog finished", || normal.state() == irqkit_core::sched::ThreadState::Dead);
}

#[test]
fn wait_queue_wakeups_are_never_lost() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 250, ..Default::default() }).unwrap();
    let wq = Arc::new(WaitQueue::new());
    let produced = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    const N: u64 = 20_000;
    let (w, p, c) = (wq.clone(), produced.clone(), consumed.clone());
    let sys = m.sys().clone();
    m.spawn(KthreadSpec::bound("consumer/0", CpuId(0)), move |t| {
        while c.load(Ordering::SeqCst) < N {
            let seen = c.load(Ordering::SeqCst);
            w.wait_event(&sys, t, || p.load(Ordering::SeqCst) > seen).unwrap();
            c.store(p.load(Ordering::SeqCst), Ordering::SeqCst);
        }
    })
    .unwrap();
    let (w, p) = (wq.clone(), produced.clone());
    let sys = m.sys().clone();
    let c2 = consumed.clone();
    m.run_on(CpuId(1), move |_t| {
        for i in 1..=N {
            p.store(i, Ordering::SeqCst);
            w.wake_all(&sys);
            // Let the consumer catch up now and then so it really sleeps.
            if i % 64 == 0 {
                while c2.load(Ordering::SeqCst) < i {
                    std::hint::spin_loop();
                }
            }
        }
    })
    .unwrap();
    common::wait_until("consumer caught up", || consumed.load(Ordering::SeqCst) == N);
}

#[test]
fn normal_threads_share_a_cpu_round_robin() {
    let m = Machine::new(MachineConfig { nr_cpus: 1, hz: 1000, ..Default::default() }).unwrap();
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..2).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..2usize {
        let (c, s, d) = (counts.clone(), stop.clone(), done.clone());
        m.spawn(KthreadSpec::bound(format!("rr/{i}"), CpuId(0)), move |_t| {
            while !s.load(Ordering::SeqCst) {
                c[i].fetch_add(1, Ordering::Relaxed);
            }
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    common::wait_until("both ran", || counts.iter().all(|c| c.load(Ordering::Relaxed) > 1000));
    common::wait_until("slices", || m.stats(CpuId(0)).unwrap().preemptions >= 20);
    stop.store(true, Ordering::SeqCst);
    common::wait_until("done", || done.load(Ordering::SeqCst) == 2);
}
