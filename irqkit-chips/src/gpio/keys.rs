//! gpio-keys, the seed-003 example driver: a button on a GPIO pin. Its interrupt handler
//! only (re)arms a debounce deadline — every bounce pushes it out, like `mod_timer` in
//! Linux's drivers/input/keyboard/gpio_keys.c — and when the deadline passes the pin is
//! sampled and a key event reported if the debounced state changed.
//!
//! Time is passed in: the runtime arms a timer for [`GpioKey::next_deadline`] and calls
//! [`GpioKey::on_timer`] from it (softirq context), so the handler stays tiny.

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::driver::GpioIrqDriver;
use super::GPIO_DATA_IN;
use crate::mmio::Mmio;
use crate::trigger::Trigger;

/// A debounced key press or release.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyEvent {
    /// The input key code (e.g. KEY_POWER = 116).
    pub code: u16,
    /// Pressed (true) or released.
    pub pressed: bool,
}

struct KeyState {
    deadline: Option<u64>,
    pressed: bool,
}

/// One button on one GPIO pin.
pub struct GpioKey {
    pin: u32,
    code: u16,
    active_low: bool,
    debounce: u64,
    st: SpinLock<KeyState>,
}

impl GpioKey {
    /// A key on `pin` reporting `code`; `active_low` buttons pull the line to 0 when
    /// pressed; `debounce` is in the runtime's time units.
    pub fn new(pin: u32, code: u16, active_low: bool, debounce: u64) -> Self {
        GpioKey {
            pin,
            code,
            active_low,
            debounce,
            st: SpinLock::new(KeyState { deadline: None, pressed: false }),
        }
    }

    /// The GPIO pin this key uses.
    pub fn pin(&self) -> u32 {
        self.pin
    }

    /// Probe: both edges (a press and a release each interrupt), unmasked.
    pub fn setup(&self, drv: &GpioIrqDriver, gpio: &impl Mmio) -> Result<(), IrqError> {
        drv.set_type(gpio, self.pin, Trigger::EdgeBoth)?;
        drv.unmask(gpio, self.pin)
    }

    /// The hard-irq handler: (re)arm the debounce deadline.
    pub fn on_irq(&self, now: u64) {
        self.st.lock().deadline = Some(now.saturating_add(self.debounce));
    }

    /// When [`GpioKey::on_timer`] must next run, if a debounce is in progress.
    pub fn next_deadline(&self) -> Option<u64> {
        self.st.lock().deadline
    }

    /// The debounce timer: once the deadline has passed, sample the pin and report a
    /// change of the debounced state.
    pub fn on_timer(&self, gpio: &impl Mmio, now: u64) -> Option<KeyEvent> {
        let mut st = self.st.lock();
        match st.deadline {
            Some(d) if d <= now => st.deadline = None,
            _ => return None,
        }
        let level = gpio.read32(GPIO_DATA_IN) & (1 << self.pin) != 0;
        let pressed = level != self.active_low;
        if pressed == st.pressed {
            return None;
        }
        st.pressed = pressed;
        Some(KeyEvent { code: self.code, pressed })
    }
}
