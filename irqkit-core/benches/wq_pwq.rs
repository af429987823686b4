//! The pool_workqueue bookkeeping of a queueing on the fake platform (no worker
//! threads): 1000 × `queue_work` then 1000 × `cancel_work` (insert into the pwq,
//! take the active slot back), per-CPU and unbound below max_active, against a
//! mutex-guarded deque doing the same pushes and removals in the same run.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use irqkit_core::testing::FakePlatform;
use irqkit_core::workqueue::{Work, WQ_PERCPU, WQ_UNBOUND};
use irqkit_core::CpuId;

const BATCH: usize = 1000;

fn queue_cancel(c: &mut Criterion) {
    let (sys, _p) = FakePlatform::system(1);
    FakePlatform::enter_cpu(CpuId(0));
    // The fake platform refuses worker threads: the pools exist, with no worker.
    let _ = sys.workqueue_init();
    let works: Vec<Work> = (0..BATCH).map(|_| Work::new(|_, _, _| {})).collect();
    let mut g = c.benchmark_group("queue_cancel_x1000");
    for (name, flags) in [("percpu", WQ_PERCPU), ("unbound", WQ_UNBOUND)] {
        let wq = sys.alloc_workqueue(name, flags, 0).unwrap();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    for w in &works {
                        black_box(sys.queue_work(&wq, w).unwrap());
                    }
                    for w in &works {
                        black_box(sys.cancel_work(w));
                    }
                }
                t0.elapsed()
            })
        });
    }
    let q: Mutex<VecDeque<usize>> = Mutex::new(VecDeque::new());
    g.bench_function("mutex_deque_baseline", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                for i in 0..BATCH {
                    q.lock().unwrap().push_back(black_box(i));
                }
                for i in 0..BATCH {
                    let mut l = q.lock().unwrap();
                    let at = l.iter().position(|x| *x == i);
                    black_box(at.map(|p| l.remove(p)));
                }
            }
            t0.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, queue_cancel);
criterion_main!(benches);
