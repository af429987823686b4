//! Concurrency checks with real threads: `FakePlatform`'s CPU is per OS thread, so four
//! threads play four CPUs and schedule tasklets and irq_works from task, hardirq and
//! NMI context at once (kernel/softirq.c, kernel/irq_work.c, kernel/time/timer.c).
//! The assertions are invariants of every interleaving, never timing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use irqkit_core::irq_work::IrqWork;
use irqkit_core::tasklet::Tasklet;
use irqkit_core::testing::FakePlatform;
use irqkit_core::timer::Timer;
use irqkit_core::{CpuId, IrqSystem, Task};

const CPUS: usize = 4;
const ROUNDS: u64 = 20_000;

struct Item {
    tasklet: Tasklet,
    work: IrqWork,
    claims: AtomicU64,
    runs: Arc<AtomicU64>,
    wclaims: AtomicU64,
    wruns: Arc<AtomicU64>,
    twork: IrqWork,
    tclaims: AtomicU64,
    truns: Arc<AtomicU64>,
}

fn item() -> Arc<Item> {
    let runs = Arc::new(AtomicU64::new(0));
    let wruns = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(AtomicBool::new(false));
    let (r2, w2) = (runs.clone(), wruns.clone());
    let tasklet = Tasklet::new(move |_| {
        assert!(!inside.swap(true, Ordering::SeqCst), "tasklet on two CPUs at once");
        r2.fetch_add(1, Ordering::SeqCst);
        inside.store(false, Ordering::SeqCst);
    });
    let work = IrqWork::new(move |_, _, _| {
        w2.fetch_add(1, Ordering::SeqCst);
    });
    let truns = Arc::new(AtomicU64::new(0));
    let t2 = truns.clone();
    let twork = IrqWork::new_threaded(move |sys, _, _| {
        assert!(sys.in_task());
        t2.fetch_add(1, Ordering::SeqCst);
    });
    Arc::new(Item {
        tasklet,
        work,
        claims: AtomicU64::new(0),
        runs,
        wclaims: AtomicU64::new(0),
        wruns,
        twork,
        tclaims: AtomicU64::new(0),
        truns,
    })
}

fn interrupt(sys: &IrqSystem, f: impl FnOnce()) {
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    f();
    sys.irq_work_run(&h);
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

/// Runs everything still queued on `cpu` from that CPU.
fn drain(sys: &IrqSystem, cpu: CpuId) {
    FakePlatform::enter_cpu(cpu);
    for _ in 0..100 {
        interrupt(sys, || {});
        sys.ksoftirqd_run_once(cpu).unwrap();
        sys.irq_work_thread_run_once(cpu, &Task::entered()).unwrap();
    }
}

fn schedule(sys: &IrqSystem, it: &Item, hi: bool, remote: Option<CpuId>) {
    let r = if hi { it.tasklet.hi_schedule(sys) } else { it.tasklet.schedule(sys) };
    if r.unwrap() {
        it.claims.fetch_add(1, Ordering::SeqCst);
    }
    let w = match remote {
        Some(c) if !sys.in_nmi() => sys.irq_work_queue_on(&it.work, c),
        _ => sys.irq_work_queue(&it.work),
    };
    if w.unwrap() {
        it.wclaims.fetch_add(1, Ordering::SeqCst);
    }
    if sys.irq_work_queue(&it.twork).unwrap() {
        it.tclaims.fetch_add(1, Ordering::SeqCst);
    }
}

// Seed 002 / interrupt.h guarantees under real parallelism: none lost, none run twice
// for one schedule, never on two CPUs at once; irq_work: one run per successful claim.
#[test]
fn tasklets_and_irq_work_from_every_context_on_four_cpus() {
    let (sys, _p) = FakePlatform::system(CPUS);
    let items: Arc<Vec<Arc<Item>>> = Arc::new((0..8).map(|_| item()).collect());
    let start = Arc::new(Barrier::new(CPUS));
    let handles: Vec<_> = (0..CPUS)
        .map(|c| {
            let (sys, items, start) = (sys.clone(), items.clone(), start.clone());
            thread::spawn(move || {
                FakePlatform::enter_cpu(CpuId(c as u32));
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ c as u64;
                start.wait();
                for _ in 0..ROUNDS {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let it = &items[(rng % items.len() as u64) as usize];
                    let hi = rng & 0x100 != 0;
                    let remote = Some(CpuId(((rng >> 12) % CPUS as u64) as u32));
                    match (rng >> 9) % 3 {
                        0 => schedule(&sys, it, hi, remote),
                        1 => interrupt(&sys, || schedule(&sys, it, hi, remote)),
                        _ => {
                            let nmi = sys.nmi_enter().unwrap();
                            schedule(&sys, it, hi, remote);
                            sys.nmi_exit(nmi);
                            interrupt(&sys, || {});
                        }
                    }
                    if rng & 0x7000 == 0 {
                        sys.ksoftirqd_run_once(CpuId(c as u32)).unwrap();
                        sys.irq_work_thread_run_once(CpuId(c as u32), &Task::entered()).unwrap();
                    }
                }
                assert_eq!(sys.preempt_count(), 0);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for c in 0..CPUS {
        drain(&sys, CpuId(c as u32));
    }
    for it in items.iter() {
        assert_eq!(it.runs.load(Ordering::SeqCst), it.claims.load(Ordering::SeqCst));
        assert_eq!(it.wruns.load(Ordering::SeqCst), it.wclaims.load(Ordering::SeqCst));
        assert_eq!(it.truns.load(Ordering::SeqCst), it.tclaims.load(Ordering::SeqCst));
        assert_eq!(it.tasklet.state(), 0);
        assert_eq!(it.work.flags(), 0);
        assert_eq!(it.twork.flags(), 0);
    }
    assert!(items.iter().map(|i| i.claims.load(Ordering::SeqCst)).sum::<u64>() > 0);
}

// kernel/time/timer.c del_timer_sync: returns only after a callback running on another
// CPU has finished.
#[test]
fn del_timer_sync_waits_for_a_callback_running_on_another_cpu() {
    let (sys, p) = FakePlatform::system(2);
    let started = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (s2, r2, f2) = (started.clone(), release.clone(), finished.clone());
    let t = Timer::new(move |_, _, _| {
        s2.store(true, Ordering::SeqCst);
        while !r2.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        f2.store(true, Ordering::SeqCst);
    });
    t.add(&sys, 1).unwrap();
    let cpu0 = {
        let sys = sys.clone();
        thread::spawn(move || {
            FakePlatform::enter_cpu(CpuId(0));
            p.now.store(5_000_000, std::sync::atomic::Ordering::SeqCst);
            interrupt(&sys, || {
                let h = irqkit_core::HardIrq::entered();
                sys.tick(&h);
            });
        })
    };
    while !started.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
    let deleter = {
        let (sys, t, finished) = (sys.clone(), t.clone(), finished.clone());
        thread::spawn(move || {
            FakePlatform::enter_cpu(CpuId(1));
            let was_pending = t.del_sync(&sys, &Task::entered()).unwrap();
            assert!(finished.load(Ordering::SeqCst), "returned while the callback ran");
            was_pending
        })
    };
    thread::sleep(std::time::Duration::from_millis(20));
    release.store(true, Ordering::SeqCst);
    assert!(!deleter.join().unwrap(), "it had already started, so it was not pending");
    cpu0.join().unwrap();
}

// kernel/time/timer.c: a timer re-armed and deleted from several CPUs while the ticks
// run it never runs on two CPUs at once, and a final del_timer_sync leaves it idle.
#[test]
fn timers_modified_from_four_cpus_never_run_concurrently() {
    let (sys, p) = FakePlatform::system(CPUS);
    let timers: Arc<Vec<Timer>> = Arc::new(
        (0..6)
            .map(|_| {
                let inside = Arc::new(AtomicBool::new(false));
                Timer::new(move |_, _, _| {
                    assert!(!inside.swap(true, Ordering::SeqCst), "timer on two CPUs at once");
                    std::hint::spin_loop();
                    inside.store(false, Ordering::SeqCst);
                })
            })
            .collect(),
    );
    let clock = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(CPUS));
    let handles: Vec<_> = (0..CPUS)
        .map(|c| {
            let (sys, timers, start, p, clock) =
                (sys.clone(), timers.clone(), start.clone(), p.clone(), clock.clone());
            thread::spawn(move || {
                FakePlatform::enter_cpu(CpuId(c as u32));
                let mut rng = 0x2545_f491_4f6c_dd1du64 ^ (c as u64 + 1);
                start.wait();
                for _ in 0..ROUNDS / 4 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let t = &timers[(rng % timers.len() as u64) as usize];
                    match (rng >> 8) % 4 {
                        0 => {
                            t.modify(&sys, sys.jiffies() + (rng >> 20) % 5);
                        }
                        1 => {
                            t.del(&sys);
                        }
                        2 => {
                            t.del_sync(&sys, &Task::entered()).unwrap();
                        }
                        _ => {
                            let j = clock.fetch_add(1, Ordering::SeqCst) + 1;
                            p.now.store(j * 1_000_000, std::sync::atomic::Ordering::SeqCst);
                            interrupt(&sys, || {
                                let h = irqkit_core::HardIrq::entered();
                                sys.tick(&h);
                            });
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    FakePlatform::enter_cpu(CpuId(0));
    for t in timers.iter() {
        t.del_sync(&sys, &Task::entered()).unwrap();
        assert!(!t.pending());
    }
}
