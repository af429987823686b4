//! The generic IRQ layer (Linux `kernel/irq/`): descriptors, chips, flow handlers,
//! request/free, threaded handlers, spurious detection, domains, affinity, PM, hotplug
//! and the `/proc` views.
//!
//! # Model
//!
//! A controller driver learns "hwirq N fired" and calls
//! [`crate::IrqSystem::generic_handle_domain_irq`]; the domain maps the hwirq to a Linux irq
//! number (virq) and its [`IrqDesc`]; the descriptor's flow handler (level, edge,
//! fasteoi, ...) talks to the [`IrqChip`] in Linux's exact order and runs the actions
//! (the handlers drivers registered with [`crate::IrqSystem::request_irq`]). A handler that
//! returns [`IrqReturn::WAKE_THREAD`] wakes its irq thread (`irq/N-name`, SCHED_FIFO 50);
//! ONESHOT lines stay masked until the last such thread finished. Every result goes to
//! the spurious detector, which disables a line that nobody handles.
//!
//! ```
//! use std::sync::Arc;
//! use irqkit_core::irq::{DomainOps, Flags, FlowHandler, IrqDomain, IrqReturn, RevMap, DummyChip};
//! use irqkit_core::{IrqError, IrqSystem};
//!
//! // A controller driver's domain: every mapped hwirq gets its chip and flow handler.
//! struct Gic;
//! impl DomainOps for Gic {
//!     fn map(&self, sys: &IrqSystem, _d: &IrqDomain, virq: u32, _hw: u64) -> Result<(), IrqError> {
//!         sys.irq_set_chip_and_handler(virq, Arc::new(DummyChip), FlowHandler::FastEoi)
//!     }
//! }
//! let (sys, _platform) = irqkit_core::testing::FakePlatform::system(4);
//! let gic = sys.irq_domain_create("GIC", RevMap::Linear(1020), Arc::new(Gic), None, None)?;
//! let virq = sys.irq_create_mapping(Some(&gic), 33)?;
//! // A device driver requests the line; the closure owns its data.
//! let reg = sys.request_irq(virq, |_ctx| IrqReturn::HANDLED, Flags::empty(), "uart")?;
//! // The arch entry + controller driver deliver hwirq 33 on this CPU.
//! let flags = sys.local_irq_save();
//! let ctx = sys.irq_enter();
//! sys.generic_handle_domain_irq(&gic, 33, &ctx)?;
//! sys.irq_exit(ctx);
//! sys.local_irq_restore(flags);
//! assert_eq!(sys.irq_to_desc(virq)?.total_count(), 1);
//! assert_eq!(reg.free(&irqkit_core::Task::entered())?, "uart");
//! # Ok::<(), IrqError>(())
//! ```
//!
//! | irqkit                    | Linux                          |
//! |---------------------------|--------------------------------|
//! | `desc.rs`, `desc_mask.rs`, `desc_rare.rs`, `action_list.rs`, `sparse.rs` | `irqdesc.c`, `irqdesc.h` |
//! | `chip.rs`, `chip_state.rs`| `irq.h` `struct irq_chip`, `chip.c` helpers |
//! | `flags.rs`, `bits.rs`     | `interrupt.h`, `irq.h`, `internals.h` flag words |
//! | `hooks.rs`                | (runtime services: timers, tasklet, arch rows) |
//! | `flow/`                   | `chip.c` flow handlers         |
//! | `handle.rs`               | `handle.c`                     |
//! | `manage.rs`, `setup.rs`, `install.rs`, `free.rs`, `line.rs` | `manage.c` |
//! | `set_handler.rs`          | `chip.c` `irq_set_chip_and_handler`, chained |
//! | `thread.rs`               | `manage.c` `irq_thread`        |
//! | `spurious.rs`             | `spurious.c`                   |
//! | `resend.rs`               | `resend.c`                     |
//! | `domain.rs`, `mapping.rs`, `hierarchy.rs` | `irqdomain.c`    |
//! | `affinity.rs`, `hotplug.rs`, `pm.rs` | `manage.c`, `cpuhotplug.c`, `pm.c` |
//! | `proc.rs`, `proc_irq.rs`  | `proc.c`, `fs/proc/interrupts.c` |
//!
//! Where irqkit differs from Linux on purpose:
//! - handlers are closures owning their driver data (no `void *dev_id`); the
//!   [`Registration`] is the identity and the handle that frees the line (also on drop);
//! - sleeping calls take a [`crate::Task`] token, so a hard-irq handler cannot call them;
//! - an unbalanced `enable_irq` / wake disable is logged *and* returns a typed error;
//! - `threads_active` is raised before RUNTHREAD is published (Linux does it after),
//!   so the count never dips below zero (see `loom.rs`);
//! - descriptors are recycled instead of freed under RCU, so `&IrqDesc` lookups are
//!   lock-free without RCU; all `synchronize_irq` sleepers share one wait queue;
//! - flows read the action list through a borrow counted under the descriptor lock,
//!   and a list replaced meanwhile is freed by the last reader (`action_list.rs`);
//! - a panicking handler is contained through a runtime-installed [`HandlerGuard`];
//! - WARN/printk output goes to a bounded log ([`IrqCore::drain_log`]).
//!
//! Services owned by other layers are reached through [`IrqHooks`]: the 100 ms spurious
//! poll timer (runtime calls [`crate::IrqSystem::poll_spurious_irqs`]), the resend
//! tasklet ([`crate::IrqSystem::irq_resend_run`]), the arch rows of
//! `/proc/interrupts` and the PM wake-up notification. Forced-threaded handlers run
//! with interrupts off; disabling bottom halves around them waits for the softirq layer.

mod action;
mod action_list;
mod affinity;
mod bits;
mod chip;
mod chip_state;
mod desc;
mod desc_mask;
mod desc_rare;
mod domain;
mod flags;
mod flow;
mod free;
mod handle;
mod hierarchy;
mod hooks;
mod hotplug;
mod install;
mod line;
mod manage;
mod mapping;
mod pm;
mod proc;
mod proc_irq;
mod resend;
mod set_handler;
mod setup;
mod sparse;
mod spurious;
mod thread;

#[cfg(all(test, loom))]
mod loom;
#[cfg(all(test, not(loom)))]
mod tests;

pub use action::{HardHandler, IrqAction, ThreadHandler};
pub use affinity::irq_create_affinity_masks;
pub use chip::{
    parent, ChipCallbacks, ChipState, DummyChip, IrqChip, IrqData, NoIrqChip, SetResult,
};
pub use desc::{ActionList, DescInner, IrqDesc};
pub use desc_mask::DescMask;
pub use desc_rare::PmCounts;
pub use domain::{xlate_onecell, xlate_onetwocell, xlate_twocell, DomainOps, IrqDomain, RevMap};
pub use flags::{
    ChipFlags, Flags, IrqReturn, IrqSettings, IrqdState, IrqsState, ThreadFlags, Trigger,
};
pub use flow::{ChainedHandler, FlowHandler};
pub use hooks::{HandlerGuard, IrqHooks};
pub use manage::Registration;
pub use proc::{arch_row, arch_row_ipi};
pub use proc_irq::ProcIrqFile;
pub use setup::{IRQ_SECONDARY_PRIO, IRQ_THREAD_PRIO};
pub use sparse::{IrqDescs, NR_IRQS_LEGACY, NR_IRQS_MAX};
pub use spurious::IrqFixup;
pub use thread::irq_thread_run_once;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use once_cell::race::OnceBox;

use crate::cpu::CpuMask;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use crate::sync::SpinLockIrq;
use crate::system::SystemConfig;

/// Messages kept in the irq log ring before the oldest are dropped.
const LOG_CAPACITY: usize = 512;

/// The generic-IRQ state of one [`crate::IrqSystem`] (its `irq` field).
pub struct IrqCore {
    /// All descriptors.
    pub descs: IrqDescs,
    default_affinity: SpinLockIrq<CpuMask>,
    threadirqs: bool,
    irqfixup: AtomicU8,
    noirqdebug: AtomicBool,
    pub(crate) poll_armed: AtomicBool,
    /// The CPU running `misrouted_irq` + 1 (0: nobody): the single global poller.
    pub(crate) poller: AtomicU32,
    pub(crate) bogus_reports: AtomicU32,
    pub(crate) resend_list: SpinLockIrq<VecDeque<u32>>,
    pub(crate) domains: SpinLockIrq<Vec<Arc<IrqDomain>>>,
    pub(crate) default_domain: SpinLockIrq<Option<Arc<IrqDomain>>>,
    log: SpinLockIrq<VecDeque<String>>,
    /// `synchronize_irq` / `free_irq` sleepers waiting for a line's `threads_active`
    /// to reach 0. One queue for all lines keeps descriptors small; waiters re-check
    /// their own line's condition after every wake-up.
    pub(crate) wait_for_threads: crate::sched::WaitQueue,
    hooks: OnceBox<Arc<dyn IrqHooks>>,
    guard: OnceBox<HandlerGuard>,
    pub(crate) suspended: AtomicBool,
    /// `GENERIC_IRQ_SHOW_LEVEL`: arm64 prints "Level"/"Edge" in /proc/interrupts.
    pub(crate) show_level: AtomicBool,
    pub(crate) wakeup_pending: AtomicBool,
}

impl IrqCore {
    pub(crate) fn new(config: &SystemConfig) -> Self {
        IrqCore {
            descs: IrqDescs::new(config.nr_cpus),
            default_affinity: SpinLockIrq::new(CpuMask::first_n(config.nr_cpus)),
            threadirqs: config.threadirqs,
            irqfixup: AtomicU8::new(config.irqfixup as u8),
            noirqdebug: AtomicBool::new(config.noirqdebug),
            poll_armed: AtomicBool::new(false),
            poller: AtomicU32::new(0),
            bogus_reports: AtomicU32::new(0),
            resend_list: SpinLockIrq::new(VecDeque::new()),
            domains: SpinLockIrq::new(Vec::new()),
            default_domain: SpinLockIrq::new(None),
            log: SpinLockIrq::new(VecDeque::new()),
            wait_for_threads: crate::sched::WaitQueue::new(),
            hooks: OnceBox::new(),
            guard: OnceBox::new(),
            suspended: AtomicBool::new(false),
            show_level: AtomicBool::new(false),
            wakeup_pending: AtomicBool::new(false),
        }
    }

    /// True under `threadirqs` (forced interrupt threading).
    pub fn threadirqs(&self) -> bool {
        self.threadirqs
    }

    /// The `irqfixup` / `irqpoll` mode.
    #[inline]
    pub fn irqfixup(&self) -> IrqFixup {
        IrqFixup::from_u8(self.irqfixup.load(Ordering::Relaxed))
    }

    /// Changes the `irqfixup` mode (boot parameter in Linux).
    pub fn set_irqfixup(&self, mode: IrqFixup) {
        self.irqfixup.store(mode as u8, Ordering::Relaxed);
    }

    /// True if spurious detection is off for newly requested lines (`noirqdebug`).
    pub fn noirqdebug(&self) -> bool {
        self.noirqdebug.load(Ordering::Relaxed)
    }

    /// Sets `noirqdebug` (a writable module parameter in Linux).
    pub fn set_noirqdebug(&self, v: bool) {
        self.noirqdebug.store(v, Ordering::Relaxed);
    }

    /// Installs the runtime hooks (spurious poll timer, resend tasklet, arch rows).
    /// Only the first call takes effect; returns false for later ones.
    pub fn set_hooks(&self, hooks: Arc<dyn IrqHooks>) -> bool {
        self.hooks.set(alloc::boxed::Box::new(hooks)).is_ok()
    }

    pub(crate) fn hooks(&self) -> Option<&Arc<dyn IrqHooks>> {
        self.hooks.get()
    }

    /// Installs the handler guard the runtime uses to contain handler panics. Only the
    /// first call takes effect; returns false for later ones.
    pub fn set_handler_guard(&self, guard: HandlerGuard) -> bool {
        self.guard.set(alloc::boxed::Box::new(guard)).is_ok()
    }

    #[inline]
    pub(crate) fn guard(&self) -> Option<HandlerGuard> {
        self.guard.get().copied()
    }

    /// `irq_default_affinity`.
    pub fn default_affinity(&self, sys: &crate::IrqSystem) -> CpuMask {
        *self.default_affinity.lock_irqsave(sys)
    }

    /// Replaces `irq_default_affinity` (no validation; see `/proc/irq/default_smp_affinity`).
    pub(crate) fn store_default_affinity(&self, sys: &crate::IrqSystem, mask: CpuMask) {
        *self.default_affinity.lock_irqsave(sys) = mask;
    }

    pub(crate) fn log_line(&self, sys: &crate::IrqSystem, line: String) {
        let mut log = self.log.lock_irqsave(sys);
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(line);
    }

    /// Takes every logged message (warnings, "nobody cared" reports), oldest first.
    pub fn drain_log(&self, sys: &crate::IrqSystem) -> Vec<String> {
        self.log.lock_irqsave(sys).drain(..).collect()
    }
}
