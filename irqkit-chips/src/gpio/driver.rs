//! GPIO interrupt driver: per-pin `set_type`, mask, unmask, ack, and the chained
//! handler that demultiplexes the upstream interrupt into per-pin hwirqs (Linux's
//! chained_irq_enter / generic_handle_domain_irq / chained_irq_exit pattern).

use irqkit_core::IrqError;

use super::*;
use crate::mmio::Mmio;
use crate::trigger::Trigger;

/// Driver for one GPIO interrupt controller.
pub struct GpioIrqDriver {
    pins: u32,
}

impl GpioIrqDriver {
    /// A driver for a controller with `pins` pins; masks and acks everything.
    pub fn init(gpio: &impl Mmio, pins: u32) -> Result<Self, IrqError> {
        if pins == 0 || pins > 32 {
            return Err(IrqError::InvalidArgument("GPIO pin count"));
        }
        gpio.write32(GPIO_IRQ_ENABLE, 0);
        gpio.write32(GPIO_IRQ_ACK, !0);
        Ok(GpioIrqDriver { pins })
    }

    fn bit(&self, pin: u32) -> Result<u32, IrqError> {
        if pin >= self.pins {
            return Err(IrqError::InvalidArgument("GPIO pin"));
        }
        Ok(1 << pin)
    }

    fn update(gpio: &impl Mmio, reg: usize, m: u32, on: bool) {
        let v = gpio.read32(reg);
        gpio.write32(reg, if on { v | m } else { v & !m });
    }

    /// irq_set_type: any edge or level type.
    pub fn set_type(&self, gpio: &impl Mmio, pin: u32, t: Trigger) -> Result<(), IrqError> {
        let m = self.bit(pin)?;
        let (edge, pol, both) = match t {
            Trigger::EdgeRising => (true, true, false),
            Trigger::EdgeFalling => (true, false, false),
            Trigger::EdgeBoth => (true, false, true),
            Trigger::LevelHigh => (false, true, false),
            Trigger::LevelLow => (false, false, false),
        };
        Self::update(gpio, GPIO_IRQ_POLARITY, m, pol);
        Self::update(gpio, GPIO_IRQ_BOTH, m, both);
        Self::update(gpio, GPIO_IRQ_TYPE, m, edge);
        Ok(())
    }

    /// irq_mask.
    pub fn mask(&self, gpio: &impl Mmio, pin: u32) -> Result<(), IrqError> {
        Self::update(gpio, GPIO_IRQ_ENABLE, self.bit(pin)?, false);
        Ok(())
    }

    /// irq_unmask.
    pub fn unmask(&self, gpio: &impl Mmio, pin: u32) -> Result<(), IrqError> {
        Self::update(gpio, GPIO_IRQ_ENABLE, self.bit(pin)?, true);
        Ok(())
    }

    /// irq_ack: clears an edge latch (a no-op for level pins).
    pub fn ack(&self, gpio: &impl Mmio, pin: u32) -> Result<(), IrqError> {
        gpio.write32(GPIO_IRQ_ACK, self.bit(pin)?);
        Ok(())
    }

    /// The chained handler: for each pending unmasked pin, lowest first, acks edge
    /// pins then calls `handle(pin)`. Returns the pins handled (bit mask).
    pub fn handle_chained(&self, gpio: &impl Mmio, mut handle: impl FnMut(u32)) -> u32 {
        let pending = gpio.read32(GPIO_IRQ_MASKED_STATUS);
        let edge = gpio.read32(GPIO_IRQ_TYPE);
        let mut m = pending;
        while m != 0 {
            let pin = m.trailing_zeros();
            m &= m - 1;
            if edge & (1 << pin) != 0 {
                gpio.write32(GPIO_IRQ_ACK, 1 << pin);
            }
            handle(pin);
        }
        pending
    }
}
