//! A GPIO interrupt controller: up to 32 pins with per-pin edge (rising, falling, both)
//! or level (high, low) detection, mask and ack, chained behind one upstream line (a
//! GIC SPI or an IO-APIC pin), as a model and a driver.
//!
//! Register map (32-bit, our own simple IP in the style of Linux's gpio-mmio chips):
//!
//! | offset | register          | meaning                                           |
//! |--------|-------------------|---------------------------------------------------|
//! | 0x00   | DATA_IN           | current pin levels (read-only)                    |
//! | 0x04   | IRQ_ENABLE        | 1 = unmasked                                      |
//! | 0x08   | IRQ_TYPE          | 1 = edge, 0 = level                               |
//! | 0x0C   | IRQ_POLARITY      | 1 = rising / high, 0 = falling / low              |
//! | 0x10   | IRQ_BOTH          | 1 = both edges (edge pins only)                   |
//! | 0x14   | IRQ_STATUS        | raw: latched edges, active levels (read-only)     |
//! | 0x18   | IRQ_MASKED_STATUS | IRQ_STATUS & IRQ_ENABLE (read-only)               |
//! | 0x1C   | IRQ_ACK           | write 1 to clear an edge latch                    |

pub mod driver;
pub mod keys;
pub mod model;

pub use driver::GpioIrqDriver;
pub use model::GpioController;

/// DATA_IN.
pub const GPIO_DATA_IN: usize = 0x00;
/// IRQ_ENABLE.
pub const GPIO_IRQ_ENABLE: usize = 0x04;
/// IRQ_TYPE.
pub const GPIO_IRQ_TYPE: usize = 0x08;
/// IRQ_POLARITY.
pub const GPIO_IRQ_POLARITY: usize = 0x0C;
/// IRQ_BOTH.
pub const GPIO_IRQ_BOTH: usize = 0x10;
/// IRQ_STATUS.
pub const GPIO_IRQ_STATUS: usize = 0x14;
/// IRQ_MASKED_STATUS.
pub const GPIO_IRQ_MASKED_STATUS: usize = 0x18;
/// IRQ_ACK.
pub const GPIO_IRQ_ACK: usize = 0x1C;
