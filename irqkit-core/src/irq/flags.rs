//! Request flags (`IRQF_*`), handler return values (`irqreturn_t`) and per-action
//! thread flags (`IRQTF_*`) with Linux's bit values; the descriptor and chip state
//! words live in `bits.rs` and are re-exported here.
//!
//! The values are Linux's (include/linux/interrupt.h, irq.h, kernel/irq/internals.h), so
//! traces and `/sys` views read the same numbers a kernel engineer expects. Call sites do
//! not poke these words directly: descriptors expose small accessors (see `desc.rs`).

use bitflags::bitflags;
use core::ops::{BitOr, BitOrAssign};

pub use super::bits::{ChipFlags, IrqSettings, IrqdState, IrqsState, Trigger};

bitflags! {
    /// `IRQF_*`: how a handler is requested (include/linux/interrupt.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Flags: u32 {
        /// Rising edge trigger.
        const TRIGGER_RISING = 0x1;
        /// Falling edge trigger.
        const TRIGGER_FALLING = 0x2;
        /// High level trigger.
        const TRIGGER_HIGH = 0x4;
        /// Low level trigger.
        const TRIGGER_LOW = 0x8;
        /// All trigger bits.
        const TRIGGER_MASK = 0xf;
        /// Trigger probing (legacy autodetect).
        const TRIGGER_PROBE = 0x10;
        /// Several devices share the line.
        const SHARED = 0x80;
        /// The caller expects a sharing mismatch; do not report it.
        const PROBE_SHARED = 0x100;
        /// Timer interrupt (internal bit of `TIMER`).
        const TIMER_BIT = 0x200;
        /// Per-CPU interrupt.
        const PERCPU = 0x400;
        /// Exclude from irq balancing.
        const NOBALANCING = 0x800;
        /// Used for polling (only the first sharer is considered).
        const IRQPOLL = 0x1000;
        /// Keep the line masked until the threaded handler finished.
        const ONESHOT = 0x2000;
        /// Do not disable during suspend.
        const NO_SUSPEND = 0x4000;
        /// Force enable on resume even if NO_SUSPEND is set.
        const FORCE_RESUME = 0x8000;
        /// Never thread this handler (also not under `threadirqs`).
        const NO_THREAD = 0x10000;
        /// Resume in the syscore phase, before device resume.
        const EARLY_RESUME = 0x20000;
        /// Shared with a NO_SUSPEND user: run after suspend too.
        const COND_SUSPEND = 0x40000;
        /// Do not enable the line at request time; `enable_irq` does it later.
        const NO_AUTOEN = 0x80000;
        /// Exclude from runaway (spurious) detection; per-CPU lines only.
        const NO_DEBUG = 0x100000;
        /// Take ONESHOT if the line already has it.
        const COND_ONESHOT = 0x200000;
        /// `IRQF_TIMER` = timer bit | NO_SUSPEND | NO_THREAD.
        const TIMER = 0x200 | 0x4000 | 0x10000;
    }
}

/// What a handler reports (`irqreturn_t`); results of shared handlers are OR-ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IrqReturn(pub u32);

impl IrqReturn {
    /// `IRQ_NONE`: not this device's interrupt.
    pub const NONE: IrqReturn = IrqReturn(0);
    /// `IRQ_HANDLED`.
    pub const HANDLED: IrqReturn = IrqReturn(1);
    /// `IRQ_WAKE_THREAD`: wake the threaded handler.
    pub const WAKE_THREAD: IrqReturn = IrqReturn(2);

    /// True if any bit of `other` is set in `self`.
    #[inline]
    pub fn contains(self, other: IrqReturn) -> bool {
        self.0 & other.0 != 0
    }

    /// `IRQ_RETVAL(x)`: HANDLED if `handled`, else NONE.
    pub fn from_handled(handled: bool) -> IrqReturn {
        if handled {
            IrqReturn::HANDLED
        } else {
            IrqReturn::NONE
        }
    }
}

impl BitOr for IrqReturn {
    type Output = IrqReturn;
    #[inline]
    fn bitor(self, rhs: IrqReturn) -> IrqReturn {
        IrqReturn(self.0 | rhs.0)
    }
}

impl BitOrAssign for IrqReturn {
    #[inline]
    fn bitor_assign(&mut self, rhs: IrqReturn) {
        self.0 |= rhs.0;
    }
}

bitflags! {
    /// `IRQTF_*`: per-action thread flags (kernel/irq/internals.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ThreadFlags: u32 {
        /// The thread has work to do.
        const RUNTHREAD = 1 << 0;
        /// Warned about an exiting thread.
        const WARNED = 1 << 1;
        /// The thread must adopt the irq's affinity.
        const AFFINITY = 1 << 2;
        /// The handler was force-threaded.
        const FORCED_THREAD = 1 << 3;
        /// The thread started.
        const READY = 1 << 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_include_linux_interrupt_h() {
        assert_eq!(Flags::TIMER.bits(), 0x200 | 0x4000 | 0x10000);
        assert_eq!(Flags::COND_ONESHOT.bits(), 0x200000);
        assert_eq!(IrqdState::RESEND_WHEN_IN_PROGRESS.bits(), 1 << 30);
        assert_eq!(IrqsState::PENDING.bits(), 0x200);
        assert_eq!(ChipFlags::MOVE_DEFERRED.bits(), 1 << 12);
        assert_eq!((IrqReturn::HANDLED | IrqReturn::WAKE_THREAD).0, 3);
        assert!(Trigger::LEVEL_LOW.is_level() && !Trigger::EDGE_BOTH.is_level());
    }
}
