//! Line control (manage.c, spec 1.6): nested disable/enable with `depth`,
//! synchronize, trigger type and wake configuration.
//!
//! `depth` counts disables: the line runs only at depth 0. An enable at depth 0 is a
//! driver bug; Linux WARNs "Unbalanced enable" and ignores it — irqkit logs the same
//! message and returns a typed error, and the depth never underflows.
//!
//! Calls that wait (`disable_irq`, `synchronize_irq`, `free`) take a `&Task`, so a
//! hard-irq handler cannot call them — it only has a `&HardIrq`:
//!
//! ```compile_fail
//! use irqkit_core::irq::{Flags, IrqReturn};
//! # let (sys, _p) = irqkit_core::testing::FakePlatform::system(1);
//! let s = sys.clone();
//! sys.request_irq(1, move |ctx| {
//!     s.disable_irq(1, ctx).unwrap(); // error: expected `&Task`, found `&HardIrq`
//!     IrqReturn::HANDLED
//! }, Flags::empty(), "bad");
//! ```

use alloc::format;

use super::chip::{ChipCallbacks, ChipState, SetResult};
use super::chip_state::{
    irq_disable, irq_percpu_disable, irq_percpu_enable, irq_startup, mask_irq, unmask_irq,
};
use super::desc::{DescInner, IrqDesc};
use super::flags::{ChipFlags, IrqSettings, IrqdState, IrqsState, Trigger};
use crate::cpu::Task;
use crate::sync::atomic::spin_hint;
use crate::{IrqError, IrqSystem};

/// `__disable_irq`: depth++, disabling (lazily) on the first level.
pub(crate) fn __disable_irq(desc: &IrqDesc, inner: &mut DescInner) {
    inner.depth += 1;
    if inner.depth == 1 {
        irq_disable(desc, inner);
    }
}

/// `__enable_irq`: depth--, starting the line when it reaches 0.
pub(crate) fn __enable_irq(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
) -> Result<(), IrqError> {
    match inner.depth {
        0 => {
            sys.irq.log_line(sys, format!("Unbalanced enable for IRQ {}", desc.irq()));
            Err(IrqError::InvalidArgument("unbalanced enable_irq"))
        }
        1 if inner.istate.contains(IrqsState::SUSPENDED) => {
            sys.irq.log_line(sys, format!("Unbalanced enable for IRQ {}", desc.irq()));
            Err(IrqError::InvalidArgument("enable_irq of a suspended irq"))
        }
        1 => {
            inner.settings.insert(IrqSettings::NOPROBE);
            irq_startup(sys, desc, inner, true, true)
        }
        _ => {
            inner.depth -= 1;
            Ok(())
        }
    }
}

/// `__irq_set_trigger` (spec 1.6).
pub(crate) fn irq_set_trigger(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
    ty: Trigger,
) -> Result<(), IrqError> {
    let chip = inner.data.chip.clone();
    if !chip.callbacks().contains(ChipCallbacks::SET_TYPE) {
        return Ok(());
    }
    let masked_here = chip.flags().contains(ChipFlags::SET_TYPE_MASKED) && !desc.is_masked();
    if masked_here {
        mask_irq(desc, inner);
    }
    let ty = ty & Trigger::SENSE_MASK;
    let res = chip.set_type(&inner.data, ty);
    let out = match res {
        Ok(r) => {
            if r != SetResult::NoCopy {
                desc.set_trigger_bits(ty);
            }
            inner.settings.remove(IrqSettings::TYPE_SENSE_MASK | IrqSettings::LEVEL);
            inner.settings.insert(IrqSettings::from_bits_retain(ty.bits()));
            desc.irqd_clear(IrqdState::LEVEL);
            if ty.is_level() {
                inner.settings.insert(IrqSettings::LEVEL);
                desc.irqd_set(IrqdState::LEVEL);
            }
            Ok(())
        }
        Err(e) => {
            sys.irq.log_line(
                sys,
                format!("Setting trigger mode {} for irq {} failed", ty.bits(), desc.irq()),
            );
            Err(e)
        }
    };
    if chip.flags().contains(ChipFlags::SET_TYPE_MASKED) && !desc.is_disabled() {
        unmask_irq(desc, inner);
    }
    out
}

impl IrqSystem {
    fn global_desc(&self, irq: u32) -> Result<&IrqDesc, IrqError> {
        let desc = self.irq_to_desc(irq)?;
        if desc.inner.lock_irqsave(self).settings.contains(IrqSettings::PER_CPU_DEVID) {
            return Err(IrqError::InvalidArgument("per-cpu-devid irq needs the percpu calls"));
        }
        Ok(desc)
    }

    /// `disable_irq_nosync`: depth++, does not wait. Callable from any context.
    pub fn disable_irq_nosync(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.global_desc(irq)?;
        __disable_irq(desc, &mut desc.inner.lock_irqsave(self));
        Ok(())
    }

    /// `disable_irq`: depth++ and wait for running handlers and threads.
    pub fn disable_irq(&self, irq: u32, task: &Task) -> Result<(), IrqError> {
        self.might_sleep("disable_irq")?;
        self.disable_irq_nosync(irq)?;
        self.synchronize_irq(irq, task)
    }

    /// `disable_hardirq`: depth++ and wait for the hard handler only; true if no
    /// threaded handler is active. False for an unknown irq.
    pub fn disable_hardirq(&self, irq: u32) -> bool {
        self.disable_irq_nosync(irq).is_ok() && self.synchronize_hardirq(irq)
    }

    /// `enable_irq`: depth--, starting the line at 0. Unbalanced: logged, typed error.
    pub fn enable_irq(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.global_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if g.data.is_no_chip() {
            self.irq.log_line(self, format!("enable_irq before setup/request_irq: irq {irq}"));
            return Err(IrqError::InvalidArgument("enable_irq before setup"));
        }
        __enable_irq(self, desc, &mut g)
    }

    /// The nested disable depth of `irq`.
    pub fn irq_depth(&self, irq: u32) -> Result<u32, IrqError> {
        Ok(self.irq_to_desc(irq)?.inner.lock_irqsave(self).depth)
    }

    /// `synchronize_hardirq`: wait until no hard handler runs (also at the chip);
    /// true if no threaded handler is active. True for an unknown irq.
    pub fn synchronize_hardirq(&self, irq: u32) -> bool {
        let Ok(desc) = self.irq_to_desc(irq) else { return true };
        loop {
            while desc.in_progress() {
                spin_hint();
            }
            let g = desc.inner.lock_irqsave(self);
            let active = desc.in_progress()
                || g.data.chip.get_state(&g.data, ChipState::Active).unwrap_or(false);
            drop(g);
            if !active {
                break;
            }
        }
        desc.threads_active() == 0
    }

    /// `synchronize_irq`: wait for the hard handler and for every woken thread.
    pub fn synchronize_irq(&self, irq: u32, task: &Task) -> Result<(), IrqError> {
        self.might_sleep("synchronize_irq")?;
        let desc = self.irq_to_desc(irq)?;
        self.synchronize_hardirq(irq);
        self.irq.wait_for_threads.wait_event(self, task, || desc.threads_active() == 0)
    }

    /// `irq_set_irq_type`: sets the trigger type through the chip.
    pub fn irq_set_irq_type(&self, irq: u32, ty: Trigger) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        irq_set_trigger(self, desc, &mut g, ty)
    }

    /// `irq_set_irq_wake`: nested wakeup-source configuration.
    pub fn irq_set_irq_wake(&self, irq: u32, on: bool) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if g.istate.contains(IrqsState::NMI) {
            return Err(IrqError::InvalidArgument("NMI cannot be a wake source"));
        }
        let set_wake = |g: &DescInner, on: bool| -> Result<(), IrqError> {
            let chip = &g.data.chip;
            if chip.flags().contains(ChipFlags::SKIP_SET_WAKE) {
                Ok(())
            } else if chip.callbacks().contains(ChipCallbacks::SET_WAKE) {
                chip.set_wake(&g.data, on)
            } else {
                Err(IrqError::Unsupported("chip has no irq_set_wake"))
            }
        };
        if on {
            g.rare_mut().wake_depth += 1;
            if g.wake_depth() == 1 {
                if let Err(e) = set_wake(&g, true) {
                    g.rare_mut().wake_depth = 0;
                    return Err(e);
                }
                desc.irqd_set(IrqdState::WAKEUP_STATE);
            }
        } else {
            if g.wake_depth() == 0 {
                self.irq.log_line(self, format!("Unbalanced IRQ {irq} wake disable"));
                return Err(IrqError::InvalidArgument("unbalanced wake disable"));
            }
            g.rare_mut().wake_depth -= 1;
            if g.wake_depth() == 0 {
                if let Err(e) = set_wake(&g, false) {
                    g.rare_mut().wake_depth = 1;
                    return Err(e);
                }
                desc.irqd_clear(IrqdState::WAKEUP_STATE);
            }
        }
        Ok(())
    }

    /// `enable_percpu_irq`: enables a per-CPU-devid line on the calling CPU.
    pub fn enable_percpu_irq(&self, irq: u32, ty: Trigger) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        // Read under the mask: the line is enabled on the CPU the caller is on now.
        let cpu = self.current_cpu().ok_or(IrqError::WrongContext("enable_percpu_irq off-cpu"))?;
        if !ty.is_empty() {
            irq_set_trigger(self, desc, &mut g, ty)?;
        }
        irq_percpu_enable(desc, &mut g, cpu);
        Ok(())
    }

    /// `disable_percpu_irq`: disables a per-CPU-devid line on the calling CPU.
    pub fn disable_percpu_irq(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        let cpu = self.current_cpu().ok_or(IrqError::WrongContext("disable_percpu_irq off-cpu"))?;
        irq_percpu_disable(desc, &mut g, cpu);
        Ok(())
    }
}
