//! Workqueue CPU hotplug on the hosted machine (kernel/workqueue.c
//! `workqueue_offline_cpu` / `unbind_workers`, `workqueue_online_cpu` /
//! `rebind_workers`; kernel/smpboot.c per-CPU threads): a per-CPU pool whose CPU goes
//! offline keeps running its work with unbound workers, and binds again on return.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use irqkit_core::sched::{Affinity, KthreadSpec, ThreadState};
use irqkit_core::workqueue::*;
use irqkit_core::{CpuId, IrqError};
use irqkit_hosted::{Machine, MachineConfig};

fn machine() -> Machine {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    m.sys().workqueue_init().unwrap();
    m
}

/// The normal per-CPU pool's kworkers of `cpu` (`kworker/N:M`, not highpri).
fn pool_workers(m: &Machine, cpu: u32) -> Vec<Arc<irqkit_core::sched::Thread>> {
    let prefix = format!("kworker/{cpu}:");
    m.sys()
        .threads()
        .into_iter()
        .filter(|t| t.name().starts_with(&prefix) && !t.name().ends_with('H'))
        .filter(|t| t.state() != ThreadState::Dead)
        .collect()
}

/// Opens a gate when dropped, so a failing assertion cannot leave a work spinning
/// on a CPU (which would keep the machine from shutting down).
struct OpenOnDrop(Arc<AtomicBool>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A work that reports it started and then spins until its gate opens; returns the
/// work, its "started" flag and its gate.
fn blocker() -> (Work, Arc<AtomicBool>, Arc<AtomicBool>) {
    let (started, gate) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (s2, g2) = (started.clone(), gate.clone());
    let w = Work::new(move |_s, _w, _t| {
        s2.store(true, Ordering::SeqCst);
        while !g2.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    });
    (w, started, gate)
}

/// A work recording the CPU it ran on.
fn recorder(log: &Arc<Mutex<Vec<u32>>>) -> Work {
    let log = log.clone();
    Work::new(move |sys, _w, _t| log.lock().unwrap().push(sys.current_cpu().unwrap().0))
}

// kernel/workqueue.c unbind_workers: the dead CPU's pool becomes DISASSOCIATED, its
// workers run unbound and execute what was queued before and while the CPU went
// down; rebind_workers binds them to the CPU again when it returns.
#[test]
fn per_cpu_work_runs_across_cpu_down_and_workers_rebind_on_cpu_up() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("hotplug", WQ_PERCPU, 0).unwrap();
    let (blocker, started, gate) = blocker();
    let _open = OpenOnDrop(gate.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let before: Vec<Work> = (0..20).map(|_| recorder(&log)).collect();
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, &blocker), Ok(true));
    common::wait_until("blocker runs on CPU 1", || started.load(Ordering::SeqCst));
    for w in before.iter() {
        assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, w), Ok(true));
    }
    m.cpu_down(CpuId(1)).unwrap();
    // While the CPU is down its pool still takes work.
    let during: Vec<Work> = (0..10).map(|_| recorder(&log)).collect();
    for w in during.iter() {
        assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, w), Ok(true));
    }
    for t in pool_workers(&m, 1) {
        match t.affinity() {
            Affinity::Unbound(mask) => assert!(!mask.contains(CpuId(1)), "{}", t.name()),
            a => panic!("{} still {a:?}", t.name()),
        }
    }
    let dump = sys.wq_dump();
    assert!(dump.contains("pool[06] cpu   1 disassociated nice   0"), "{dump}");
    gate.store(true, Ordering::SeqCst);
    common::wait_until("all 30 works ran", || log.lock().unwrap().len() == 30);
    assert!(before.iter().chain(during.iter()).all(|w| !w.is_pending()));
    let (s3, wq3) = (sys.clone(), wq.clone());
    m.run_on(CpuId(0), move |t| s3.flush_workqueue(t, &wq3)).unwrap().unwrap();
    assert_eq!(log.lock().unwrap().len(), 30, "each ran exactly once");

    m.cpu_up(CpuId(1)).unwrap();
    let workers = pool_workers(&m, 1);
    assert!(!workers.is_empty());
    for t in workers.iter() {
        assert_eq!(t.affinity(), Affinity::Bound(CpuId(1)), "{} rebound", t.name());
    }
    // Once they sleep, the next wake-up puts a worker on CPU 1 again.
    common::wait_until("pool idle", || {
        pool_workers(&m, 1).iter().all(|t| t.state() == ThreadState::Sleeping)
    });
    log.lock().unwrap().clear();
    let after = recorder(&log);
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, &after), Ok(true));
    common::wait_until("work after cpu_up ran", || !log.lock().unwrap().is_empty());
    assert_eq!(*log.lock().unwrap(), [1], "bound to CPU 1 again");
    let dump = sys.wq_dump();
    assert!(dump.contains("pool[06] cpu   1 nice"), "associated again: {dump}");
}

// kernel/smpboot.c: only per-CPU smpboot threads park with their CPU; the decision is
// the thread's flag, not its name. A plain bound thread (even one named like
// ksoftirqd) keeps the CPU online; ksoftirqd/1 itself does not.
// kernel/workqueue.c rebind_workers: set_cpus_allowed_ptr moves each worker of a
// pool whose CPU returns onto that CPU at once, one in the middle of a work too. The
// work below spins without a preemption point on CPU 0 (the pool is disassociated
// while CPU 1 is down); after cpu_up it must find itself on CPU 1 before it ends.
#[test]
fn a_running_worker_moves_back_onto_its_cpu_at_cpu_up() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("rebind", WQ_PERCPU, 0).unwrap();
    m.cpu_down(CpuId(1)).unwrap();
    let (on, gate) = (Arc::new(AtomicU32::new(u32::MAX)), Arc::new(AtomicBool::new(false)));
    let _open = OpenOnDrop(gate.clone());
    let (o, g) = (on.clone(), gate.clone());
    let w = Work::new(move |sys, _w, _t| {
        while !g.load(Ordering::SeqCst) {
            o.store(sys.current_cpu().unwrap().0, Ordering::SeqCst);
            std::hint::spin_loop();
        }
    });
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, &w), Ok(true));
    common::wait_until("the work runs on CPU 0", || on.load(Ordering::SeqCst) == 0);
    m.cpu_up(CpuId(1)).unwrap();
    common::wait_until("the work runs on CPU 1", || on.load(Ordering::SeqCst) == 1);
    gate.store(true, Ordering::SeqCst);
    let (s2, w2) = (sys.clone(), w.clone());
    m.run_on(CpuId(0), move |t| s2.flush_work(t, &w2)).unwrap().unwrap();
    assert_eq!(sys.work_busy(&w), 0);
}

#[test]
fn cpu_down_is_refused_by_a_bound_thread_whatever_its_name() {
    let m = machine();
    let ksoftirqd = m.sys().ksoftirqd(CpuId(1)).unwrap();
    assert!(ksoftirqd.is_percpu_smpboot());
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let sys = m.sys().clone();
    let impostor = m
        .spawn(KthreadSpec::bound("ksoftirqd/9", CpuId(1)), move |t| {
            while !s2.load(Ordering::SeqCst) {
                let _ = irqkit_core::timer::msleep(&sys, t, 1);
            }
        })
        .unwrap();
    assert!(!impostor.is_percpu_smpboot());
    assert!(matches!(m.cpu_down(CpuId(1)), Err(IrqError::Busy(_))));
    assert!(m.sys().cpu(CpuId(1)).unwrap().online(), "nothing changed");
    for t in pool_workers(&m, 1) {
        assert_eq!(t.affinity(), Affinity::Bound(CpuId(1)), "workers bound again");
    }
    stop.store(true, Ordering::SeqCst);
    common::wait_until("impostor exits", || impostor.state() == ThreadState::Dead);
    m.cpu_down(CpuId(1)).unwrap();
    assert!(!m.sys().cpu(CpuId(1)).unwrap().online());
    assert_eq!(m.cpu_down(CpuId(1)), Err(IrqError::CpuOffline(1)));
    m.cpu_up(CpuId(1)).unwrap();
}

// kernel/workqueue.c workqueue_online_cpu only for an online CPU; queueing on an
// offline CPU whose pool was never disassociated is refused, not lost.
#[test]
fn bad_input_hotplug_calls() {
    let m = machine();
    let sys = m.sys();
    assert_eq!(sys.workqueue_online_cpu(CpuId(9)), Err(IrqError::NotFound("no such cpu")));
    assert!(matches!(sys.workqueue_softirq_dead(CpuId(1)), Err(IrqError::Busy(_))));
    assert!(matches!(sys.workqueue_offline_cpu(CpuId(9)), Err(IrqError::NotFound(_))));
    let bh = sys.system_wqs().unwrap().system_bh_wq;
    m.cpu_down(CpuId(1)).unwrap();
    let w = BhWork::new(|_s, _w, _c| {});
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &bh, w.work()), Err(IrqError::CpuOffline(1)));
    assert!(!w.is_pending());
    assert_eq!(sys.workqueue_online_cpu(CpuId(1)), Err(IrqError::CpuOffline(1)));
    m.cpu_up(CpuId(1)).unwrap();
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &bh, w.work()), Ok(true));
}

// kernel/workqueue.c workqueue_offline_cpu runs while the CPU is still in
// cpu_online_mask, so __queue_work never finds a per-CPU pool whose CPU is offline
// but which is not yet DISASSOCIATED. irqkit marks the CPU offline first; queueing
// in that instant is accepted and the work runs (a delayed work's timer firing
// then used to be refused and dropped).
#[test]
fn queueing_in_the_instant_a_cpu_goes_offline_is_accepted_and_runs() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("window", WQ_PERCPU, 0).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let w = recorder(&log);
    // cpu_down's first step, before the pools are disassociated.
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, &w), Ok(true));
    sys.workqueue_offline_cpu(CpuId(1)).unwrap();
    common::wait_until("the work ran", || log.lock().unwrap().len() == 1);
    m.cpu_up(CpuId(1)).unwrap();
    assert_eq!(sys.queue_work_on(Some(CpuId(1)), &wq, &w), Ok(true));
    common::wait_until("the work ran on cpu 1", || log.lock().unwrap().len() == 2);
    assert_eq!(log.lock().unwrap()[1], 1);
}

// kernel/workqueue.c wq_update_pod: a strict unbound pool whose whole pod goes
// offline must not strand its work: its workers may run on the online CPUs until
// the pod returns, then they are confined to the pod again.
#[test]
fn strict_unbound_pool_survives_its_whole_pod_going_offline() {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 1000, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    let topo =
        CpuTopology { cpus: (0..4).map(|c| CpuTopo { core: c, llc: c / 2, node: 0 }).collect() };
    sys.wq_set_cpu_topology(topo).unwrap();
    let wq = sys.alloc_workqueue("pod", WQ_UNBOUND, 0).unwrap();
    sys.workqueue_set_affinity_scope(&wq, AffinityScope::Cache, true).unwrap();
    let (blocker, started, gate) = blocker();
    let _open = OpenOnDrop(gate.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let works: Vec<Work> = (0..10).map(|_| recorder(&log)).collect();
    let (s3, wq3, b3, w3) = (sys.clone(), wq.clone(), blocker.clone(), works.clone());
    m.run_on(CpuId(2), move |_t| {
        s3.queue_work(&wq3, &b3).unwrap();
        for w in w3.iter() {
            s3.queue_work(&wq3, w).unwrap();
        }
    })
    .unwrap();
    common::wait_until("blocker started", || started.load(Ordering::SeqCst));
    common::wait_until("run_on/2 gone", || !sys.thread_names().iter().any(|n| n == "run_on/2"));
    let confined_to = |cpus: &[u32]| {
        sys.threads()
            .into_iter()
            .filter(|t| t.name().starts_with("kworker/u") && t.state() != ThreadState::Dead)
            .filter(|t| t.affinity() == Affinity::Unbound(mask(cpus)))
            .count()
    };
    // The LLC-0 pool's workers are confined to {0,1} already; count them apart.
    let llc0_before = confined_to(&[0, 1]);
    m.cpu_down(CpuId(3)).unwrap();
    m.cpu_down(CpuId(2)).unwrap();
    // A worker the pool's manager is creating right now may still carry the pod; it
    // is re-aimed before it first runs.
    common::wait_until("no worker confined to the offline pod", || confined_to(&[2, 3]) == 0);
    assert!(confined_to(&[0, 1]) > llc0_before, "the pod's workers run on the online CPUs");
    gate.store(true, Ordering::SeqCst);
    common::wait_until("all 10 works ran", || log.lock().unwrap().len() == 10);
    m.cpu_up(CpuId(2)).unwrap();
    m.cpu_up(CpuId(3)).unwrap();
    assert!(confined_to(&[2, 3]) >= 1, "the pod's workers are confined to it again");
    assert!(sys.wq_dump().contains("unbound pod 2-3 strict"));
}

fn mask(cpus: &[u32]) -> irqkit_core::cpu::CpuMask {
    let mut m = irqkit_core::cpu::CpuMask::new();
    for c in cpus {
        m.set(CpuId(*c));
    }
    m
}

// kernel/workqueue.c worker_attach_to_pool / unbind_workers / rebind_workers: a
// worker the manager creates while its CPU goes down or comes back is bound or
// unbound with the rest of the pool (Linux serializes both on
// wq_pool_attach_mutex). A worker in creation must neither stay bound to the dead
// CPU (cpu_down would find a thread bound there and refuse) nor keep the unbound
// affinity once the CPU is back (its pool's work would run on other CPUs).
#[test]
fn workers_created_during_hotplug_follow_the_pool_binding() {
    let m = machine();
    let sys = m.sys().clone();
    // Reaped within milliseconds, so the manager keeps creating workers.
    sys.wq_set_idle_timeout_ms(2);
    let wq = sys.alloc_workqueue("churn", WQ_PERCPU, 0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Sleeping items: each sleep wakes or creates another worker (concurrency
    // management), and the short idle timeout reaps them again.
    let items: Vec<Work> = (0..16)
        .map(|_| Work::new(|s, _w, t| irqkit_core::timer::msleep(s, t, 1).unwrap()))
        .collect();
    let churn = {
        let (sys, wq, stop) = (sys.clone(), wq.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for w in items.iter() {
                    let _ = sys.queue_work_on(Some(CpuId(1)), &wq, w);
                }
                // Then quiet, long enough for the reaper to retire the extra workers.
                while items.iter().any(|w| sys.work_busy(w) != 0) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                std::thread::sleep(std::time::Duration::from_millis(7));
            }
        })
    };
    // While CPU 1 is down its workers may run on CPU 0 only.
    let unbound = Affinity::Unbound(mask(&[0]));
    // Workers created and reaped so far by CPU 1's pool.
    let churned = || {
        let dump = sys.wq_dump();
        let line = dump.lines().find(|l| l.starts_with("pool[06] cpu   1 nice   0")).unwrap();
        let field = |name: &str| -> u64 {
            let mut it = line.split_whitespace().skip_while(|w| *w != name);
            it.nth(1).and_then(|v| v.parse().ok()).unwrap()
        };
        (field("created"), field("reaped"))
    };
    // At least 100 rounds, and on until they raced real churn (a loaded host slows
    // the churn down, not the check).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut round = 0;
    while round < 100 || churned().0 < 20 || churned().1 < 10 {
        assert!(std::time::Instant::now() < deadline, "no churn: {:?}", churned());
        assert_eq!(m.cpu_down(CpuId(1)), Ok(()), "round {round}");
        for t in pool_workers(&m, 1) {
            assert_ne!(t.affinity(), Affinity::Bound(CpuId(1)), "round {round}: {}", t.name());
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
        m.cpu_up(CpuId(1)).unwrap();
        // (A worker the reaper retired just now has left the pool and may be
        // anywhere until it exits; none may keep the offline placement.)
        for t in pool_workers(&m, 1) {
            assert_ne!(t.affinity(), unbound, "round {round}: {}", t.name());
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
        round += 1;
    }
    stop.store(true, Ordering::SeqCst);
    churn.join().unwrap();
}
