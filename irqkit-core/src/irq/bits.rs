//! State words of a descriptor and chip with Linux's bit values: `IRQD_*` (irq_data
//! state), `IRQS_*` (core state), `IRQ_*` settings, `IRQCHIP_*` chip flags and the
//! `IRQ_TYPE_*` trigger type (include/linux/irq.h, kernel/irq/internals.h).
//!
//! Only descriptors and chips read these through small accessors; see `desc.rs`.

use bitflags::bitflags;

bitflags! {
    /// `IRQD_*`: the irq_data state word (include/linux/irq.h). Bits 0–3 hold the trigger.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct IrqdState: u32 {
        /// Trigger type bits (same encoding as [`Trigger`]).
        const TRIGGER_MASK = 0xf;
        /// An affinity change is pending.
        const SETAFFINITY_PENDING = 1 << 8;
        /// The domain hierarchy is activated.
        const ACTIVATED = 1 << 9;
        /// Excluded from balancing.
        const NO_BALANCING = 1 << 10;
        /// Per-CPU interrupt.
        const PER_CPU = 1 << 11;
        /// Affinity was set by the user.
        const AFFINITY_SET = 1 << 12;
        /// Level triggered.
        const LEVEL = 1 << 13;
        /// Configured as a wakeup source.
        const WAKEUP_STATE = 1 << 14;
        /// Disabled (logically).
        const IRQ_DISABLED = 1 << 16;
        /// Masked at the chip.
        const IRQ_MASKED = 1 << 17;
        /// A hard handler runs on some CPU.
        const IRQ_INPROGRESS = 1 << 18;
        /// Armed as wakeup during suspend.
        const WAKEUP_ARMED = 1 << 19;
        /// Forwarded to a vCPU.
        const FORWARDED_TO_VCPU = 1 << 20;
        /// Kernel-managed affinity.
        const AFFINITY_MANAGED = 1 << 21;
        /// Started (irq_startup ran).
        const IRQ_STARTED = 1 << 22;
        /// Shut down because no CPU of its managed mask is online.
        const MANAGED_SHUTDOWN = 1 << 23;
        /// Delivered to a single CPU.
        const SINGLE_TARGET = 1 << 24;
        /// The default trigger was set.
        const DEFAULT_TRIGGER_SET = 1 << 25;
        /// May reserve vectors.
        const CAN_RESERVE = 1 << 26;
        /// Must be handled in hard-irq context (no software resend).
        const HANDLE_ENFORCE_IRQCTX = 1 << 27;
        /// Affinity is applied at activation.
        const AFFINITY_ON_ACTIVATE = 1 << 28;
        /// Enabled during suspend because it is a wakeup source.
        const IRQ_ENABLED_ON_SUSPEND = 1 << 29;
        /// Set PENDING when in progress elsewhere (resend later).
        const RESEND_WHEN_IN_PROGRESS = 1 << 30;
    }
}

bitflags! {
    /// `IRQS_*`: core-internal state (kernel/irq/internals.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct IrqsState: u32 {
        /// Autodetection in progress.
        const AUTODETECT = 0x1;
        /// Disabled by the spurious detector.
        const SPURIOUS_DISABLED = 0x2;
        /// A poll of this line is in progress.
        const POLL_INPROGRESS = 0x8;
        /// The line is oneshot (masked until threads finish).
        const ONESHOT = 0x20;
        /// A resend is in flight.
        const REPLAY = 0x40;
        /// Autodetect waiting.
        const WAITING = 0x80;
        /// An interrupt arrived while it could not be handled.
        const PENDING = 0x200;
        /// Suspended by PM.
        const SUSPENDED = 0x800;
        /// Timings collection.
        const TIMINGS = 0x1000;
        /// NMI line.
        const NMI = 0x2000;
        /// Sysfs entry exists.
        const SYSFS = 0x4000;
    }
}

bitflags! {
    /// `IRQ_*` settings (include/linux/irq.h), low bits are the trigger type.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct IrqSettings: u32 {
        /// Trigger type bits.
        const TYPE_SENSE_MASK = 0xf;
        /// Probe.
        const TYPE_PROBE = 0x10;
        /// Level triggered.
        const LEVEL = 1 << 8;
        /// Per-CPU.
        const PER_CPU = 1 << 9;
        /// Excluded from probing.
        const NOPROBE = 1 << 10;
        /// Cannot be requested.
        const NOREQUEST = 1 << 11;
        /// Not enabled at request.
        const NOAUTOEN = 1 << 12;
        /// Excluded from balancing.
        const NO_BALANCING = 1 << 13;
        /// Handled by a parent's thread (nested).
        const NESTED_THREAD = 1 << 15;
        /// Never threaded.
        const NOTHREAD = 1 << 16;
        /// Per-CPU with per-CPU device ids.
        const PER_CPU_DEVID = 1 << 17;
        /// Polled by a driver.
        const IS_POLLED = 1 << 18;
        /// Disable is not lazy.
        const DISABLE_UNLAZY = 1 << 19;
        /// Hidden from /proc/interrupts.
        const HIDDEN = 1 << 20;
        /// Excluded from spurious detection.
        const NO_DEBUG = 1 << 21;
    }
}

bitflags! {
    /// `IRQCHIP_*`: chip behaviour flags (include/linux/irq.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ChipFlags: u32 {
        /// Mask before changing the trigger type.
        const SET_TYPE_MASKED = 1 << 0;
        /// Only EOI when the interrupt was handled.
        const EOI_IF_HANDLED = 1 << 1;
        /// Mask non-wake lines at suspend.
        const MASK_ON_SUSPEND = 1 << 2;
        /// Only call on/offline callbacks when enabled.
        const ONOFFLINE_ENABLED = 1 << 3;
        /// `set_wake` is not needed: always succeeds.
        const SKIP_SET_WAKE = 1 << 4;
        /// The chip needs no ONESHOT masking (e.g. MSI).
        const ONESHOT_SAFE = 1 << 5;
        /// EOI is deferred to the end of the threaded handler.
        const EOI_THREADED = 1 << 6;
        /// Supports level MSIs.
        const SUPPORTS_LEVEL_MSI = 1 << 7;
        /// Supports NMIs.
        const SUPPORTS_NMI = 1 << 8;
        /// Enable wakeup lines at suspend.
        const ENABLE_WAKEUP_ON_SUSPEND = 1 << 9;
        /// Set affinity before startup.
        const AFFINITY_PRE_STARTUP = 1 << 10;
        /// Chip structure is immutable.
        const IMMUTABLE = 1 << 11;
        /// Affinity can only move from the interrupt itself.
        const MOVE_DEFERRED = 1 << 12;
    }
}

bitflags! {
    /// Trigger type (`IRQ_TYPE_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Trigger: u32 {
        /// Rising edge.
        const EDGE_RISING = 1;
        /// Falling edge.
        const EDGE_FALLING = 2;
        /// Both edges.
        const EDGE_BOTH = 3;
        /// High level.
        const LEVEL_HIGH = 4;
        /// Low level.
        const LEVEL_LOW = 8;
        /// Level bits.
        const LEVEL_MASK = 0xc;
        /// All sense bits.
        const SENSE_MASK = 0xf;
    }
}

impl Trigger {
    /// `IRQ_TYPE_NONE`: leave as configured.
    pub const NONE: Trigger = Trigger::empty();

    /// True if this is a level type.
    pub fn is_level(self) -> bool {
        self.intersects(Trigger::LEVEL_MASK)
    }
}
