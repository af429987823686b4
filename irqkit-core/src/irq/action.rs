//! `IrqAction`: one registered handler of a line (`struct irqaction`), and the handler
//! closure types.
//!
//! Linux identifies an action by `dev_id`, a `void *` the driver must keep unique; here
//! a handler is a closure that captures its driver data, and the [`super::Registration`]
//! returned by `request_irq` is the identity, so a driver cannot free someone else's
//! handler or pass a wrong cookie.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use once_cell::race::OnceBox;

use super::flags::{Flags, IrqReturn, ThreadFlags};
use crate::cpu::{CpuMask, HardIrq, Task};
use crate::sched::Thread;
use crate::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A hard-irq handler: runs with interrupts masked, must not sleep or block.
pub type HardHandler = Box<dyn Fn(&HardIrq) -> IrqReturn + Send + Sync>;
/// A threaded handler: runs in the line's irq thread and may sleep.
pub type ThreadHandler = Box<dyn Fn(&Task) -> IrqReturn + Send + Sync>;

/// The primary (hard-irq) part of an action.
pub(crate) enum Primary {
    /// The driver's handler.
    Handler(HardHandler),
    /// `irq_default_primary_handler`: returns WAKE_THREAD.
    Default,
    /// `irq_nested_primary_handler`: a nested line's primary must never run.
    NestedWarn,
    /// `irq_forced_secondary_handler`: a forced secondary's primary must never run.
    SecondaryWarn,
}

/// The threaded part of an action.
pub(crate) enum ThreadPart {
    /// The driver's thread function.
    Thread(ThreadHandler),
    /// Forced threading: the original hard handler, run in the thread with interrupts off.
    Forced(HardHandler),
}

/// A registered handler (`struct irqaction`).
pub struct IrqAction {
    pub(crate) irq: u32,
    pub(crate) name: String,
    pub(crate) flags: Flags,
    pub(crate) primary: Primary,
    pub(crate) thread_fn: Option<ThreadPart>,
    /// The bit of this action in the line's `threads_oneshot` (0: none).
    pub(crate) thread_mask: crate::sync::atomic::AtomicU64,
    pub(crate) thread: OnceBox<Arc<Thread>>,
    pub(crate) thread_flags: AtomicU32,
    /// The secondary action of a force-threaded handler that had a thread_fn.
    pub(crate) secondary: Option<Arc<IrqAction>>,
    /// Per-CPU-devid lines: CPUs this action serves.
    pub(crate) percpu_affinity: Option<CpuMask>,
    /// Set after a handler panicked (runtime hook): the action is skipped from then on.
    pub(crate) broken: AtomicBool,
    pub(crate) warned_no_thread: AtomicBool,
    /// Set while the irq thread is exiting (`__irq_wake_thread` then does nothing).
    pub(crate) thread_exiting: AtomicBool,
}

impl IrqAction {
    pub(crate) fn new(irq: u32, name: String, flags: Flags) -> Self {
        IrqAction {
            irq,
            name,
            flags,
            primary: Primary::Default,
            thread_fn: None,
            thread_mask: crate::sync::atomic::AtomicU64::new(0),
            thread: OnceBox::new(),
            thread_flags: AtomicU32::new(0),
            secondary: None,
            percpu_affinity: None,
            broken: AtomicBool::new(false),
            warned_no_thread: AtomicBool::new(false),
            thread_exiting: AtomicBool::new(false),
        }
    }

    /// The name passed at request time (`devname`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The request flags after setup (forced threading adds ONESHOT, ONESHOT_SAFE
    /// chips drop it).
    pub fn flags(&self) -> Flags {
        self.flags
    }
    /// The irq this action is registered on.
    pub fn irq(&self) -> u32 {
        self.irq
    }
    /// The irq thread, if the action is threaded.
    pub fn thread(&self) -> Option<&Arc<Thread>> {
        self.thread.get()
    }
    /// True if the action has a threaded handler.
    pub fn is_threaded(&self) -> bool {
        self.thread_fn.is_some()
    }
    /// The forced-threading secondary action, if any.
    pub fn secondary(&self) -> Option<&Arc<IrqAction>> {
        self.secondary.as_ref()
    }
    /// True if this action's handler was force-threaded.
    pub fn is_forced_thread(&self) -> bool {
        self.thread_flag(ThreadFlags::FORCED_THREAD)
    }
    /// True once a handler panic disabled this action.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// True if `flag` is set in the thread flags.
    pub(crate) fn thread_flag(&self, flag: ThreadFlags) -> bool {
        self.thread_flags.load(Ordering::Acquire) & flag.bits() != 0
    }
    /// Sets `flag`; returns whether it was already set (`test_and_set_bit`).
    pub(crate) fn test_and_set_thread_flag(&self, flag: ThreadFlags) -> bool {
        self.thread_flags.fetch_or(flag.bits(), Ordering::AcqRel) & flag.bits() != 0
    }
    /// Clears `flag`; returns whether it was set (`test_and_clear_bit`).
    pub(crate) fn test_and_clear_thread_flag(&self, flag: ThreadFlags) -> bool {
        self.thread_flags.fetch_and(!flag.bits(), Ordering::AcqRel) & flag.bits() != 0
    }

    /// Runs the primary handler (`action->handler(irq, dev_id)`).
    #[inline]
    pub(crate) fn call_primary(&self, ctx: &HardIrq) -> IrqReturn {
        match &self.primary {
            Primary::Handler(h) => h(ctx),
            Primary::Default => IrqReturn::WAKE_THREAD,
            // Linux WARNs here; the registration rules make both unreachable.
            Primary::NestedWarn | Primary::SecondaryWarn => IrqReturn::NONE,
        }
    }
}
