//! Workqueue races on the hosted machine (kernel/workqueue.c): two or three
//! operations hammered against each other from host threads and virtual CPUs at
//! once, each checked against Linux's rules with exact counts — queueing against
//! cancel, delayed-work modification against cancel, non-reentrancy across pools,
//! flush against requeueing, destroy against chained and outside queueing, CPU
//! hotplug and the idle reaper against per-CPU queueing, max_active changes and
//! freezing against queueing.
//!
//! Every test waits for conditions that must eventually hold (`common::wait_until`)
//! and asserts counts and orders, never durations: a loaded host only makes the
//! races more varied.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use irqkit_core::timer::msleep;
use irqkit_core::workqueue::*;
use irqkit_core::{CpuId, IrqError, IrqSystem};
use irqkit_hosted::{Machine, MachineConfig};

fn machine(nr_cpus: usize) -> Machine {
    let m = Machine::new(MachineConfig { nr_cpus, hz: 1000, ..Default::default() }).unwrap();
    m.sys().workqueue_init().unwrap();
    m
}

/// A 2-CPU machine and a workqueue `name` with `flags` and `max_active`; an unbound
/// one gets one pod (pool) per CPU, so that queueing on alternating CPUs crosses
/// pools as it does for a per-CPU workqueue.
fn machine_with_wq(
    name: &str,
    flags: u32,
    max_active: i32,
) -> (Machine, Arc<IrqSystem>, Workqueue) {
    let m = machine(2);
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue(name, flags, max_active).unwrap();
    if flags & WQ_UNBOUND != 0 {
        sys.workqueue_set_affinity_scope(&wq, AffinityScope::Cpu, false).unwrap();
    }
    (m, sys, wq)
}

/// A small xorshift generator: varies the interleavings without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Sets its flag when dropped: producers looping until a flag is set stop even if
/// the test panics inside the scope that joins them.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Spins for about `n` pause instructions (keeps a work busy without sleeping).
fn spin(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// Tracks the instances of one work: how many run now (and the most ever at once),
/// how many started and finished, and the epoch each running instance started in.
#[derive(Default)]
struct Runs {
    now: AtomicI64,
    max: AtomicI64,
    started: AtomicU64,
    finished: AtomicU64,
    /// The `epoch` the running instance read when it started, plus one (0: none).
    running_epoch: AtomicU64,
    epoch: AtomicU64,
}

impl Runs {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        self.running_epoch.store(self.epoch.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn exit(&self) {
        self.running_epoch.store(0, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A work whose instances are tracked in `runs`; every 16th instance sleeps a tick
/// (so that it is running while its worker is off the CPU), the others spin a while.
fn tracked_work(runs: &Arc<Runs>) -> Work {
    let r = runs.clone();
    Work::new(move |s, _w, t| {
        r.enter();
        if r.started.load(Ordering::SeqCst).is_multiple_of(16) {
            msleep(s, t, 1).unwrap();
        } else {
            spin(500);
        }
        r.exit();
    })
}

/// Works tracked by [`Runs`], each with its count of queue calls that reported true.
type TrackedSet = Vec<(Work, Arc<Runs>, AtomicU64)>;

fn tracked_set(n: usize) -> TrackedSet {
    (0..n)
        .map(|_| {
            let runs = Arc::new(Runs::default());
            (tracked_work(&runs), runs, AtomicU64::new(0))
        })
        .collect()
}

/// Once the producers are done: every work of `set` ran exactly once per queue call
/// that reported true, and never concurrently with itself.
fn check_tracked_set(m: &Machine, set: &Arc<TrackedSet>, what: &str) {
    common::wait_until("every queued instance ran", || {
        set.iter().all(|(w, r, q)| {
            r.finished.load(Ordering::SeqCst) >= q.load(Ordering::SeqCst) && !w.is_pending()
        })
    });
    let (s, set2) = (m.sys().clone(), set.clone());
    m.run_on(CpuId(0), move |t| {
        for (w, _, _) in set2.iter() {
            s.flush_work(t, w).unwrap();
        }
    })
    .unwrap();
    wait_pools_quiet(m.sys());
    for (i, (_, r, q)) in set.iter().enumerate() {
        let (q, ran) = (q.load(Ordering::SeqCst), r.finished.load(Ordering::SeqCst));
        assert_eq!(ran, q, "{what}: work {i}: {q} queues reported true, {ran} runs");
        let max = r.max.load(Ordering::SeqCst);
        assert!(max <= 1, "{what}: work {i}: {max} instances ran at once");
    }
}

// kernel/workqueue.c queue_work_on / __cancel_work_sync (try_to_grab_pending +
// __flush_work): every queue_work that returned true makes exactly one instance,
// and each instance either runs or is taken off its list by exactly one cancel that
// reports true. So, once nothing is left, runs + cancels reporting true == queues
// reporting true. And cancel_work_sync waits for the running instance: an instance
// that had started before the cancel was called has finished when it returns.
// Producers on host threads and on both CPUs queue on alternating CPUs while
// cancel_work_sync (on a CPU) and cancel_work (from a host thread) race them.
#[test]
fn queue_racing_cancel_balances_runs_and_cancels() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        let (m, sys, wq) = machine_with_wq("qcancel", flags, 0);
        let runs = Arc::new(Runs::default());
        let w = tracked_work(&runs);
        let queued = Arc::new(AtomicU64::new(0));
        let cancelled = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let producer = |seed: u64, n: u32| {
            let (s, wq, w, q) = (sys.clone(), wq.clone(), w.clone(), queued.clone());
            move || {
                let mut rng = Rng::new(seed);
                for _ in 0..n {
                    let cpu = CpuId(rng.below(2) as u32);
                    if s.queue_work_on(Some(cpu), &wq, &w).unwrap() {
                        q.fetch_add(1, Ordering::SeqCst);
                    }
                    spin(rng.below(10_000));
                }
            }
        };
        let stale = Arc::new(AtomicU64::new(0));
        let syncer = {
            let (s, w, c, r, stale, stop) = (
                sys.clone(),
                w.clone(),
                cancelled.clone(),
                runs.clone(),
                stale.clone(),
                stop.clone(),
            );
            move |t: &irqkit_core::cpu::Task| {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    // Instances starting from now read `e`; one that read less had
                    // started before the cancel was called.
                    let e = r.epoch.fetch_add(1, Ordering::SeqCst) + 1;
                    if s.cancel_work_sync(t, &w).unwrap() {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    let cur = r.running_epoch.load(Ordering::SeqCst);
                    if cur != 0 && cur - 1 < e {
                        stale.fetch_add(1, Ordering::SeqCst);
                    }
                    n += 1;
                    if n.is_multiple_of(2) {
                        msleep(&s, t, 1).unwrap();
                    }
                }
                n
            }
        };
        let syncs = std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let hosts: Vec<_> = (0..2).map(|i| sc.spawn(producer(i + 1, 1500))).collect();
            // cancel_work from a host thread, until the producers are done.
            let canceller = {
                let (s, w, c, stop) = (sys.clone(), w.clone(), cancelled.clone(), stop.clone());
                sc.spawn(move || {
                    let mut rng = Rng::new(99);
                    while !stop.load(Ordering::SeqCst) {
                        if s.cancel_work(&w) {
                            c.fetch_add(1, Ordering::SeqCst);
                        }
                        spin(rng.below(200_000));
                    }
                })
            };
            // cancel_work_sync on CPU 0, a producer on CPU 1.
            let m = &m;
            let sync_thread = sc.spawn(move || m.run_on(CpuId(0), syncer).unwrap());
            let p = producer(7, 600);
            m.run_on(CpuId(1), move |_t| p()).unwrap();
            for h in hosts {
                h.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
            canceller.join().unwrap();
            sync_thread.join().unwrap()
        });
        // Whatever is left: one last cancel, then nothing may remain.
        let (s, w2, c) = (sys.clone(), w.clone(), cancelled.clone());
        m.run_on(CpuId(1), move |t| {
            if s.cancel_work_sync(t, &w2).unwrap() {
                c.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        assert_eq!(sys.work_busy(&w), 0, "idle after the last cancel_work_sync");
        let (q, c, r) = (
            queued.load(Ordering::SeqCst),
            cancelled.load(Ordering::SeqCst),
            runs.finished.load(Ordering::SeqCst),
        );
        assert!(syncs > 0 && q > 0);
        assert_eq!(r + c, q, "flags {flags:#x}: {r} runs + {c} cancels != {q} queues");
        assert_eq!(runs.started.load(Ordering::SeqCst), r, "every started instance finished");
        assert!(runs.max.load(Ordering::SeqCst) <= 1, "ran concurrently with itself");
        assert_eq!(
            stale.load(Ordering::SeqCst),
            0,
            "cancel_work_sync returned while an instance started before it still ran"
        );
    }
}

// kernel/workqueue.c queue_delayed_work_on / mod_delayed_work_on /
// cancel_delayed_work (try_to_grab_pending, which takes PENDING from an armed timer
// or a queued instance): queue_delayed_work reporting true makes one instance;
// mod_delayed_work always makes one (the work is never disabled here) and reports
// true iff it took PENDING from an earlier one, which that earlier one then never
// runs; cancel_delayed_work reporting true took one. So, once nothing is left,
// runs + takes == instances made. Delays of 0, 1 and 2 jiffies keep instances
// moving between the timer wheel and the pools while the three race.
#[test]
fn delayed_queue_mod_and_cancel_race_balance() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        let m = machine(2);
        let sys = m.sys().clone();
        let wq = sys.alloc_workqueue("dmod", flags, 0).unwrap();
        let ran = Arc::new(AtomicU64::new(0));
        let r2 = ran.clone();
        let d = DelayedWork::new(move |_s, _w, _t| {
            r2.fetch_add(1, Ordering::SeqCst);
            spin(300);
        });
        let made = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = |seed: u64, n: u32, may_mod: bool| {
            let (s, wq, d, made, taken) =
                (sys.clone(), wq.clone(), d.clone(), made.clone(), taken.clone());
            move || {
                let mut rng = Rng::new(seed);
                for _ in 0..n {
                    let delay = rng.below(3);
                    let cpu = (flags & WQ_PERCPU != 0).then(|| CpuId(rng.below(2) as u32));
                    if may_mod && rng.below(2) == 0 {
                        let was = s.mod_delayed_work_on(cpu, &wq, &d, delay).unwrap();
                        made.fetch_add(1, Ordering::SeqCst);
                        if was {
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                    } else if s.queue_delayed_work_on(cpu, &wq, &d, delay).unwrap() {
                        made.fetch_add(1, Ordering::SeqCst);
                    }
                    spin(rng.below(15_000));
                }
            }
        };
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let hosts: Vec<_> = (0..2).map(|i| sc.spawn(worker(i + 1, 700, i == 0))).collect();
            let canceller = {
                let (s, d, taken, stop) = (sys.clone(), d.clone(), taken.clone(), stop.clone());
                sc.spawn(move || {
                    let mut rng = Rng::new(5);
                    while !stop.load(Ordering::SeqCst) {
                        if s.cancel_delayed_work(&d) {
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                        spin(rng.below(60_000));
                    }
                })
            };
            // Also from a CPU, where the timer wheel runs.
            let p = worker(9, 300, true);
            m.run_on(CpuId(0), move |_t| p()).unwrap();
            for h in hosts {
                h.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
            canceller.join().unwrap();
        });
        let (s, d2, taken2) = (sys.clone(), d.clone(), taken.clone());
        m.run_on(CpuId(1), move |t| {
            if s.cancel_delayed_work_sync(t, &d2).unwrap() {
                taken2.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        assert_eq!(sys.work_busy(d.work()), 0, "idle after cancel_delayed_work_sync");
        assert!(!d.timer().pending());
        let (mk, tk, r) =
            (made.load(Ordering::SeqCst), taken.load(Ordering::SeqCst), ran.load(Ordering::SeqCst));
        assert!(r > 0 && tk > 0);
        assert_eq!(r + tk, mk, "flags {flags:#x}: {r} runs + {tk} takes != {mk} instances");
    }
}

// kernel/workqueue.c __queue_work (a work still running in the pool that last ran
// it is queued there) and assign_work / find_worker_executing_work (it goes to the
// worker already running it): a work never runs concurrently with itself on one
// workqueue, and every queue_work that reported true yields exactly one run (no
// cancels here). Producers on host threads and on both CPUs queue one work on
// alternating CPUs, so its instances keep moving between pools — per-CPU pools,
// and an unbound workqueue's per-CPU pods.
#[test]
fn non_reentrant_across_pools_and_every_queue_runs_once() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        let (m, sys, wq) = machine_with_wq("reent", flags, 0);
        let set = Arc::new(tracked_set(4));
        let producer = |seed: u64, n: u32| {
            let (s, wq, set) = (sys.clone(), wq.clone(), set.clone());
            move || {
                let mut rng = Rng::new(seed);
                for i in 0..n {
                    let cpu = CpuId(((i as u64 + seed) % 2) as u32);
                    let (w, _, q) = &set[rng.below(set.len() as u64) as usize];
                    if s.queue_work_on(Some(cpu), &wq, w).unwrap() {
                        q.fetch_add(1, Ordering::SeqCst);
                    }
                    spin(rng.below(3000));
                }
            }
        };
        std::thread::scope(|sc| {
            let hosts: Vec<_> = (0..2).map(|i| sc.spawn(producer(i + 1, 3000))).collect();
            let m = &m;
            let p0 = producer(11, 1000);
            let on0 = sc.spawn(move || m.run_on(CpuId(0), move |_t| p0()).unwrap());
            let p1 = producer(12, 1000);
            m.run_on(CpuId(1), move |_t| p1()).unwrap();
            on0.join().unwrap();
            for h in hosts {
                h.join().unwrap();
            }
        });
        check_tracked_set(&m, &set, &format!("flags {flags:#x}"));
    }
}

// kernel/workqueue.c __flush_work / __flush_workqueue: flush_work returns only once
// the instance queued before it has finished; flush_workqueue only once every work
// queued before it has. The flusher queues (a shared work that producers requeue all
// the time, and a private one) and flushes, while the producers keep both pools and
// the flush colours busy. `started` counts instances of the shared work in start
// order (they never overlap): the one this flusher queued starts after `s0` was
// read, so once flush_work returns at least `s0 + 1` instances have finished.
#[test]
fn flush_racing_requeue_waits_for_the_instance_queued_before_it() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        let (m, sys, wq) = machine_with_wq("flushrq", flags, 0);
        let runs = Arc::new(Runs::default());
        let shared = tracked_work(&runs);
        // Other works the producers keep requeueing, so that flush colours stay open.
        let noise: Vec<Work> = (0..4)
            .map(|i| {
                Work::new(move |s, _w, t| {
                    if i == 0 {
                        msleep(s, t, 1).unwrap();
                    } else {
                        spin(2000);
                    }
                })
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flushed = Arc::new(AtomicU64::new(0));
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let mut hosts = Vec::new();
            for p in 0..2u64 {
                let (s, wq, w, noise, stop) =
                    (sys.clone(), wq.clone(), shared.clone(), noise.clone(), stop.clone());
                hosts.push(sc.spawn(move || {
                    let mut rng = Rng::new(p + 3);
                    while !stop.load(Ordering::SeqCst) {
                        let cpu = Some(CpuId(rng.below(2) as u32));
                        let _ = s.queue_work_on(cpu, &wq, &w).unwrap();
                        let n = &noise[rng.below(noise.len() as u64) as usize];
                        let _ = s.queue_work_on(cpu, &wq, n).unwrap();
                        spin(rng.below(5000));
                    }
                }));
            }
            let m = &m;
            let mut flushers = Vec::new();
            for c in 0..2u32 {
                let (s, wq, w, runs, flushed) =
                    (sys.clone(), wq.clone(), shared.clone(), runs.clone(), flushed.clone());
                let ran = Arc::new(AtomicU64::new(0));
                let r2 = ran.clone();
                let private = Work::new(move |_s, _w, _t| {
                    r2.fetch_add(1, Ordering::SeqCst);
                });
                flushers.push(sc.spawn(move || {
                    m.run_on(CpuId(c), move |t| {
                        let mut rng = Rng::new(u64::from(c) + 40);
                        for i in 0..40u64 {
                            let cpu = Some(CpuId(rng.below(2) as u32));
                            let s0 = runs.started.load(Ordering::SeqCst);
                            if s.queue_work_on(cpu, &wq, &w).unwrap() {
                                s.flush_work(t, &w).unwrap();
                                let f = runs.finished.load(Ordering::SeqCst);
                                assert!(f > s0, "flush_work returned before its instance ran");
                                flushed.fetch_add(1, Ordering::SeqCst);
                            }
                            // flush_workqueue: the private work, queued before it, ran.
                            assert!(s.queue_work_on(cpu, &wq, &private).unwrap());
                            s.flush_workqueue(t, &wq).unwrap();
                            assert_eq!(ran.load(Ordering::SeqCst), i + 1, "flush_workqueue");
                            assert!(!private.is_pending());
                        }
                    })
                    .unwrap()
                }));
            }
            for f in flushers {
                f.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
            for h in hosts {
                h.join().unwrap();
            }
        });
        assert!(flushed.load(Ordering::SeqCst) > 0);
    }
}

/// A work that counts its runs, and those that started after `after` was set.
struct Counted {
    work: Work,
    runs: Arc<AtomicU64>,
    accepted: AtomicU64,
}

fn counted(after: &Arc<AtomicBool>, late: &Arc<AtomicU64>) -> Counted {
    let runs = Arc::new(AtomicU64::new(0));
    let (r, after, late) = (runs.clone(), after.clone(), late.clone());
    let work = Work::new(move |_s, _w, _t| {
        if after.load(Ordering::SeqCst) {
            late.fetch_add(1, Ordering::SeqCst);
        }
        spin(200);
        r.fetch_add(1, Ordering::SeqCst);
    });
    Counted { work, runs, accepted: AtomicU64::new(0) }
}

// kernel/workqueue.c destroy_workqueue / drain_workqueue / __queue_work: while a
// workqueue is destroyed only chained queueing (from its own running work) is
// allowed, so a self-requeueing chain runs to its end before destroy returns; an
// outside queueing is refused (irqkit: `Busy` while draining, `AlreadyFreed` once
// destroyed, the work left idle) and nothing runs after destroy returns. Outside
// producers on host threads hammer the workqueue throughout; every outside
// queueing that reported true ran before destroy returned, or (it raced the start
// of destroy, which Linux forbids) was dropped with a log line.
#[test]
fn destroy_racing_chained_and_outside_queueing() {
    for round in 0..20 {
        let flags = if round % 2 == 0 { WQ_PERCPU } else { WQ_UNBOUND };
        let m = machine(2);
        let sys = m.sys().clone();
        let wq = sys.alloc_workqueue("destroy", flags, 0).unwrap();
        let destroyed = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicU64::new(0));
        // The chain: runs CHAIN times, each run queueing the next on the other CPU.
        const CHAIN: u64 = 200;
        let chain_runs = Arc::new(AtomicU64::new(0));
        let chain_refused = Arc::new(Mutex::new(Vec::new()));
        let chain = {
            let (wq, runs, refused, destroyed, late) = (
                wq.clone(),
                chain_runs.clone(),
                chain_refused.clone(),
                destroyed.clone(),
                late.clone(),
            );
            Work::new(move |s, me, _t| {
                if destroyed.load(Ordering::SeqCst) {
                    late.fetch_add(1, Ordering::SeqCst);
                }
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                spin(1000);
                if n < CHAIN {
                    let cpu = CpuId(n as u32 % 2);
                    match s.queue_work_on(Some(cpu), &wq, me) {
                        Ok(true) => {}
                        r => refused.lock().unwrap().push(r),
                    }
                }
            })
        };
        let outside: Arc<Vec<Counted>> =
            Arc::new((0..16).map(|_| counted(&destroyed, &late)).collect());
        let bad_results = Arc::new(Mutex::new(Vec::new()));
        assert_eq!(sys.queue_work_on(Some(CpuId(0)), &wq, &chain), Ok(true));
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(destroyed.clone());
            let mut hosts = Vec::new();
            for p in 0..2u64 {
                let (s, wq, outside, destroyed, bad) = (
                    sys.clone(),
                    wq.clone(),
                    outside.clone(),
                    destroyed.clone(),
                    bad_results.clone(),
                );
                hosts.push(sc.spawn(move || {
                    let mut rng = Rng::new(p + 21);
                    let mut after = 0;
                    while after < 3 {
                        let was_destroyed = destroyed.load(Ordering::SeqCst);
                        let c = &outside[rng.below(outside.len() as u64) as usize];
                        let cpu = Some(CpuId(rng.below(2) as u32));
                        let r = s.queue_work_on(cpu, &wq, &c.work);
                        match r {
                            Ok(true) => {
                                c.accepted.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(false) => {}
                            Err(IrqError::Busy("workqueue is draining"))
                            | Err(IrqError::AlreadyFreed("workqueue destroyed")) => {}
                            _ => bad.lock().unwrap().push((was_destroyed, r)),
                        }
                        if was_destroyed {
                            after += 1;
                            if r != Err(IrqError::AlreadyFreed("workqueue destroyed")) {
                                bad.lock().unwrap().push((was_destroyed, r));
                            }
                        }
                        spin(rng.below(20_000));
                    }
                }));
            }
            let (s, wq2, runs, destroyed2) =
                (sys.clone(), wq.clone(), chain_runs.clone(), destroyed.clone());
            m.run_on(CpuId(0), move |t| {
                while runs.load(Ordering::SeqCst) < 20 {
                    msleep(&s, t, 1).unwrap();
                }
                s.destroy_workqueue(t, &wq2).unwrap();
                destroyed2.store(true, Ordering::SeqCst);
            })
            .unwrap();
            for h in hosts {
                h.join().unwrap();
            }
        });
        // Every outside instance has run or been dropped (irqkit counts a dropped
        // instance done, so flush_work returns for it too).
        let (s, out2) = (sys.clone(), outside.clone());
        m.run_on(CpuId(1), move |t| {
            for c in out2.iter() {
                s.flush_work(t, &c.work).unwrap();
            }
        })
        .unwrap();
        let accepted: u64 = outside.iter().map(|c| c.accepted.load(Ordering::SeqCst)).sum();
        let ran: u64 = outside.iter().map(|c| c.runs.load(Ordering::SeqCst)).sum();
        let log = sys.wq_drain_log();
        let dropped_log =
            log.iter().filter(|l| l.contains("queued on a destroyed workqueue")).count();
        assert_eq!(
            *bad_results.lock().unwrap(),
            vec![],
            "flags {flags:#x}: (after destroy, result)"
        );
        assert_eq!(*chain_refused.lock().unwrap(), vec![], "chained queueing refused");
        assert_eq!(chain_runs.load(Ordering::SeqCst), CHAIN, "the chain ran to its end");
        assert_eq!(late.load(Ordering::SeqCst), 0, "flags {flags:#x}: ran after destroy returned");
        // An outside queueing that passed the state check just before destroy began
        // and reached its pool only after the drain (Linux forbids queueing that
        // races destroy_workqueue) is dropped and logged: nothing is lost silently.
        assert!(log.len() < 1000, "the log may have overflowed: {}", log.len());
        assert_eq!(
            ran + dropped_log as u64,
            accepted,
            "flags {flags:#x}: accepted outside works neither ran nor were logged as dropped"
        );
        assert!(outside.iter().all(|c| !c.work.is_pending()));
    }
}

/// Host producers queue works (a quarter of them sleep a tick) on CPU 1 while it
/// goes down and up `rounds` times, with a 2 ms idle timeout so that the manager
/// and the reaper churn workers throughout; the last change leaves CPU 1 offline
/// if `end_down`. Then every queue_work that reported true must have run exactly
/// once, before CPU 1 comes back if it is offline.
fn hotplug_racing_percpu_queueing(rounds: u32, end_down: bool) {
    let m = machine(2);
    let sys = m.sys().clone();
    sys.wq_set_idle_timeout_ms(2);
    let wq = sys.alloc_workqueue("hpq", WQ_PERCPU, 0).unwrap();
    let never = Arc::new(AtomicBool::new(false));
    let unused = Arc::new(AtomicU64::new(0));
    let works: Arc<Vec<Counted>> = Arc::new(
        (0..48)
            .map(|i| {
                if i % 4 == 0 {
                    let runs = Arc::new(AtomicU64::new(0));
                    let r = runs.clone();
                    let work = Work::new(move |s, _w, t| {
                        msleep(s, t, 1).unwrap();
                        r.fetch_add(1, Ordering::SeqCst);
                    });
                    Counted { work, runs, accepted: AtomicU64::new(0) }
                } else {
                    counted(&never, &unused)
                }
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|sc| {
        // A panic here must still stop the producers, or the scope would wait for ever.
        let _stop = SetOnDrop(stop.clone());
        let mut hosts = Vec::new();
        for p in 0..2u64 {
            let (s, wq, works, stop, bad) =
                (sys.clone(), wq.clone(), works.clone(), stop.clone(), bad.clone());
            hosts.push(sc.spawn(move || {
                let mut rng = Rng::new(p + 77);
                while !stop.load(Ordering::SeqCst) {
                    let c = &works[rng.below(works.len() as u64) as usize];
                    match s.queue_work_on(Some(CpuId(1)), &wq, &c.work) {
                        Ok(true) => {
                            c.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        // Never CpuOffline: the pool has workers, bound or not.
                        Ok(false) => {}
                        Err(e) => bad.lock().unwrap().push(e),
                    }
                    spin(rng.below(8000));
                }
            }));
        }
        let mut rng = Rng::new(3);
        for round in 0..rounds {
            assert_eq!(m.cpu_down(CpuId(1)), Ok(()), "round {round}");
            std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
            m.cpu_up(CpuId(1)).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
        }
        if end_down {
            // The last change takes CPU 1 down while the producers still queue.
            m.cpu_down(CpuId(1)).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
        }
        stop.store(true, Ordering::SeqCst);
        for h in hosts {
            h.join().unwrap();
        }
    });
    assert_eq!(*bad.lock().unwrap(), vec![]);
    let accepted: u64 = works.iter().map(|c| c.accepted.load(Ordering::SeqCst)).sum();
    common::wait_until("every accepted work ran", || {
        works.iter().map(|c| c.runs.load(Ordering::SeqCst)).sum::<u64>() >= accepted
    });
    let (s, wq2) = (sys.clone(), wq.clone());
    m.run_on(CpuId(0), move |t| s.flush_workqueue(t, &wq2)).unwrap().unwrap();
    for (i, c) in works.iter().enumerate() {
        assert_eq!(
            c.runs.load(Ordering::SeqCst),
            c.accepted.load(Ordering::SeqCst),
            "work {i}: runs != queue_work calls that reported true"
        );
        assert!(!c.work.is_pending());
    }
    if end_down {
        m.cpu_up(CpuId(1)).unwrap();
    }
    assert!(!sys.wq_dump().contains("disassociated"), "{}", sys.wq_dump());
    wait_pools_quiet(&sys);
}

// kernel/workqueue.c workqueue_offline_cpu / unbind_workers and workqueue_online_cpu
// / rebind_workers against __queue_work: a per-CPU work queued on a CPU that goes
// down and up is always accepted (queued before, during or after the change, even
// in the instant between the CPU going offline and its pools being disassociated)
// and runs exactly once per queue_work that reported true, and nothing is stuck
// once the CPU is back.
#[test]
fn hotplug_racing_percpu_queueing_runs_every_accepted_work_once() {
    hotplug_racing_percpu_queueing(200, false);
}

// kernel/workqueue.c unbind_workers ("the workers keep executing the pool's work,
// unbound") with kernel/time/timer.c timers_dead_cpu: everything accepted runs
// while the CPU stays offline, including works whose worker sleeps (msleep, a
// timer) across the CPU going down.
// Before cpu_down took over the dead CPU's timers, about one run in four hung: a
// worker asleep in msleep stayed asleep until the CPU returned.
#[test]
fn hotplug_racing_percpu_queueing_completes_while_the_cpu_stays_down() {
    hotplug_racing_percpu_queueing(200, true);
}

/// Waits until every pool of the dump is quiet: no work listed and no worker
/// counted running (concurrency management's nr_running back to 0: a count left
/// behind by a race would make a pool with queued work wake no one).
fn wait_pools_quiet(sys: &irqkit_core::IrqSystem) {
    let quiet = |dump: &str| {
        dump.lines()
            .filter(|l| l.starts_with("pool["))
            .all(|l| l.contains(" nr_running 0 ") && l.contains(" worklist 0 "))
    };
    let t0 = std::time::Instant::now();
    while !quiet(&sys.wq_dump()) {
        assert!(t0.elapsed().as_secs() < 60, "pools never went quiet:\n{}", sys.wq_dump());
        std::thread::yield_now();
    }
}

/// Once the producers are done: every queue_work that reported true ran once or
/// was taken by one of `cancelled` cancels reporting true; then `wq` flushes, the
/// pools go quiet and no node of `wq` still counts an active work.
fn check_ran_or_cancelled<'a, I>(m: &Machine, wq: &Workqueue, works: I, cancelled: u64, what: &str)
where
    I: Iterator<Item = &'a Counted> + Clone,
{
    let accepted: u64 = works.clone().map(|c| c.accepted.load(Ordering::SeqCst)).sum();
    let ran = || works.clone().map(|c| c.runs.load(Ordering::SeqCst)).sum::<u64>();
    common::wait_until("every accepted work ran or was cancelled", || {
        ran() + cancelled >= accepted
    });
    let (s, wq2) = (m.sys().clone(), wq.clone());
    m.run_on(CpuId(1), move |t| s.flush_workqueue(t, &wq2)).unwrap().unwrap();
    wait_pools_quiet(m.sys());
    assert_eq!(ran() + cancelled, accepted, "{what}: runs + cancels != queues");
    for (node, active, _) in m.sys().workqueue_node_nr_active(wq) {
        assert_eq!(active, 0, "{what}: node {node:?} still counts active works");
    }
}

/// `(workers, idle, created, reaped)` of the pool line of `wq_dump` starting `prefix`.
fn pool_counts(sys: &irqkit_core::IrqSystem, prefix: &str) -> (u64, u64, u64, u64) {
    let dump = sys.wq_dump();
    let line = dump.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{dump}"));
    let field = |name: &str| -> u64 {
        let mut it = line.split_whitespace().skip_while(|w| *w != name);
        it.nth(1).and_then(|v| v.parse().ok()).unwrap()
    };
    (field("workers"), field("idle"), field("created"), field("reaped"))
}

// kernel/workqueue.c idle_worker_timeout / idle_cull_fn against worker_thread and
// __queue_work: the reaper retires idle workers beyond too_many_workers while
// bursts of sleeping works make the manager create more. No accepted work is lost
// or run twice, and once the pool is quiet its workers settle: at most two idle
// ones remain (too_many_workers), and every worker created is either still there
// or was reaped (no worker leaks, none exits unaccounted). Bursts are queued on
// CPU 0's pool from a host thread and from a work on CPU 1, with gaps around the
// 1 ms idle timeout.
#[test]
fn idle_reaper_racing_bursts_loses_nothing_and_settles() {
    let m = machine(2);
    let sys = m.sys().clone();
    sys.wq_set_idle_timeout_ms(1);
    let wq = sys.alloc_workqueue("reap", WQ_PERCPU, 0).unwrap();
    let never = Arc::new(AtomicBool::new(false));
    let unused = Arc::new(AtomicU64::new(0));
    let sleepy = |ms: u64| {
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let work = Work::new(move |s, _w, t| {
            msleep(s, t, ms).unwrap();
            r.fetch_add(1, Ordering::SeqCst);
        });
        Counted { work, runs, accepted: AtomicU64::new(0) }
    };
    let works: Arc<Vec<Counted>> = Arc::new(
        (0..40)
            .map(|i| if i % 2 == 0 { sleepy(1 + (i % 3) as u64) } else { counted(&never, &unused) })
            .collect(),
    );
    let burst = |s: &irqkit_core::IrqSystem, wq: &Workqueue, works: &[Counted], rng: &mut Rng| {
        let n = 1 + rng.below(works.len() as u64);
        for _ in 0..n {
            let c = &works[rng.below(works.len() as u64) as usize];
            if s.queue_work_on(Some(CpuId(0)), wq, &c.work).unwrap() {
                c.accepted.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    std::thread::scope(|sc| {
        let host = {
            let (s, wq, works) = (sys.clone(), wq.clone(), works.clone());
            sc.spawn(move || {
                let mut rng = Rng::new(8);
                for _ in 0..150 {
                    burst(&s, &wq, &works, &mut rng);
                    std::thread::sleep(std::time::Duration::from_micros(rng.below(2500)));
                }
            })
        };
        let (s, wq2, works2) = (sys.clone(), wq.clone(), works.clone());
        m.run_on(CpuId(1), move |t| {
            let mut rng = Rng::new(9);
            for _ in 0..100 {
                burst(&s, &wq2, &works2, &mut rng);
                msleep(&s, t, rng.below(3)).unwrap();
            }
        })
        .unwrap();
        host.join().unwrap();
    });
    let accepted: u64 = works.iter().map(|c| c.accepted.load(Ordering::SeqCst)).sum();
    common::wait_until("every accepted work ran", || {
        works.iter().map(|c| c.runs.load(Ordering::SeqCst)).sum::<u64>() >= accepted
    });
    let (s, wq2) = (sys.clone(), wq.clone());
    m.run_on(CpuId(1), move |t| s.flush_workqueue(t, &wq2)).unwrap().unwrap();
    for (i, c) in works.iter().enumerate() {
        assert_eq!(
            c.runs.load(Ordering::SeqCst),
            c.accepted.load(Ordering::SeqCst),
            "work {i}: runs != queue_work calls that reported true"
        );
    }
    // Quiet now: the reaper brings the pool down to at most two idle workers, the
    // reaped ones leave the pool and their threads exit.
    let prefix = "pool[02] cpu   0 nice   0";
    let kworkers = || {
        sys.threads()
            .iter()
            .filter(|t| {
                t.name().starts_with("kworker/0:")
                    && !t.name().ends_with('H')
                    && t.state() != irqkit_core::sched::ThreadState::Dead
            })
            .count() as u64
    };
    common::wait_until("the pool settles", || {
        let (workers, idle, created, reaped) = pool_counts(&sys, prefix);
        workers == idle && idle <= 2 && created - reaped == workers && kworkers() == workers
    });
    wait_pools_quiet(&sys);
    let (_, _, created, reaped) = pool_counts(&sys, prefix);
    assert!(created >= 4 && reaped >= 2, "the reaper raced creation: {}", sys.wq_dump());
}

/// Works that count how many of a group run at once (`now`/`max`) and their runs.
struct Group {
    now: AtomicI64,
    max: AtomicI64,
}

fn grouped(group: &Arc<Group>, sleep: bool) -> Counted {
    let runs = Arc::new(AtomicU64::new(0));
    let (r, g) = (runs.clone(), group.clone());
    let work = Work::new(move |s, _w, t| {
        let n = g.now.fetch_add(1, Ordering::SeqCst) + 1;
        g.max.fetch_max(n, Ordering::SeqCst);
        if sleep {
            msleep(s, t, 1).unwrap();
        } else {
            spin(1500);
        }
        g.now.fetch_sub(1, Ordering::SeqCst);
        r.fetch_add(1, Ordering::SeqCst);
    });
    Counted { work, runs, accepted: AtomicU64::new(0) }
}

// kernel/workqueue.c workqueue_set_max_active / pwq_tryinc_nr_active /
// pwq_dec_nr_in_flight / node_activate_pending_pwq: max_active changes while works
// are queued, activated and cancelled. A per-CPU pwq never has more active works
// than the highest limit set (a lowered limit lets the active ones finish, as in
// Linux); an unbound workqueue's node shares one limit among its pods' pwqs. Every
// queued work runs or is cancelled (nothing is stranded on an inactive list or a
// node's pending list), and nothing is congested at the end.
#[test]
fn max_active_changes_racing_queueing_and_cancel() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        let m = machine(4);
        let sys = m.sys().clone();
        if flags & WQ_UNBOUND != 0 {
            // Two nodes of two CPUs; one pod per CPU, so two pwqs share each node.
            let topo = CpuTopology {
                cpus: (0..4).map(|c| CpuTopo { core: c, llc: c, node: c / 2 }).collect(),
            };
            sys.wq_set_cpu_topology(topo).unwrap();
        }
        let wq = sys.alloc_workqueue("maxact", flags, 2).unwrap();
        if flags & WQ_UNBOUND != 0 {
            sys.workqueue_set_affinity_scope(&wq, AffinityScope::Cpu, false).unwrap();
        }
        // Groups: per CPU for the per-CPU workqueue, per node for the unbound one;
        // each work is always queued on its own CPU.
        let groups: Vec<Arc<Group>> = (0..4)
            .map(|_| Arc::new(Group { now: AtomicI64::new(0), max: AtomicI64::new(0) }))
            .collect();
        let group_of =
            |cpu: u32| if flags & WQ_UNBOUND != 0 { (cpu / 2) as usize } else { cpu as usize };
        let works: Arc<Vec<(u32, Counted)>> = Arc::new(
            (0..64u32)
                .map(|i| {
                    let cpu = i % 4;
                    (cpu, grouped(&groups[group_of(cpu)], (i / 4) % 2 == 0))
                })
                .collect(),
        );
        let cancelled = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        const LIMITS: [i32; 4] = [1, 3, 2, 4];
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let mut hosts = Vec::new();
            for p in 0..2u64 {
                let (s, wq, works, stop, cancelled) =
                    (sys.clone(), wq.clone(), works.clone(), stop.clone(), cancelled.clone());
                hosts.push(sc.spawn(move || {
                    let mut rng = Rng::new(p + 50);
                    while !stop.load(Ordering::SeqCst) {
                        let (cpu, c) = &works[rng.below(works.len() as u64) as usize];
                        if p == 1 && rng.below(4) == 0 {
                            if s.cancel_work(&c.work) {
                                cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                        } else if s.queue_work_on(Some(CpuId(*cpu)), &wq, &c.work).unwrap() {
                            c.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        spin(rng.below(4000));
                    }
                }));
            }
            let mut rng = Rng::new(4);
            for _ in 0..300 {
                sys.workqueue_set_max_active(&wq, LIMITS[rng.below(4) as usize]);
                std::thread::sleep(std::time::Duration::from_micros(rng.below(2000)));
            }
            stop.store(true, Ordering::SeqCst);
            for h in hosts {
                h.join().unwrap();
            }
        });
        let c = cancelled.load(Ordering::SeqCst);
        let what = format!("flags {flags:#x}");
        check_ran_or_cancelled(&m, &wq, works.iter().map(|(_, c)| c), c, &what);
        for (i, g) in groups.iter().enumerate() {
            let max = g.max.load(Ordering::SeqCst);
            assert!(max <= 4, "flags {flags:#x}: group {i} ran {max} at once, limit at most 4");
        }
        for cpu in 0..4 {
            assert!(!sys.workqueue_congested(Some(CpuId(cpu)), &wq), "cpu {cpu} congested");
        }
    }
}

// kernel/workqueue.c freeze_workqueues_begin / thaw_workqueues against
// __queue_work and pwq_dec_nr_in_flight: a freezable workqueue frozen and thawed
// over and over while works are queued (and some cancelled) loses nothing — after
// the last thaw every queued work runs exactly once or was cancelled, none is left
// inactive, and no node still counts an active work.
#[test]
fn freeze_thaw_racing_queueing_strands_nothing() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        // max_active 2: works wait on the inactive lists (and, unbound, on the node's
        // pending list of its two per-CPU pods) besides being held by the freeze.
        let (m, sys, wq) = machine_with_wq("fzrace", flags | WQ_FREEZABLE, 2);
        let never = Arc::new(AtomicBool::new(false));
        let unused = Arc::new(AtomicU64::new(0));
        let works: Arc<Vec<Counted>> =
            Arc::new((0..32).map(|_| counted(&never, &unused)).collect());
        let cancelled = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let mut hosts = Vec::new();
            for p in 0..2u64 {
                let (s, wq, works, stop, cancelled) =
                    (sys.clone(), wq.clone(), works.clone(), stop.clone(), cancelled.clone());
                hosts.push(sc.spawn(move || {
                    let mut rng = Rng::new(p + 60);
                    while !stop.load(Ordering::SeqCst) {
                        let c = &works[rng.below(works.len() as u64) as usize];
                        let cpu = Some(CpuId(rng.below(2) as u32));
                        if p == 1 && rng.below(5) == 0 {
                            if s.cancel_work(&c.work) {
                                cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                        } else if s.queue_work_on(cpu, &wq, &c.work).unwrap() {
                            c.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        spin(rng.below(4000));
                    }
                }));
            }
            let mut rng = Rng::new(6);
            for _ in 0..300 {
                sys.freeze_workqueues();
                std::thread::sleep(std::time::Duration::from_micros(rng.below(1500)));
                sys.thaw_workqueues();
                std::thread::sleep(std::time::Duration::from_micros(rng.below(1500)));
            }
            stop.store(true, Ordering::SeqCst);
            for h in hosts {
                h.join().unwrap();
            }
        });
        let c = cancelled.load(Ordering::SeqCst);
        check_ran_or_cancelled(&m, &wq, works.iter(), c, &format!("flags {flags:#x}"));
        for cpu in 0..2 {
            assert!(!sys.workqueue_congested(Some(CpuId(cpu)), &wq), "cpu {cpu} congested");
        }
    }
}

// kernel/time/timer.c timers_dead_cpu (CPUHP_TIMERS_PREPARE) with kernel/workqueue.c
// __queue_delayed_work / delayed_work_timer_fn: the timers of a CPU that goes
// offline move to a live CPU, so a delayed work armed on CPU 1 fires on time even
// if CPU 1 goes down meanwhile, and is queued on CPU 1's (disassociated) pool,
// whose unbound workers run it. Host producers arm delayed works on CPU 1 with
// delays of 1 to 4 jiffies while it cycles; with CPU 1 finally held offline every
// armed work must still run (irqkit refuses to arm a timer on an offline CPU:
// `CpuOffline`, the work left idle).
// Before cpu_down took over the dead CPU's timers, every run hung.
#[test]
fn delayed_work_armed_on_a_cpu_that_goes_down_still_runs() {
    let m = machine(2);
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("hpdelay", WQ_PERCPU, 0).unwrap();
    let works: Arc<Vec<(DelayedWork, Arc<AtomicU64>, AtomicU64)>> = Arc::new(
        (0..32)
            .map(|_| {
                let runs = Arc::new(AtomicU64::new(0));
                let r = runs.clone();
                let d = DelayedWork::new(move |_s, _w, _t| {
                    r.fetch_add(1, Ordering::SeqCst);
                });
                (d, runs, AtomicU64::new(0))
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|sc| {
        // A panic here must still stop the producers, or the scope would wait for ever.
        let _stop = SetOnDrop(stop.clone());
        let mut hosts = Vec::new();
        for p in 0..2u64 {
            let (s, wq, works, stop, bad) =
                (sys.clone(), wq.clone(), works.clone(), stop.clone(), bad.clone());
            hosts.push(sc.spawn(move || {
                let mut rng = Rng::new(p + 90);
                while !stop.load(Ordering::SeqCst) {
                    let (d, _, accepted) = &works[rng.below(works.len() as u64) as usize];
                    match s.queue_delayed_work_on(Some(CpuId(1)), &wq, d, 1 + rng.below(4)) {
                        Ok(true) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(false) | Err(IrqError::CpuOffline(1)) => {}
                        Err(e) => bad.lock().unwrap().push(e),
                    }
                    spin(rng.below(8000));
                }
            }));
        }
        let mut rng = Rng::new(4);
        for round in 0..100 {
            assert_eq!(m.cpu_down(CpuId(1)), Ok(()), "round {round}");
            std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
            m.cpu_up(CpuId(1)).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
        }
        // Arm some for certain, then take CPU 1 down for good.
        for (d, _, accepted) in works.iter().take(4) {
            if sys.queue_delayed_work_on(Some(CpuId(1)), &wq, d, 3).unwrap() {
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        }
        m.cpu_down(CpuId(1)).unwrap();
        stop.store(true, Ordering::SeqCst);
        for h in hosts {
            h.join().unwrap();
        }
    });
    assert_eq!(*bad.lock().unwrap(), vec![]);
    let accepted: u64 = works.iter().map(|w| w.2.load(Ordering::SeqCst)).sum();
    common::wait_until("every armed delayed work ran with CPU 1 offline", || {
        works.iter().map(|w| w.1.load(Ordering::SeqCst)).sum::<u64>() >= accepted
            && works.iter().all(|w| !w.0.work().is_pending())
    });
    for (i, (d, runs, acc)) in works.iter().enumerate() {
        assert_eq!(runs.load(Ordering::SeqCst), acc.load(Ordering::SeqCst), "work {i}");
        assert!(!d.timer().pending());
    }
    m.cpu_up(CpuId(1)).unwrap();
}

// kernel/workqueue.c disable_work_sync / enable_work / queue_work_on
// (clear_pending_if_disabled): once disable_work_sync returns the work is neither
// pending nor running, and stays so until enable_work — every queue attempt
// meanwhile reports false and starts nothing. Disabling reports true iff it took a
// pending instance, so runs + those == queues reporting true. Producers on host
// threads and on CPU 1 hammer the work while CPU 0 disables and enables it.
#[test]
fn disable_sync_racing_queueing_keeps_the_work_idle_until_enabled() {
    for flags in [WQ_PERCPU, WQ_UNBOUND] {
        let (m, sys, wq) = machine_with_wq("disrace", flags, 0);
        let runs = Arc::new(Runs::default());
        let w = tracked_work(&runs);
        let queued = Arc::new(AtomicU64::new(0));
        let cancelled = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let producer = |seed: u64| {
            let (s, wq, w, q, stop) =
                (sys.clone(), wq.clone(), w.clone(), queued.clone(), stop.clone());
            move || {
                let mut rng = Rng::new(seed);
                while !stop.load(Ordering::SeqCst) {
                    let cpu = CpuId(rng.below(2) as u32);
                    if s.queue_work_on(Some(cpu), &wq, &w).unwrap() {
                        q.fetch_add(1, Ordering::SeqCst);
                    }
                    spin(rng.below(5000));
                }
            }
        };
        let violations = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let hosts: Vec<_> = (0..2).map(|i| sc.spawn(producer(i + 31))).collect();
            let m = &m;
            let p = producer(33);
            let on1 = sc.spawn(move || m.run_on(CpuId(1), move |_t| p()).unwrap());
            let (s, w2, r, c, v) =
                (sys.clone(), w.clone(), runs.clone(), cancelled.clone(), violations.clone());
            m.run_on(CpuId(0), move |t| {
                let mut rng = Rng::new(34);
                for round in 0..200 {
                    if s.disable_work_sync(t, &w2).unwrap() {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    let s0 = r.started.load(Ordering::SeqCst);
                    let idle = |when: &str| {
                        let busy = s.work_busy(&w2) & WORK_BUSY_RUNNING;
                        let now = r.now.load(Ordering::SeqCst);
                        let started = r.started.load(Ordering::SeqCst) - s0;
                        if busy != 0 || now != 0 || started != 0 {
                            v.lock().unwrap().push((round, when.to_string(), busy, now, started));
                        }
                    };
                    idle("on return");
                    if round % 4 == 0 {
                        msleep(&s, t, 1).unwrap();
                    } else {
                        spin(rng.below(20_000));
                    }
                    idle("before enable");
                    assert_eq!(s.enable_work(&w2), Ok(true));
                    spin(rng.below(20_000));
                }
            })
            .unwrap();
            stop.store(true, Ordering::SeqCst);
            on1.join().unwrap();
            for h in hosts {
                h.join().unwrap();
            }
        });
        let (s, w2, c) = (sys.clone(), w.clone(), cancelled.clone());
        m.run_on(CpuId(1), move |t| {
            if s.cancel_work_sync(t, &w2).unwrap() {
                c.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        assert_eq!(*violations.lock().unwrap(), vec![], "(round, when, running, now, started)");
        let (q, c, r) = (
            queued.load(Ordering::SeqCst),
            cancelled.load(Ordering::SeqCst),
            runs.finished.load(Ordering::SeqCst),
        );
        assert!(q > 0 && c > 0);
        assert_eq!(r + c, q, "flags {flags:#x}: {r} runs + {c} disables != {q} queues");
        assert!(runs.max.load(Ordering::SeqCst) <= 1, "ran concurrently with itself");
    }
}

// kernel/workqueue.c wq_update_pod (unbound pods follow CPU hotplug: a pod with no
// online CPU queues to the default pool) with __queue_work's non-reentrancy: one
// work queued on every CPU of an unbound workqueue with one pod per CPU, while CPU
// 2 goes down and up, never runs concurrently with itself and runs once per queue
// that reported true — across pod pools, the default pool, and strict pools whose
// workers move to the online CPUs.
#[test]
fn unbound_pods_across_hotplug_stay_non_reentrant_and_lose_nothing() {
    for strict in [false, true] {
        let m = machine(3);
        let sys = m.sys().clone();
        let wq = sys.alloc_workqueue("podhp", WQ_UNBOUND, 0).unwrap();
        sys.workqueue_set_affinity_scope(&wq, AffinityScope::Cpu, strict).unwrap();
        let set = Arc::new(tracked_set(4));
        let stop = Arc::new(AtomicBool::new(false));
        let bad = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|sc| {
            // A panic here must still stop the producers, or the scope would wait for ever.
            let _stop = SetOnDrop(stop.clone());
            let mut hosts = Vec::new();
            for p in 0..2u64 {
                let (s, wq, set, stop, bad) =
                    (sys.clone(), wq.clone(), set.clone(), stop.clone(), bad.clone());
                hosts.push(sc.spawn(move || {
                    let mut rng = Rng::new(p + 70);
                    while !stop.load(Ordering::SeqCst) {
                        let cpu = CpuId(rng.below(3) as u32);
                        let (w, _, q) = &set[rng.below(set.len() as u64) as usize];
                        match s.queue_work_on(Some(cpu), &wq, w) {
                            Ok(true) => {
                                q.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(false) => {}
                            Err(e) => bad.lock().unwrap().push(e),
                        }
                        spin(rng.below(5000));
                    }
                }));
            }
            let mut rng = Rng::new(71);
            for round in 0..80 {
                assert_eq!(m.cpu_down(CpuId(2)), Ok(()), "round {round}");
                std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
                m.cpu_up(CpuId(2)).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
            }
            stop.store(true, Ordering::SeqCst);
            for h in hosts {
                h.join().unwrap();
            }
        });
        assert_eq!(*bad.lock().unwrap(), vec![]);
        check_tracked_set(&m, &set, &format!("strict {strict}"));
    }
}

// kernel/workqueue.c apply_workqueue_attrs (an unbound workqueue's affinity scope
// changes while it is busy: new work goes to the new pods' pools, queued work runs
// where it is) with node_activate_pending_pwq / pwq_dec_nr_active (one node: every
// pwq of every pool, old or new, shares the one max_active) and __flush_workqueue
// (its colours span the old pools too). While the scope flips between one pod per
// CPU, one pod for all, strict and not: never more than max_active works run at
// once, every queued work runs once or is cancelled, and flush_workqueue returns
// only after a work queued before it ran.
#[test]
fn scope_changes_racing_queueing_keep_max_active_and_flush() {
    let m = machine(3);
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("scoperace", WQ_UNBOUND, 3).unwrap();
    let group = Arc::new(Group { now: AtomicI64::new(0), max: AtomicI64::new(0) });
    let works: Arc<Vec<Counted>> = Arc::new((0..24).map(|i| grouped(&group, i % 3 == 0)).collect());
    let cancelled = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flushes = Arc::new(AtomicU64::new(0));
    std::thread::scope(|sc| {
        // A panic here must still stop the producers, or the scope would wait for ever.
        let _stop = SetOnDrop(stop.clone());
        let mut hosts = Vec::new();
        for p in 0..2u64 {
            let (s, wq, works, stop, cancelled) =
                (sys.clone(), wq.clone(), works.clone(), stop.clone(), cancelled.clone());
            hosts.push(sc.spawn(move || {
                let mut rng = Rng::new(p + 80);
                while !stop.load(Ordering::SeqCst) {
                    let c = &works[rng.below(works.len() as u64) as usize];
                    if p == 1 && rng.below(20) == 0 {
                        if s.cancel_work(&c.work) {
                            cancelled.fetch_add(1, Ordering::SeqCst);
                        }
                    } else if s
                        .queue_work_on(Some(CpuId(rng.below(3) as u32)), &wq, &c.work)
                        .unwrap()
                    {
                        c.accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    spin(rng.below(4000));
                }
            }));
        }
        let flusher = {
            let (s, wq, stop, flushes) = (sys.clone(), wq.clone(), stop.clone(), flushes.clone());
            let m = &m;
            sc.spawn(move || {
                m.run_on(CpuId(2), move |t| {
                    let ran = Arc::new(AtomicU64::new(0));
                    let r2 = ran.clone();
                    let private = Work::new(move |_s, _w, _t| {
                        r2.fetch_add(1, Ordering::SeqCst);
                    });
                    let mut rng = Rng::new(83);
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let cpu = Some(CpuId(rng.below(3) as u32));
                        assert!(s.queue_work_on(cpu, &wq, &private).unwrap());
                        s.flush_workqueue(t, &wq).unwrap();
                        i += 1;
                        assert_eq!(ran.load(Ordering::SeqCst), i, "flush_workqueue returned early");
                        flushes.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .unwrap()
            })
        };
        let scopes = [
            (AffinityScope::Cpu, false),
            (AffinityScope::System, false),
            (AffinityScope::Cpu, true),
            (AffinityScope::System, true),
        ];
        let mut rng = Rng::new(84);
        for _ in 0..400 {
            let (scope, strict) = scopes[rng.below(4) as usize];
            sys.workqueue_set_affinity_scope(&wq, scope, strict).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
        }
        stop.store(true, Ordering::SeqCst);
        flusher.join().unwrap();
        for h in hosts {
            h.join().unwrap();
        }
    });
    let c = cancelled.load(Ordering::SeqCst);
    check_ran_or_cancelled(&m, &wq, works.iter(), c, "scope changes");
    let max = group.max.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} works of a max_active 3 workqueue ran at once");
}

// kernel/workqueue.c rescuer_thread / send_mayday / assign_work, with
// try_to_grab_pending and the non-reentrancy rule: while worker creation fails, a
// WQ_MEM_RECLAIM workqueue's rescuer takes works off the pools' worklists and runs
// them beside the pools' own workers. Works that sleep keep the pools short of
// workers; others are requeued and cancelled throughout. No work runs concurrently
// with itself (the rescuer hands an instance to the worker already running that
// work), and every queued work runs once or is cancelled once.
#[test]
fn rescuer_racing_queueing_and_cancel_under_failing_creation() {
    let m = machine(2);
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("rescrace", WQ_PERCPU | WQ_MEM_RECLAIM, 0).unwrap();
    let set = Arc::new(tracked_set(8));
    let sleepers: Arc<Vec<Counted>> = Arc::new(
        (0..8)
            .map(|_| {
                let runs = Arc::new(AtomicU64::new(0));
                let r = runs.clone();
                let work = Work::new(move |s, _w, t| {
                    msleep(s, t, 2).unwrap();
                    r.fetch_add(1, Ordering::SeqCst);
                });
                Counted { work, runs, accepted: AtomicU64::new(0) }
            })
            .collect(),
    );
    let cancelled = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    sys.wq_inject_create_failure(true);
    std::thread::scope(|sc| {
        // A panic here must still stop the producers, or the scope would wait for ever.
        let _stop = SetOnDrop(stop.clone());
        let mut hosts = Vec::new();
        for p in 0..2u64 {
            let (s, wq, set, sleepers, stop, cancelled) = (
                sys.clone(),
                wq.clone(),
                set.clone(),
                sleepers.clone(),
                stop.clone(),
                cancelled.clone(),
            );
            hosts.push(sc.spawn(move || {
                let mut rng = Rng::new(p + 100);
                while !stop.load(Ordering::SeqCst) {
                    let cpu = Some(CpuId(rng.below(2) as u32));
                    if rng.below(3) == 0 {
                        let c = &sleepers[rng.below(sleepers.len() as u64) as usize];
                        if s.queue_work_on(cpu, &wq, &c.work).unwrap() {
                            c.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                    } else {
                        let (w, _, q) = &set[rng.below(set.len() as u64) as usize];
                        if p == 1 && rng.below(6) == 0 {
                            if s.cancel_work(w) {
                                q.fetch_sub(1, Ordering::SeqCst);
                                cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                        } else if s.queue_work_on(cpu, &wq, w).unwrap() {
                            q.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    spin(rng.below(6000));
                }
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(400));
        sys.wq_inject_create_failure(false);
        std::thread::sleep(std::time::Duration::from_millis(100));
        stop.store(true, Ordering::SeqCst);
        for h in hosts {
            h.join().unwrap();
        }
    });
    let accepted: u64 = sleepers.iter().map(|c| c.accepted.load(Ordering::SeqCst)).sum();
    common::wait_until("every sleeping work ran", || {
        sleepers.iter().map(|c| c.runs.load(Ordering::SeqCst)).sum::<u64>() >= accepted
    });
    check_tracked_set(&m, &set, "rescuer");
    for (i, c) in sleepers.iter().enumerate() {
        assert_eq!(c.runs.load(Ordering::SeqCst), c.accepted.load(Ordering::SeqCst), "sleeper {i}");
    }
}
