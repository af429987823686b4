//! Benchmarks: raise + acknowledge + EOI of one interrupt through each model against a
//! no-op chip, and ITS (DeviceID, EventID) → LPI translation with 65,536 LPIs mapped
//! against a `HashMap` lookup of the same keys.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use irqkit_chips::gic::its_driver::ItsDriver;
use irqkit_chips::gic::v2_driver::GicV2Driver;
use irqkit_chips::gic::v3_driver::{GicV3Driver, ModelSysRegs};
use irqkit_chips::gic::{GicV2, GicV3, GicV3Config, ModelMemory};
use irqkit_chips::trigger::Trigger;
use irqkit_chips::x86::apic_driver::{IoApicDriver, LapicDriver};
use irqkit_chips::x86::i8259_driver::I8259Driver;
use irqkit_chips::x86::{DeliveryMode, Destination, I8259Pair, IoApic, LapicSet};

/// The baseline: a chip whose raise/ack/eoi are one atomic each.
struct NoopChip(AtomicU32);
impl NoopChip {
    fn raise(&self, irq: u32) {
        self.0.store(irq, Ordering::Relaxed);
    }
    fn ack(&self) -> u32 {
        self.0.swap(1023, Ordering::Relaxed)
    }
    fn eoi(&self, irq: u32) {
        black_box(irq);
    }
}

fn gicv2() -> GicV2 {
    let g = GicV2::new(128, 4).unwrap();
    let drv = GicV2Driver::probe(&g.dist_view(0), false);
    let m = drv.cpu_init(0, &g.dist_view(0), &g.cpuif_view(0)).unwrap();
    drv.dist_init(&g.dist_view(0), m);
    drv.set_type(&g.dist_view(0), 40, Trigger::EdgeRising).unwrap();
    drv.unmask(&g.dist_view(0), 40).unwrap();
    g
}

fn gicv3(mem: Arc<ModelMemory>, id_bits: u8) -> GicV3 {
    let cfg = GicV3Config { lpi_id_bits: Some(id_bits), ..GicV3Config::default() };
    let g = GicV3::new(cfg, mem.clone()).unwrap();
    let drv = GicV3Driver::probe(&g.dist_view(0), false);
    drv.dist_init(&g.dist_view(0), 0).unwrap();
    for cpu in 0..4 {
        drv.redist_init(&g.redist_view(cpu), cpu).unwrap();
        drv.cpu_init(&ModelSysRegs { gic: &g, cpu });
        drv.lpi_init(&g.redist_view(cpu), &*mem, cpu, 0x100000, 0x1000000 + cpu as u64 * 0x10000)
            .unwrap();
    }
    drv.set_type(&g.dist_view(0), &g.redist_view(0), 40, 0, Trigger::EdgeRising).unwrap();
    drv.unmask(&g.dist_view(0), &g.redist_view(0), 40, 0).unwrap();
    g
}

fn ack_eoi(c: &mut Criterion) {
    let mut grp = c.benchmark_group("ack_eoi");
    grp.measurement_time(Duration::from_secs(2)).sample_size(20);

    let noop = NoopChip(AtomicU32::new(1023));
    grp.bench_function("noop_chip", |b| {
        b.iter(|| {
            noop.raise(40);
            let irq = noop.ack();
            noop.eoi(black_box(irq));
        })
    });

    let g2 = gicv2();
    grp.bench_function("gicv2", |b| {
        b.iter(|| {
            g2.set_line(40, true).unwrap();
            g2.set_line(40, false).unwrap();
            let iar = g2.acknowledge(0);
            g2.end_of_interrupt(0, black_box(iar));
        })
    });

    let mem = Arc::new(ModelMemory::new());
    let g3 = gicv3(mem.clone(), 16);
    grp.bench_function("gicv3_spi", |b| {
        b.iter(|| {
            g3.set_line(40, true).unwrap();
            g3.set_line(40, false).unwrap();
            let irq = g3.iar1(0);
            g3.eoir1(0, black_box(irq));
        })
    });

    let its = ItsDriver::init(&g3.its_view(0), &*mem, 0x8000000, 0x400000).unwrap();
    let v = g3.its_view(0);
    its.mapc(&v, &*mem, 0, 0).unwrap();
    its.mapd(&v, &*mem, 1, 32, 0x500000, true).unwrap();
    its.mapti(&v, &*mem, 1, 0, 8192, 0).unwrap();
    mem.write_u8(0x100000, 0xA0 | 3);
    its.inv(&v, &*mem, 1, 0).unwrap();
    grp.bench_function("gicv3_its_lpi", |b| {
        b.iter(|| {
            g3.its_msi(1, 0).unwrap();
            let irq = g3.iar1(0);
            g3.eoir1(0, black_box(irq));
        })
    });

    let l = Arc::new(LapicSet::new(4).unwrap());
    for cpu in 0..4 {
        LapicDriver::setup(&l.mmio_view(cpu));
    }
    grp.bench_function("lapic_fixed", |b| {
        b.iter(|| {
            l.deliver(None, Destination::Physical(0), DeliveryMode::Fixed, 0x41, false).unwrap();
            let v = l.acknowledge(0).unwrap();
            black_box(v);
            l.eoi(0).unwrap();
        })
    });

    let io = IoApic::new(0, 24, l.clone()).unwrap();
    let d = IoApicDriver::probe(&io.mmio_view());
    d.setup_pin(&io.mmio_view(), 9, 0x51, 1, Trigger::LevelHigh).unwrap();
    d.unmask(&io.mmio_view(), 9).unwrap();
    grp.bench_function("ioapic_level", |b| {
        b.iter(|| {
            io.set_line(9, true).unwrap();
            let v = l.acknowledge(1).unwrap();
            io.set_line(9, false).unwrap();
            black_box(v);
            l.eoi(1).unwrap(); // broadcast EOI clears Remote IRR
        })
    });

    let pic = I8259Pair::new();
    I8259Driver::init(&pic);
    I8259Driver::unmask(&pic, 3).unwrap();
    grp.bench_function("i8259", |b| {
        b.iter(|| {
            pic.set_irq(3, true).unwrap();
            let v = pic.acknowledge();
            pic.set_irq(3, false).unwrap();
            black_box(v);
            pic.outb(0x20, 0x63).unwrap();
        })
    });
    grp.finish();
}

fn its_translate(c: &mut Criterion) {
    let mem = Arc::new(ModelMemory::new());
    let g = gicv3(mem.clone(), 17);
    let its = ItsDriver::init(&g.its_view(0), &*mem, 0x8000000, 0x400000).unwrap();
    let v = g.its_view(0);
    for cpu in 0..4u32 {
        its.mapc(&v, &*mem, cpu as u16, cpu).unwrap();
    }
    let mut map = HashMap::new();
    let (devs, events) = (256u32, 256u32);
    for dev in 0..devs {
        its.mapd(&v, &*mem, dev, events, 0x600000 + dev as u64 * 0x1000, true).unwrap();
        for ev in 0..events {
            let lpi = 8192 + dev * events + ev;
            its.mapti(&v, &*mem, dev, ev, lpi, (ev % 4) as u16).unwrap();
            map.insert((dev, ev), (lpi, ev % 4));
        }
    }
    assert_eq!(map.len(), 65536);
    assert!(g.its_last_error().is_none());
    // The same pseudo-random key sequence for both.
    let keys: Vec<(u32, u32)> = (0..4096u32)
        .map(|i| {
            let x = i.wrapping_mul(2_654_435_761);
            ((x >> 8) % devs, x % events)
        })
        .collect();
    let mut grp = c.benchmark_group("its_translate_65536");
    grp.measurement_time(Duration::from_secs(2)).sample_size(20);
    let mut i = 0usize;
    grp.bench_function("hashmap_get", |b| {
        b.iter(|| {
            let k = keys[i & 4095];
            i += 1;
            black_box(map.get(&k).copied())
        })
    });
    let mut j = 0usize;
    grp.bench_function("its_translate", |b| {
        b.iter(|| {
            let (d, e) = keys[j & 4095];
            j += 1;
            black_box(g.its_translate(d, e).ok())
        })
    });
    grp.finish();
}

criterion_group!(benches, ack_eoi, its_translate);
criterion_main!(benches);
