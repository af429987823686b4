//! The driver API (kernel/irq/manage.c, spec 1.7): `request_irq`,
//! `request_threaded_irq`, `request_percpu_irq`, and the [`Registration`] they return.
//!
//! ```
//! use irqkit_core::irq::{Flags, IrqReturn};
//! # let (sys, _p) = irqkit_core::testing::FakePlatform::system(1);
//! # let irq = sys.irq_alloc_descs(1, 1, false).unwrap();
//! # sys.irq_set_chip_and_handler(irq, std::sync::Arc::new(irqkit_core::irq::DummyChip),
//! #     irqkit_core::irq::FlowHandler::Simple).unwrap();
//! let reg = sys.request_irq(irq, |_ctx| IrqReturn::HANDLED, Flags::empty(), "eth0").unwrap();
//! assert_eq!(reg.free(&irqkit_core::Task::entered()).unwrap(), "eth0");
//! ```

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;

use super::action::{HardHandler, IrqAction, ThreadHandler};
use super::flags::{Flags, IrqReturn};
use crate::cpu::{CpuMask, HardIrq, Task};
use crate::{IrqError, IrqSystem};

/// A registered handler. Dropping it frees the handler (waiting for a running hard
/// handler; threads are waited for only where sleeping is allowed — use
/// [`Registration::free`] with a `&Task` to be sure).
///
/// # Invariants
///
/// While a `Registration` exists its action is installed on its line; it is the only
/// way to remove that action, so no driver can free another driver's handler.
#[must_use = "dropping the registration frees the interrupt handler"]
pub struct Registration {
    pub(crate) sys: Arc<IrqSystem>,
    pub(crate) action: Arc<IrqAction>,
    pub(crate) live: bool,
}

impl core::fmt::Debug for Registration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registration")
            .field("irq", &self.action.irq())
            .field("name", &self.action.name())
            .finish()
    }
}

impl Registration {
    /// The irq number.
    pub fn irq(&self) -> u32 {
        self.action.irq()
    }
    /// The name given at request time.
    pub fn name(&self) -> &str {
        self.action.name()
    }
    /// The installed action.
    pub fn action(&self) -> &Arc<IrqAction> {
        &self.action
    }
    /// `free_irq`: removes the handler, waits for running handlers and threads, stops
    /// the thread; returns the name passed at request time.
    pub fn free(mut self, task: &Task) -> Result<String, IrqError> {
        self.live = false;
        super::free::free_irq(&self.sys, &self.action, Some(task))
    }
    /// Runs this action's irq-thread work once, if woken (see
    /// [`IrqSystem::irq_thread_run_once`]); for runtimes and tests that drive irq
    /// threads by hand.
    pub fn thread_run_once(&self, task: &Task) -> bool {
        super::thread::irq_thread_run_once(&self.sys, &self.action, task)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.live {
            self.live = false;
            let task = self.sys.might_sleep("free_irq").ok().map(|_| Task::entered());
            let _ = super::free::free_irq(&self.sys, &self.action, task.as_ref());
        }
    }
}

impl IrqSystem {
    /// `request_irq`: installs `handler` on `irq` and enables the line (unless
    /// NO_AUTOEN). `Busy` on a sharing mismatch, `InvalidArgument` on bad flags.
    pub fn request_irq(
        self: &Arc<Self>,
        irq: u32,
        handler: impl Fn(&HardIrq) -> IrqReturn + Send + Sync + 'static,
        flags: Flags,
        name: &str,
    ) -> Result<Registration, IrqError> {
        self.request_threaded_irq(irq, Some(Box::new(handler)), None, flags, name)
    }

    /// `request_threaded_irq`: a hard handler (None: the default one, which wakes the
    /// thread) and/or a threaded handler run by `irq/N-name` at SCHED_FIFO 50.
    pub fn request_threaded_irq(
        self: &Arc<Self>,
        irq: u32,
        handler: Option<HardHandler>,
        thread_fn: Option<ThreadHandler>,
        flags: Flags,
        name: &str,
    ) -> Result<Registration, IrqError> {
        if self.with_this_cpu(|cpu| cpu.in_atomic()).unwrap_or(false) {
            return Err(IrqError::WrongContext("request_irq may sleep"));
        }
        if (flags.contains(Flags::SHARED) && flags.contains(Flags::NO_AUTOEN))
            || (flags.contains(Flags::COND_SUSPEND) && !flags.contains(Flags::SHARED))
            || flags.contains(Flags::NO_SUSPEND | Flags::COND_SUSPEND)
        {
            return Err(IrqError::InvalidArgument("conflicting request flags"));
        }
        let desc = self.irq_to_desc(irq)?;
        {
            let g = desc.inner.lock_irqsave(self);
            if g.settings.intersects(
                super::flags::IrqSettings::NOREQUEST | super::flags::IrqSettings::PER_CPU_DEVID,
            ) {
                return Err(IrqError::InvalidArgument("irq cannot be requested"));
            }
        }
        if handler.is_none() && thread_fn.is_none() {
            return Err(IrqError::InvalidArgument("no handler and no thread function"));
        }
        let action = super::setup::setup_irq(self, desc, handler, thread_fn, flags, name, None)?;
        Ok(Registration { sys: self.clone(), action, live: true })
    }

    /// `request_percpu_irq`: a per-CPU-devid line's handler, enabled per CPU later with
    /// [`IrqSystem::enable_percpu_irq`]. `affinity` limits the CPUs it serves.
    pub fn request_percpu_irq(
        self: &Arc<Self>,
        irq: u32,
        handler: impl Fn(&HardIrq) -> IrqReturn + Send + Sync + 'static,
        name: &str,
        affinity: Option<CpuMask>,
    ) -> Result<Registration, IrqError> {
        let desc = self.irq_to_desc(irq)?;
        {
            let g = desc.inner.lock_irqsave(self);
            if !g.settings.contains(super::flags::IrqSettings::PER_CPU_DEVID)
                || g.settings.contains(super::flags::IrqSettings::NOREQUEST)
            {
                return Err(IrqError::InvalidArgument("not a requestable per-cpu-devid irq"));
            }
        }
        let affinity = affinity.unwrap_or_else(|| CpuMask::first_n(self.nr_cpus()));
        let action = super::setup::setup_irq(
            self,
            desc,
            Some(Box::new(handler)),
            None,
            Flags::PERCPU | Flags::NO_THREAD,
            name,
            Some(affinity),
        )?;
        Ok(Registration { sys: self.clone(), action, live: true })
    }

    /// `free_irq` spelled Linux's way: frees `reg` and returns its name.
    pub fn free_irq(&self, reg: Registration, task: &Task) -> Result<String, IrqError> {
        reg.free(task)
    }

    /// `can_request_irq`: requestable and (no action yet, or both sides SHARED).
    pub fn can_request_irq(&self, irq: u32, flags: Flags) -> bool {
        let Ok(desc) = self.irq_to_desc(irq) else { return false };
        let g = desc.inner.lock_irqsave(self);
        if g.settings.contains(super::flags::IrqSettings::NOREQUEST) {
            return false;
        }
        match g.actions.as_ref().and_then(|l| l.first()) {
            None => true,
            Some(a) => a.flags.contains(Flags::SHARED) && flags.contains(Flags::SHARED),
        }
    }
}
