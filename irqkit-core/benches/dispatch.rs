//! Dispatch cost: `generic_handle_domain_irq` → fasteoi flow → one action with a no-op
//! chip, against the named baseline — an indirect call through `Vec<Box<dyn Fn>>` —
//! measured in the same run, plus the locking floor (two `SpinLockIrq` round trips)
//! for context.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use irqkit_core::irq::{
    ChipCallbacks, DomainOps, Flags, FlowHandler, IrqChip, IrqData, IrqDomain, IrqReturn, RevMap,
};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{IrqError, IrqSystem};

struct NoopChip;
impl IrqChip for NoopChip {
    fn name(&self) -> &str {
        "noop"
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::EOI
    }
    fn eoi(&self, _d: &IrqData) {}
}

struct Ops;
impl DomainOps for Ops {
    fn map(&self, sys: &IrqSystem, _d: &IrqDomain, virq: u32, _hw: u64) -> Result<(), IrqError> {
        sys.irq_set_chip_and_handler(virq, Arc::new(NoopChip), FlowHandler::FastEoi)
    }
}

fn dispatch(c: &mut Criterion) {
    let (sys, _p) = FakePlatform::system(4);
    let dom =
        sys.irq_domain_create("bench", RevMap::Linear(1024), Arc::new(Ops), None, None).unwrap();
    let virq = sys.irq_create_mapping(Some(&dom), 42).unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let h2 = hits.clone();
    let _reg = sys
        .request_irq(
            virq,
            move |_| {
                h2.fetch_add(1, Ordering::Relaxed);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "bench",
        )
        .unwrap();

    let mut g = c.benchmark_group("dispatch");
    g.measurement_time(Duration::from_secs(2)).sample_size(20);

    let flags = sys.local_irq_save();
    let ctx = sys.irq_enter();
    g.bench_function("generic_handle_domain_irq/fasteoi/1-action", |b| {
        b.iter(|| sys.generic_handle_domain_irq(black_box(&dom), black_box(42), &ctx).unwrap())
    });
    sys.irq_exit(ctx);
    sys.local_irq_restore(flags);

    let hits_b = Arc::new(AtomicU64::new(0));
    let h3 = hits_b.clone();
    let table: Vec<Box<dyn Fn() -> u32>> = vec![Box::new(move || {
        h3.fetch_add(1, Ordering::Relaxed);
        1
    })];
    g.bench_function("baseline/vec_box_dyn_fn", |b| b.iter(|| table[black_box(0)]()));

    // Context, not a target: the floor any design with Linux's locking pays — two
    // irq-saving descriptor-lock round trips (flow entry, after the handlers).
    let lock = irqkit_core::sync::SpinLockIrq::new(0u32);
    g.bench_function("floor/two_spinlock_irq_roundtrips", |b| {
        b.iter(|| {
            *lock.lock_irqsave(&sys) += 1;
            *lock.lock_irqsave(&sys) += 1;
        })
    });
    g.finish();
    black_box(hits.load(Ordering::Relaxed) + hits_b.load(Ordering::Relaxed));
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
