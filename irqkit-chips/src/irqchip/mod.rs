//! Glue between the controller drivers and irqkit-core's generic IRQ layer: each
//! controller as an [`irqkit_core::irq::IrqChip`] with its irq domain, and the arch entry
//! that acknowledges through the driver and calls `generic_handle_domain_irq`.
//!
//! | file         | Linux                                                    |
//! |--------------|----------------------------------------------------------|
//! | `gic_ports.rs` | (how GIC chips reach this CPU's registers)             |
//! | `gicv2.rs`   | drivers/irqchip/irq-gic.c (`gic_chip`, `gic_handle_irq`)  |
//! | `gicv3.rs`   | drivers/irqchip/irq-gic-v3.c (`gic_chip`, `gic_handle_irq`) |
//! | `its_domain.rs`, `its_msi.rs` | drivers/irqchip/irq-gic-v3-its.c, irq-gic-v3-its-msi-parent.c |
//! | `x86/`       | arch/x86/kernel/apic/vector.c, io_apic.c, msi.c; irq.c    |
//! | `gpio.rs`    | drivers/gpio/gpiolib.c `gpiochip_irqchip_*` (chained)     |
//!
//! Chip callbacks get no CPU argument, so each chip reaches "this CPU's" registers
//! through a ports trait whose model implementation asks the platform which CPU runs.

pub mod gic_ports;
pub mod gicv2;
pub mod gicv3;
pub mod gpio;
pub mod its_domain;
pub mod its_msi;
pub mod x86;

use irqkit_core::irq::Trigger as CoreTrigger;
use irqkit_core::IrqError;

use crate::trigger::Trigger;

/// Converts the generic layer's `IRQ_TYPE_*` bits to a driver trigger; `NONE` and
/// mixed level/edge bits are rejected.
pub fn driver_trigger(ty: CoreTrigger) -> Result<Trigger, IrqError> {
    let t = ty & CoreTrigger::SENSE_MASK;
    if t == CoreTrigger::EDGE_RISING {
        Ok(Trigger::EdgeRising)
    } else if t == CoreTrigger::EDGE_FALLING {
        Ok(Trigger::EdgeFalling)
    } else if t == CoreTrigger::EDGE_BOTH {
        Ok(Trigger::EdgeBoth)
    } else if t == CoreTrigger::LEVEL_HIGH {
        Ok(Trigger::LevelHigh)
    } else if t == CoreTrigger::LEVEL_LOW {
        Ok(Trigger::LevelLow)
    } else {
        Err(IrqError::InvalidArgument("unsupported trigger type"))
    }
}

/// Runs task-context driver work with local interrupts masked: the driver locks it
/// takes are also taken by chip callbacks in interrupt context.
pub(crate) fn irqs_off<R>(sys: &irqkit_core::IrqSystem, f: impl FnOnce() -> R) -> R {
    let flags = sys.local_irq_save();
    let r = f();
    sys.local_irq_restore(flags);
    r
}
