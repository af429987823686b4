//! Per-NUMA-node max_active of unbound workqueues and the default-pool fallback on
//! the hosted machine (kernel/workqueue.c `wq_update_node_max_active`,
//! `pwq_tryinc_nr_active`, `pwq_dec_nr_active`, `node_activate_pending_pwq`,
//! `wq_calc_pod_cpumask`, `unbound_wq_update_pwq`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use irqkit_core::timer::msleep;
use irqkit_core::workqueue::*;
use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

/// 4 CPUs; `node_of(cpu)` gives the node, LLCs are {0,1} and {2,3}.
fn machine(node_of: fn(u32) -> u32) -> Machine {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 1000, ..Default::default() }).unwrap();
    let topo = CpuTopology {
        cpus: (0..4).map(|c| CpuTopo { core: c, llc: c / 2, node: node_of(c) }).collect(),
    };
    m.sys().wq_set_cpu_topology(topo).unwrap();
    m
}

/// Counts the works running now and the most seen at once.
#[derive(Default)]
struct Gauge {
    now: AtomicU32,
    peak: AtomicU32,
}

impl Gauge {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Opens a gate when dropped, so a failing assertion cannot leave works waiting.
struct OpenOnDrop(Arc<AtomicBool>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A work that counts itself in `gauge`, logs `tag` when it starts, and sleeps
/// (1 ms at a time) until `gate` opens.
fn gated(
    gauge: &Arc<Gauge>,
    gate: &Arc<AtomicBool>,
    log: &Arc<Mutex<Vec<String>>>,
    tag: &str,
) -> Work {
    let (gauge, gate, log, tag) = (gauge.clone(), gate.clone(), log.clone(), tag.to_string());
    Work::new(move |s, _w, t| {
        gauge.enter();
        log.lock().unwrap().push(tag.clone());
        while !gate.load(Ordering::SeqCst) {
            msleep(s, t, 1).unwrap();
        }
        gauge.leave();
    })
}

/// `flush_workqueue` from a task on CPU 0.
/// An unbound workqueue with one strict pod per cache ({0,1} and {2,3} here).
fn pod_wq(sys: &Arc<irqkit_core::IrqSystem>, name: &str, max_active: i32) -> Workqueue {
    let wq = sys.alloc_workqueue(name, WQ_UNBOUND, max_active).unwrap();
    sys.workqueue_set_affinity_scope(&wq, AffinityScope::Cache, true).unwrap();
    wq
}

fn flush(m: &Machine, wq: &Workqueue) {
    let (s, wq) = (m.sys().clone(), wq.clone());
    m.run_on(CpuId(0), move |t| s.flush_workqueue(t, &wq).unwrap()).unwrap();
}

fn node_max(m: &Machine, wq: &Workqueue) -> Vec<(Option<u32>, u32)> {
    m.sys().workqueue_node_nr_active(wq).into_iter().map(|(n, _a, max)| (n, max)).collect()
}

// kernel/workqueue.c wq_update_node_max_active: each node's limit is max_active
// scaled by its share of the online CPUs, clamped to [min_active, max_active];
// NUMA_NO_NODE gets max_active; CPU offline recomputes it.
#[test]
fn node_max_active_follows_each_nodes_share_of_online_cpus() {
    // Node 0: CPUs 0-2; node 1: CPU 3.
    let m = machine(|c| (c == 3) as u32);
    let wq = m.sys().alloc_workqueue("nodes", WQ_UNBOUND, 40).unwrap();
    // ⌈40 × 3/4⌉ = 30, ⌈40 × 1/4⌉ = 10.
    assert_eq!(node_max(&m, &wq), [(Some(0), 30), (Some(1), 10), (None, 40)]);
    // min_active = min(max_active, 8) keeps a small node going: ⌈16 / 4⌉ = 4 → 8.
    m.sys().workqueue_set_max_active(&wq, 16);
    assert_eq!(node_max(&m, &wq), [(Some(0), 12), (Some(1), 8), (None, 16)]);
    m.sys().workqueue_set_max_active(&wq, 40);
    m.cpu_down(CpuId(2)).unwrap();
    // Three CPUs online: ⌈40 × 2/3⌉ = 27, ⌈40 × 1/3⌉ = 14.
    assert_eq!(node_max(&m, &wq), [(Some(0), 27), (Some(1), 14), (None, 40)]);
    m.cpu_up(CpuId(2)).unwrap();
    assert_eq!(node_max(&m, &wq), [(Some(0), 30), (Some(1), 10), (None, 40)]);
    assert!(m.sys().wq_dump().contains("node_nr_active node0 0/30 node1 0/10 dfl 0/40"));
}

// kernel/workqueue.c pwq_tryinc_nr_active: the two pod pools of one node share the
// node's limit — never more active works across them than the node allows (Linux
// counts them in one wq_node_nr_active; per-pool limits would allow twice as many).
#[test]
fn pod_pools_of_one_node_share_the_node_limit() {
    let m = machine(|_| 0);
    let sys = m.sys().clone();
    let wq = pod_wq(&sys, "shared", 3);
    assert_eq!(node_max(&m, &wq)[0], (Some(0), 3));
    let (gauge, gate, log) =
        (Arc::new(Gauge::default()), Arc::new(AtomicBool::new(false)), Arc::default());
    let _open = OpenOnDrop(gate.clone());
    let works: Vec<(u32, Work)> = (0..12)
        .map(|i| (if i % 2 == 0 { 0 } else { 2 }, gated(&gauge, &gate, &log, "w")))
        .collect();
    for (cpu, w) in works.iter() {
        assert_eq!(sys.queue_work_on(Some(CpuId(*cpu)), &wq, w), Ok(true));
    }
    common::wait_until("the node's 3 slots in use", || gauge.now.load(Ordering::SeqCst) == 3);
    // Both pools have waiting works; give them time to overstep (they must not).
    std::thread::sleep(std::time::Duration::from_millis(50));
    let active: Vec<u32> = sys.workqueue_node_nr_active(&wq).iter().map(|e| e.1).collect();
    assert_eq!(active[0], 3, "{active:?}");
    gate.store(true, Ordering::SeqCst);
    flush(&m, &wq);
    assert_eq!(log.lock().unwrap().len(), 12, "nothing lost");
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 3, "never above the node's limit");
}

// kernel/workqueue.c pwq_dec_nr_active + node_activate_pending_pwq: a slot freed on
// one pool goes to the pwq waiting on another pool of the same node, and waiting
// pwqs take turns (round-robin), so nothing is stranded.
#[test]
fn freed_slot_activates_the_pending_pwq_of_another_pool_round_robin() {
    let m = machine(|_| 0);
    let sys = m.sys().clone();
    let wq = pod_wq(&sys, "turns", 1);
    let (gauge, log) = (Arc::new(Gauge::default()), Arc::new(Mutex::new(Vec::new())));
    let gates: Vec<Arc<AtomicBool>> = (0..5).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let _open: Vec<OpenOnDrop> = gates.iter().map(|g| OpenOnDrop(g.clone())).collect();
    // a* on the pod {0,1} pool, b* on the pod {2,3} pool.
    let plan = [("a1", 0), ("a2", 0), ("a3", 1), ("b1", 2), ("b2", 3)];
    let works: Vec<Work> =
        plan.iter().zip(gates.iter()).map(|((tag, _), g)| gated(&gauge, g, &log, tag)).collect();
    for ((tag, cpu), w) in plan.iter().zip(works.iter()) {
        sys.queue_work_on(Some(CpuId(*cpu)), &wq, w).unwrap();
        // workqueue_congested takes the pool's lock, which moves in what the
        // lock-free path left on the pool's ring: the pwqs join the node's line in
        // queueing order (a2 waits before b1 does).
        if *tag != "a1" {
            assert!(sys.workqueue_congested(Some(CpuId(*cpu)), &wq), "{tag} waits");
        }
    }
    // Each work runs alone; opening its gate hands the one slot to the next in turn.
    let order = ["a1", "a2", "b1", "a3", "b2"];
    for (i, tag) in order.iter().enumerate() {
        common::wait_until("the next work started", || log.lock().unwrap().len() == i + 1);
        let seen = log.lock().unwrap().clone();
        assert_eq!(seen[i], *tag, "{seen:?}");
        let k = plan.iter().position(|p| p.0 == *tag).unwrap();
        gates[k].store(true, Ordering::SeqCst);
    }
    flush(&m, &wq);
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 1);
}

// kernel/workqueue.c workqueue_set_max_active → wq_update_node_max_active: a raised
// limit activates waiting works at once, across the node's pools.
#[test]
fn set_max_active_increase_activates_waiting_works() {
    let m = machine(|_| 0);
    let sys = m.sys().clone();
    let wq = pod_wq(&sys, "raise", 1);
    let (gauge, gate, log) =
        (Arc::new(Gauge::default()), Arc::new(AtomicBool::new(false)), Arc::default());
    let _open = OpenOnDrop(gate.clone());
    let works: Vec<Work> = (0..6).map(|_| gated(&gauge, &gate, &log, "w")).collect();
    for (i, w) in works.iter().enumerate() {
        sys.queue_work_on(Some(CpuId(i as u32 % 4)), &wq, w).unwrap();
    }
    common::wait_until("one active", || gauge.now.load(Ordering::SeqCst) == 1);
    sys.workqueue_set_max_active(&wq, 4);
    common::wait_until("four active", || gauge.now.load(Ordering::SeqCst) == 4);
    gate.store(true, Ordering::SeqCst);
    flush(&m, &wq);
    assert_eq!(log.lock().unwrap().len(), 6);
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 4);
}

// kernel/workqueue.c workqueue_set_max_active + pwq_tryinc_nr_active: once the
// limit is lowered, at most the new limit run at once, even on pools that ran more
// before (no slot they held outlives the change).
#[test]
fn set_max_active_decrease_holds_new_works_to_the_new_limit() {
    let m = machine(|_| 0);
    let sys = m.sys().clone();
    let wq = pod_wq(&sys, "lower", 4);
    let log = Arc::default();
    let (first, first_gate) = (Arc::new(Gauge::default()), Arc::new(AtomicBool::new(false)));
    let _open1 = OpenOnDrop(first_gate.clone());
    let old: Vec<Work> = (0..4).map(|_| gated(&first, &first_gate, &log, "old")).collect();
    for (i, w) in old.iter().enumerate() {
        sys.queue_work_on(Some(CpuId(i as u32 % 4)), &wq, w).unwrap();
    }
    common::wait_until("four active", || first.now.load(Ordering::SeqCst) == 4);
    sys.workqueue_set_max_active(&wq, 2);
    first_gate.store(true, Ordering::SeqCst);
    flush(&m, &wq);
    let (second, gate) = (Arc::new(Gauge::default()), Arc::new(AtomicBool::new(false)));
    let _open2 = OpenOnDrop(gate.clone());
    let new: Vec<Work> = (0..6).map(|_| gated(&second, &gate, &log, "new")).collect();
    for (i, w) in new.iter().enumerate() {
        sys.queue_work_on(Some(CpuId(i as u32 % 4)), &wq, w).unwrap();
    }
    common::wait_until("two active", || second.now.load(Ordering::SeqCst) >= 2);
    // Both pools have waiting works; give them time to overstep (they must not).
    std::thread::sleep(std::time::Duration::from_millis(50));
    gate.store(true, Ordering::SeqCst);
    flush(&m, &wq);
    assert_eq!(log.lock().unwrap().len(), 10, "nothing lost");
    assert_eq!(second.peak.load(Ordering::SeqCst), 2, "never above the lowered limit");
}

/// The pool id in the name of the kworker running the caller (`kworker/uP:M`).
fn my_pool(s: &irqkit_core::IrqSystem) -> String {
    let name = s.current_thread().unwrap().name();
    name.trim_start_matches("kworker/u").split(':').next().unwrap().to_string()
}

// kernel/workqueue.c wq_calc_pod_cpumask + unbound_wq_update_pwq: a pod with no
// online CPU is served by the default pwq (whose pool spans the workqueue's whole
// cpumask); when a CPU of the pod returns, its own pool serves it again.
#[test]
fn offline_pod_queues_to_the_default_pwq_until_a_cpu_returns() {
    let m = machine(|_| 0);
    let sys = m.sys().clone();
    let wq = pod_wq(&sys, "dflpwq", 0);
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r2 = ran.clone();
    let w = Work::new(move |s, _w, _t| {
        r2.lock().unwrap().push((s.current_cpu().unwrap().0, my_pool(s)));
    });
    let run_for = |cpu: u32| {
        let n = ran.lock().unwrap().len();
        sys.queue_work_on(Some(CpuId(cpu)), &wq, &w).unwrap();
        common::wait_until("work ran", || ran.lock().unwrap().len() == n + 1);
        ran.lock().unwrap()[n].clone()
    };
    let (cpu, pod_pool) = run_for(2);
    assert!(cpu >= 2, "the pod {{2,3}} pool runs it on the pod: CPU {cpu}");
    m.cpu_down(CpuId(3)).unwrap();
    m.cpu_down(CpuId(2)).unwrap();
    let a = sys.workqueue_attrs(&wq).unwrap();
    assert!(a.pods.contains(&mask(&[0, 1, 2, 3])), "the default pool is in use: {:?}", a.pods);
    let (cpu, dfl_pool) = run_for(2);
    assert_ne!(dfl_pool, pod_pool, "queued for CPU 2 while its pod is offline");
    assert!(cpu < 2, "ran on an online CPU: {cpu}");
    assert!(sys.wq_dump().contains("unbound pod 0-3 strict"));
    m.cpu_up(CpuId(3)).unwrap();
    let (mut cpu, back) = run_for(2);
    assert_eq!(back, pod_pool, "the pod's own pool again once CPU 3 is back");
    // A worker's affinity change takes effect at its next wake-up here (mod.rs,
    // departures): one still awake from the offline period may run the first
    // items where it is; once it sleeps and wakes it is on the pod's CPU.
    for _ in 0..50 {
        if cpu == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        cpu = run_for(2).0;
    }
    assert_eq!(cpu, 3, "the pod's only online CPU");
    m.cpu_up(CpuId(2)).unwrap();
}

fn mask(cpus: &[u32]) -> irqkit_core::cpu::CpuMask {
    let mut m = irqkit_core::cpu::CpuMask::new();
    for c in cpus {
        m.set(CpuId(*c));
    }
    m
}
