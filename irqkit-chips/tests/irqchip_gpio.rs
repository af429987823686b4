//! GPIO controller as a chained irqchip behind a GICv3 SPI, end to end on the models
//! (Linux drivers/gpio/gpiolib.c `gpiochip_irq_map`, gpiochip irq chips' `irq_set_type`
//! switching flow handlers; include/linux/irqchip/chained_irq.h; kernel/irq/chip.c
//! `irq_set_chained_handler`), behind a GIC SPI and behind an IO-APIC level pin.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use irqkit_chips::gic::v3_dist::GICD_ISACTIVER;
use irqkit_chips::gic::{GicV3, GicV3Config, ModelMemory};
use irqkit_chips::gpio::{GpioController, GPIO_IRQ_ENABLE};
use irqkit_chips::irqchip::gicv3::{GicV3Irq, ModelGicV3Ports, GIC_SPI};
use irqkit_chips::irqchip::gpio::{GpioIrq, ModelGpioPorts};
use irqkit_chips::mmio::Mmio;
use irqkit_core::irq::{Flags, IrqData, IrqReturn};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, IrqError, IrqSystem};

const EDGE_RISING: u32 = 1;
const EDGE_FALLING: u32 = 2;
const LEVEL_HIGH: u32 = 4;
const SPI: u32 = 40;

struct Machine {
    sys: Arc<IrqSystem>,
    gic: Arc<GicV3>,
    irq: GicV3Irq<ModelGicV3Ports>,
    gpio: Arc<GpioController>,
    chip: GpioIrq,
    parent_virq: u32,
}

fn machine() -> Machine {
    let mem = Arc::new(ModelMemory::new());
    let (sys, gic, irq) = common::gicv3_system(GicV3Config::default(), mem, false, |_, _, _| {});
    let (parent_virq, parent) =
        irq.map_chained_parent(&sys, &[GIC_SPI, SPI - 32, LEVEL_HIGH]).unwrap();
    let gpio = Arc::new(GpioController::new(8).unwrap());
    let g = gic.clone();
    gpio.connect(Arc::new(move |level| g.set_line(SPI, level).unwrap()));
    let ports = ModelGpioPorts { gpio: gpio.clone() };
    let chip = GpioIrq::new(&sys, ports, 8, parent_virq, parent).unwrap();
    Machine { sys, gic, irq, gpio, chip, parent_virq }
}

fn cpu_entry(m: &Machine, cpu: u32) -> Result<Option<u32>, IrqError> {
    common::on_cpu_irq(&m.sys, cpu, |ctx| m.irq.handle_irq(&m.sys, ctx))
}

fn spi_active(m: &Machine) -> bool {
    m.gic.dist_view(0).read32(GICD_ISACTIVER + 4) & (1 << (SPI % 32)) != 0
}

#[test]
fn edge_pin_is_demultiplexed_by_the_chained_handler_once() {
    let m = machine();
    let virq = m.chip.map_fwspec(&m.sys, &[3, EDGE_RISING]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let _reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "button",
        )
        .unwrap();
    m.gpio.set_pin(3, true).unwrap();
    assert!(m.gpio.upstream_level() && m.gic.irq_asserted(0));
    assert_eq!(cpu_entry(&m, 0), Ok(Some(SPI)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!m.gpio.upstream_level(), "edge latch acked");
    assert!(!m.gic.irq_asserted(0) && !spi_active(&m), "parent EOIed by chained_irq_exit");
    // The falling edge of a rising-edge pin raises nothing.
    m.gpio.set_pin(3, false).unwrap();
    assert!(!m.gic.irq_asserted(0));
}

#[test]
fn level_pin_uses_the_level_flow_and_is_unmasked_after_the_handler() {
    let m = machine();
    let virq = m.chip.map_fwspec(&m.sys, &[5, LEVEL_HIGH]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let (h, g) = (hits.clone(), m.gpio.clone());
    let _reg = m
        .sys
        .request_irq(
            virq,
            move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                g.set_pin(5, false).unwrap();
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "lid",
        )
        .unwrap();
    m.gpio.set_pin(5, true).unwrap();
    assert_eq!(cpu_entry(&m, 0), Ok(Some(SPI)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_ne!(m.gpio.mmio_view().read32(GPIO_IRQ_ENABLE) & (1 << 5), 0, "unmasked again");
    assert!(!m.gic.irq_asserted(0) && !spi_active(&m));
}

#[test]
fn per_pin_types_pick_the_pins_edge() {
    let m = machine();
    let rise = m.chip.map_fwspec(&m.sys, &[1, EDGE_RISING]).unwrap();
    let fall = m.chip.map_fwspec(&m.sys, &[2, EDGE_FALLING]).unwrap();
    let counts: Vec<Arc<AtomicU32>> = (0..2).map(|_| Arc::new(AtomicU32::new(0))).collect();
    let mut regs = Vec::new();
    for (virq, c) in [(rise, counts[0].clone()), (fall, counts[1].clone())] {
        let f = move |_: &irqkit_core::HardIrq| {
            c.fetch_add(1, Ordering::SeqCst);
            IrqReturn::HANDLED
        };
        regs.push(m.sys.request_irq(virq, f, Flags::empty(), "pin").unwrap());
    }
    m.gpio.set_pin(2, true).unwrap();
    m.gpio.set_pin(1, true).unwrap();
    cpu_entry(&m, 0).unwrap();
    m.gpio.set_pin(2, false).unwrap();
    m.gpio.set_pin(1, false).unwrap();
    cpu_entry(&m, 0).unwrap();
    assert_eq!(counts[0].load(Ordering::SeqCst), 1);
    assert_eq!(counts[1].load(Ordering::SeqCst), 1);
}

#[test]
fn bad_pins_and_requests_give_typed_errors() {
    let m = machine();
    let inval = |r: Result<u32, IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.chip.map_fwspec(&m.sys, &[8, EDGE_RISING])), "pin beyond the controller");
    assert!(inval(m.chip.map_fwspec(&m.sys, &[1])), "one cell");
    assert!(inval(m.sys.irq_create_mapping(Some(m.chip.domain()), 9)));
    let parent = m.sys.request_irq(m.parent_virq, |_| IrqReturn::HANDLED, Flags::empty(), "x");
    assert!(matches!(parent, Err(IrqError::InvalidArgument(_))), "chained parent is NOREQUEST");
    let bad = GpioIrq::new(
        &m.sys,
        ModelGpioPorts { gpio: m.gpio.clone() },
        0,
        m.parent_virq,
        IrqData::new(m.parent_virq),
    );
    assert!(matches!(bad, Err(IrqError::InvalidArgument(_))));
}

#[test]
fn gpio_behind_an_io_apic_level_pin_eois_the_parent_and_clears_remote_irr() {
    use irqkit_chips::irqchip::x86::{ModelX86Ports, X86Irq};
    use irqkit_chips::x86::apic_driver::LapicDriver;
    use irqkit_chips::x86::ioapic::{IoApic, RTE_REMOTE_IRR};
    use irqkit_chips::x86::LapicSet;

    let (sys, platform) = FakePlatform::system(4);
    let lapics = Arc::new(LapicSet::new(4).unwrap());
    for cpu in 0..4 {
        LapicDriver::setup(&lapics.mmio_view(cpu));
    }
    let io = IoApic::new(0, 24, lapics.clone()).unwrap();
    let x86 =
        X86Irq::new(&sys, ModelX86Ports { lapics: lapics.clone(), ioapic: io.clone(), platform })
            .unwrap();
    let (pvirq, parent) = x86.map_chained_parent(&sys, &[14, LEVEL_HIGH]).unwrap();
    let gpio = Arc::new(GpioController::new(8).unwrap());
    let io2 = io.clone();
    gpio.connect(Arc::new(move |level| io2.set_line(14, level).unwrap()));
    let chip = GpioIrq::new(&sys, ModelGpioPorts { gpio: gpio.clone() }, 8, pvirq, parent).unwrap();
    let virq = chip.map_fwspec(&sys, &[6, EDGE_FALLING]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let f = move |_: &irqkit_core::HardIrq| {
        h.fetch_add(1, Ordering::SeqCst);
        IrqReturn::HANDLED
    };
    let _reg = sys.request_irq(virq, f, Flags::empty(), "power").unwrap();
    gpio.set_pin(6, true).unwrap();
    gpio.set_pin(6, false).unwrap();
    let (cpu, _) = x86.vector_of(&sys, pvirq).unwrap();
    assert!(lapics.irq_asserted(cpu));
    FakePlatform::enter_cpu(CpuId(cpu));
    let flags = sys.local_irq_save();
    let ctx = sys.irq_enter();
    x86.handle_irq(&sys, &ctx).unwrap();
    sys.irq_exit(ctx);
    sys.local_irq_restore(flags);
    FakePlatform::enter_cpu(CpuId(0));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(io.rte(14).unwrap() & RTE_REMOTE_IRR, 0, "parent EOI reached the IO-APIC");
    assert!(!lapics.irq_asserted(cpu));
}
