//! Bottom-half hot paths against the baselines issue 4 names, measured in the same run:
//! irq_work_queue vs SegQueue push; raise+run through irq_exit vs call + atomic OR;
//! tasklet schedule→run vs channel send→recv; 1M timers on the wheel vs a BinaryHeap.
//!
//! All run on `FakePlatform` (the calling thread plays CPU 0), so platform calls
//! (current CPU lookup, the clock) cost what the fake's thread-local and mutex cost.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_queue::SegQueue;
use irqkit_core::irq_work::IrqWork;
use irqkit_core::softirq::SoftirqVec;
use irqkit_core::tasklet::Tasklet;
use irqkit_core::testing::FakePlatform;
use irqkit_core::timer::Timer;
use irqkit_core::{IrqSystem, SoftIrq};

const BATCH: usize = 1000;

fn irq_work_queue(c: &mut Criterion) {
    let (sys, _p) = FakePlatform::system(1);
    let works: Vec<IrqWork> = (0..BATCH).map(|_| IrqWork::new(|_, _, _| {})).collect();
    let mut g = c.benchmark_group("irq_work_queue_local_x1000");
    g.bench_function("irq_work_queue", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                for w in &works {
                    black_box(sys.irq_work_queue(w).unwrap());
                }
                total += t0.elapsed();
                let flags = sys.local_irq_save();
                let h = sys.irq_enter();
                sys.irq_work_run(&h);
                sys.irq_exit(h);
                sys.local_irq_restore(flags);
            }
            total
        })
    });
    let q = SegQueue::new();
    g.bench_function("segqueue_push", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                for i in 0..BATCH {
                    q.push(black_box(i));
                }
                total += t0.elapsed();
                while q.pop().is_some() {}
            }
            total
        })
    });
    g.finish();
}

static HITS: AtomicU64 = AtomicU64::new(0);
fn net_rx(_: &IrqSystem, _: &SoftIrq) {
    HITS.fetch_add(1, Ordering::Relaxed);
}

fn softirq_raise_run(c: &mut Criterion) {
    let (sys, _p) = FakePlatform::system(1);
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    let mut g = c.benchmark_group("softirq_raise_run");
    g.bench_function("raise_in_irq_then_irq_exit", |b| {
        b.iter(|| {
            let flags = sys.local_irq_save();
            let h = sys.irq_enter();
            sys.raise_softirq(SoftirqVec::NetRx).unwrap();
            sys.irq_exit(h);
            sys.local_irq_restore(flags);
        })
    });
    // Context: what the fake platform's clock (a std Mutex) costs per handling loop.
    g.bench_function("fake_platform_now_ns", |b| b.iter(|| black_box(sys.now_ns())));
    let pending = AtomicU32::new(0);
    let f: fn(&IrqSystem, &SoftIrq) = black_box(net_rx);
    let tok = SoftIrq::entered();
    g.bench_function("call_plus_atomic_or", |b| {
        b.iter(|| {
            pending.fetch_or(1 << 3, Ordering::Relaxed);
            if pending.swap(0, Ordering::Relaxed) != 0 {
                f(&sys, &tok);
            }
        })
    });
    g.finish();
}

fn tasklet_schedule_run(c: &mut Criterion) {
    let (sys, _p) = FakePlatform::system(1);
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    let t = Tasklet::new(move |_| {
        n2.fetch_add(1, Ordering::Relaxed);
    });
    let mut g = c.benchmark_group("tasklet_schedule_to_run");
    g.bench_function("tasklet_in_bh_section", |b| {
        b.iter(|| {
            sys.local_bh_disable();
            t.schedule(&sys).unwrap();
            sys.local_bh_enable().unwrap();
        })
    });
    let (tx, rx) = crossbeam_channel::unbounded::<Arc<AtomicU64>>();
    g.bench_function("crossbeam_channel_send_recv", |b| {
        b.iter(|| {
            tx.send(n.clone()).unwrap();
            rx.recv().unwrap().fetch_add(1, Ordering::Relaxed);
        })
    });
    g.finish();
}

const NR_TIMERS: usize = 1_000_000;
const SPREAD: u64 = 100_000;

fn timers_1m(c: &mut Criterion) {
    let (sys, p) = FakePlatform::system(1);
    let fired = Arc::new(AtomicU64::new(0));
    let timers: Vec<Timer> = (0..NR_TIMERS)
        .map(|_| {
            let f = fired.clone();
            Timer::new(move |_, _, _| {
                f.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    let offsets: Vec<u64> =
        (0..NR_TIMERS as u64).map(|i| 1 + (i.wrapping_mul(2_654_435_761) % SPREAD)).collect();
    let mut g = c.benchmark_group("timers_1m_add_and_fire");
    g.sample_size(10);
    g.bench_function("timer_wheel", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                let base = sys.jiffies();
                for (t, off) in timers.iter().zip(&offsets) {
                    t.add(&sys, base + off).unwrap();
                }
                // Ticks every 1000 jiffies (past the last level's 4096-jiffy granule); each runs the due timers from TIMER_SOFTIRQ.
                let mut j = base;
                while j <= base + SPREAD + 5000 {
                    j += 1000;
                    p.now.store(j * 1_000_000, std::sync::atomic::Ordering::SeqCst);
                    let flags = sys.local_irq_save();
                    let h = sys.irq_enter();
                    sys.tick(&h);
                    sys.irq_exit(h);
                    sys.local_irq_restore(flags);
                }
            }
            t0.elapsed()
        })
    });
    assert_eq!(fired.load(Ordering::Relaxed) % NR_TIMERS as u64, 0);
    let cbs: Vec<Arc<AtomicU64>> = (0..NR_TIMERS).map(|_| fired.clone()).collect();
    g.bench_function("binary_heap", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            let mut now = 0u64;
            for _ in 0..iters {
                let mut heap = BinaryHeap::with_capacity(NR_TIMERS);
                let base = now;
                for (i, off) in offsets.iter().enumerate() {
                    heap.push(Reverse((base + off, i)));
                }
                while now <= base + SPREAD + 5000 {
                    now += 1000;
                    while let Some(Reverse((e, i))) = heap.peek().copied() {
                        if e > now {
                            break;
                        }
                        heap.pop();
                        cbs[i].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            t0.elapsed()
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(2)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = irq_work_queue, softirq_raise_run, tasklet_schedule_run, timers_1m }
criterion_main!(benches);
