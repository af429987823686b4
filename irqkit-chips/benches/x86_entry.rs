//! Benchmark: the x86 `common_interrupt` dispatch of one device vector
//! (`X86Irq::handle_vector`: vector table, `irq_complete_move`, pending move, flow
//! handler) on the LAPIC/IO-APIC models, against the baseline `generic_handle_irq` of the
//! same irq (the flow handler alone). The ratio is the x86 entry's own cost; nothing is
//! moving, the common case whose vector lock `irq_complete_move` now skips.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use irqkit_chips::irqchip::x86::{ModelX86Ports, X86Irq};
use irqkit_chips::x86::apic_driver::LapicDriver;
use irqkit_chips::x86::{IoApic, LapicSet};
use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, HardIrq, IrqSystem};

/// Runs `f` as CPU `cpu`'s interrupt entry would: irqs masked, irq_enter, irq_exit.
fn on_cpu(sys: &IrqSystem, f: impl FnOnce(&HardIrq)) {
    let flags = sys.local_irq_save();
    let ctx = sys.irq_enter();
    f(&ctx);
    sys.irq_exit(ctx);
    sys.local_irq_restore(flags);
}

fn dispatch(c: &mut Criterion) {
    let (sys, platform) = FakePlatform::system(4);
    let lapics = Arc::new(LapicSet::new(4).unwrap());
    for cpu in 0..4 {
        LapicDriver::setup(&lapics.mmio_view(cpu));
    }
    let ioapic = IoApic::new(0, 24, lapics.clone()).unwrap();
    let x86 = X86Irq::new(&sys, ModelX86Ports { lapics, ioapic, platform }).unwrap();
    let virq = x86.msi_alloc(&sys, 0x18, 1).unwrap();
    let _reg = sys.request_irq(virq, |_| IrqReturn::HANDLED, Flags::empty(), "bench").unwrap();
    let (cpu, vector) = x86.vector_of(&sys, virq).unwrap();
    FakePlatform::enter_cpu(CpuId(cpu));

    let mut grp = c.benchmark_group("x86_dispatch");
    grp.measurement_time(Duration::from_secs(2)).sample_size(20);
    grp.bench_function("generic_handle_irq", |b| {
        b.iter(|| on_cpu(&sys, |ctx| black_box(sys.generic_handle_irq(virq, ctx)).unwrap()))
    });
    grp.bench_function("x86_handle_vector", |b| {
        b.iter(|| {
            on_cpu(&sys, |ctx| black_box(x86.handle_vector(&sys, ctx, vector)).map(drop).unwrap())
        })
    });
    grp.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
