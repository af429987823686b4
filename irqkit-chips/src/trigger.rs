//! Trigger types a driver's `set_type` accepts (Linux's IRQ_TYPE_*), and the bounded
//! polling helper drivers use instead of Linux's timeouts.

use irqkit_core::IrqError;

/// How a line signals an interrupt (Linux `IRQ_TYPE_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Trigger {
    /// Rising edge (`IRQ_TYPE_EDGE_RISING`).
    EdgeRising,
    /// Falling edge (`IRQ_TYPE_EDGE_FALLING`).
    EdgeFalling,
    /// Both edges (`IRQ_TYPE_EDGE_BOTH`).
    EdgeBoth,
    /// High level (`IRQ_TYPE_LEVEL_HIGH`).
    LevelHigh,
    /// Low level (`IRQ_TYPE_LEVEL_LOW`).
    LevelLow,
}

impl Trigger {
    /// Whether this is a level type.
    pub const fn is_level(self) -> bool {
        matches!(self, Trigger::LevelHigh | Trigger::LevelLow)
    }
}

/// How many times a driver polls a completion bit before giving up. Linux waits up to
/// 1 s with udelay(1); a model completes at once, so a fixed count keeps tests
/// deterministic and still catches a register that never clears.
pub const POLL_LIMIT: u32 = 1_000_000;

/// Polls `done` up to [`POLL_LIMIT`] times; `Busy(what)` if it never returns true.
pub fn poll_until(what: &'static str, mut done: impl FnMut() -> bool) -> Result<(), IrqError> {
    for _ in 0..POLL_LIMIT {
        if done() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(IrqError::Busy(what))
}
