//! GPIO chained controller: per-pin trigger types, mask, ack, and the upstream line
//! driving a GIC SPI (Linux's chained-irqchip pattern, e.g. drivers/gpio/gpio-pl061.c).

use std::sync::Arc;

use irqkit_chips::gic::GicV2;
use irqkit_chips::gpio::{GpioController, GpioIrqDriver};
use irqkit_chips::mmio::{Mmio, Width};
use irqkit_chips::trigger::Trigger;

fn setup() -> (Arc<GpioController>, GpioIrqDriver) {
    let g = Arc::new(GpioController::new(8).unwrap());
    let d = GpioIrqDriver::init(&g.mmio_view(), 8).unwrap();
    (g, d)
}

#[test]
fn rising_falling_and_both_edges() {
    let (g, d) = setup();
    let v = g.mmio_view();
    d.set_type(&v, 0, Trigger::EdgeRising).unwrap();
    d.set_type(&v, 1, Trigger::EdgeFalling).unwrap();
    d.set_type(&v, 2, Trigger::EdgeBoth).unwrap();
    for p in 0..3 {
        d.unmask(&v, p).unwrap();
    }
    for p in 0..3 {
        g.set_pin(p, true).unwrap();
    }
    let mut seen = vec![];
    assert_eq!(d.handle_chained(&v, |p| seen.push(p)), 0b101);
    assert_eq!(seen, [0, 2]);
    for p in 0..3 {
        g.set_pin(p, false).unwrap();
    }
    assert_eq!(d.handle_chained(&v, |_| {}), 0b110);
    assert!(!g.upstream_level(), "edges acked by the chained handler");
}

#[test]
fn level_pins_stay_pending_while_active_and_mask_hides_them() {
    let (g, d) = setup();
    let v = g.mmio_view();
    d.set_type(&v, 5, Trigger::LevelLow).unwrap();
    d.unmask(&v, 5).unwrap();
    assert!(g.upstream_level(), "input low = active");
    d.ack(&v, 5).unwrap();
    assert!(g.upstream_level(), "ack does not clear an active level");
    d.mask(&v, 5).unwrap();
    assert!(!g.upstream_level());
    d.unmask(&v, 5).unwrap();
    g.set_pin(5, true).unwrap();
    assert!(!g.upstream_level());
}

#[test]
fn gpio_behind_a_gic_spi() {
    let gic = Arc::new(GicV2::new(64, 1).unwrap());
    gic.dist_view(0).write32(0x000, 1);
    gic.cpuif_view(0).write32(0x004, 0xF0);
    gic.cpuif_view(0).write32(0x000, 1);
    gic.dist_view(0).write8(0x400 + 40, 0xA0);
    gic.dist_view(0).write32(0x104, 1 << 8);
    let (g, d) = setup();
    let gic2 = gic.clone();
    g.connect(Arc::new(move |l| {
        let _ = gic2.set_line(40, l);
    }));
    d.set_type(&g.mmio_view(), 3, Trigger::EdgeRising).unwrap();
    d.unmask(&g.mmio_view(), 3).unwrap();
    g.set_pin(3, true).unwrap();
    assert!(gic.irq_asserted(0));
    let iar = gic.acknowledge(0);
    assert_eq!(iar, 40);
    let mut pins = vec![];
    d.handle_chained(&g.mmio_view(), |p| pins.push(p));
    gic.end_of_interrupt(0, iar);
    assert_eq!(pins, [3]);
    assert!(!gic.irq_asserted(0));
}

#[test]
fn bad_gpio_input_is_rejected() {
    let (g, d) = setup();
    assert!(g.set_pin(8, true).is_err());
    assert!(d.unmask(&g.mmio_view(), 8).is_err());
    assert!(g.mmio_view().read(0x20, Width::W32).is_err());
    assert!(g.mmio_view().read(0x04, Width::W8).is_err());
    assert!(GpioController::new(33).is_err());
    assert!(GpioIrqDriver::init(&g.mmio_view(), 0).is_err());
}

#[test]
fn gpio_keys_debounces_a_bouncing_button() {
    use irqkit_chips::gpio::keys::{GpioKey, KeyEvent};
    let (g, d) = setup();
    let v = g.mmio_view();
    g.set_pin(4, true).unwrap(); // active-low button, released
    let key = GpioKey::new(4, 116, true, 5);
    key.setup(&d, &v).unwrap();
    // A press that bounces at t = 10, 11, 12, 13 and settles low.
    for (t, level) in [(10, false), (11, true), (12, false), (13, true), (14, false)] {
        g.set_pin(4, level).unwrap();
        assert!(g.upstream_level());
        d.handle_chained(&v, |pin| {
            assert_eq!(pin, 4);
            key.on_irq(t);
        });
    }
    assert_eq!(key.next_deadline(), Some(19), "every bounce pushes the deadline out");
    assert_eq!(key.on_timer(&v, 18), None);
    assert_eq!(key.on_timer(&v, 19), Some(KeyEvent { code: 116, pressed: true }));
    assert_eq!(key.next_deadline(), None);
    g.set_pin(4, true).unwrap();
    d.handle_chained(&v, |_| key.on_irq(30));
    assert_eq!(key.on_timer(&v, 35), Some(KeyEvent { code: 116, pressed: false }));
    // A glitch that returns to the same level reports nothing.
    g.set_pin(4, false).unwrap();
    g.set_pin(4, true).unwrap();
    d.handle_chained(&v, |_| key.on_irq(40));
    assert_eq!(key.on_timer(&v, 45), None);
}
