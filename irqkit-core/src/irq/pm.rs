//! Suspend and resume of device interrupts (kernel/irq/pm.c, spec 1.14).
//!
//! At suspend every line with handlers is disabled (lazily; masked at once on
//! MASK_ON_SUSPEND chips) unless an action asked for NO_SUSPEND. Lines configured as
//! wakeup sources stay live but *armed*: if one fires, its handler does not run —
//! the line is disabled, marked pending and the PM core is told to abort the suspend
//! ([`IrqSystem::irq_pm_wakeup_pending`]). Resume undoes exactly what suspend did and
//! replays a pending edge.

use alloc::format;

use super::chip_state::mask_irq;
use super::desc::{DescInner, IrqDesc};
use super::flags::{ChipFlags, Flags, IrqSettings, IrqdState, IrqsState};
use super::line::{__disable_irq, __enable_irq};
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

/// `irq_pm_install_action`: PM accounting of a new action.
pub(crate) fn irq_pm_install_action(
    sys: &IrqSystem,
    desc: &IrqDesc,
    g: &mut DescInner,
    flags: Flags,
) {
    let pm = &mut g.rare_mut().pm;
    pm.nr_actions += 1;
    if flags.contains(Flags::FORCE_RESUME) {
        pm.force_resume_depth += 1;
    }
    if flags.contains(Flags::NO_SUSPEND) {
        pm.no_suspend_depth += 1;
    } else if flags.contains(Flags::COND_SUSPEND) {
        pm.cond_suspend_depth += 1;
    }
    let pm = *pm;
    if pm.force_resume_depth != 0 && pm.force_resume_depth != pm.nr_actions {
        sys.irq.log_line(sys, format!("irq {}: FORCE_RESUME set on only some actions", desc.irq()));
    }
    if pm.no_suspend_depth != 0 && pm.no_suspend_depth + pm.cond_suspend_depth != pm.nr_actions {
        sys.irq.log_line(
            sys,
            format!("irq {}: NO_SUSPEND mixed with suspendable actions", desc.irq()),
        );
    }
}

/// `irq_pm_remove_action`: reverses [`irq_pm_install_action`].
pub(crate) fn irq_pm_remove_action(_desc: &IrqDesc, g: &mut DescInner, flags: Flags) {
    // Nothing to undo if nothing was ever counted (no allocation on this path).
    let Some(rare) = g.rare.as_mut() else { return };
    let pm = &mut rare.pm;
    pm.nr_actions = pm.nr_actions.saturating_sub(1);
    if flags.contains(Flags::FORCE_RESUME) {
        pm.force_resume_depth = pm.force_resume_depth.saturating_sub(1);
    }
    if flags.contains(Flags::NO_SUSPEND) {
        pm.no_suspend_depth = pm.no_suspend_depth.saturating_sub(1);
    } else if flags.contains(Flags::COND_SUSPEND) {
        pm.cond_suspend_depth = pm.cond_suspend_depth.saturating_sub(1);
    }
}

/// An armed wakeup line fired (from the flow handler's PM check): disable it, keep
/// the event pending, and tell the PM core. The handler does not run.
pub(crate) fn irq_pm_handle_wakeup(sys: &IrqSystem, desc: &IrqDesc, g: &mut DescInner) {
    desc.irqd_clear(IrqdState::WAKEUP_ARMED);
    g.istate.insert(IrqsState::SUSPENDED | IrqsState::PENDING);
    g.depth += 1;
    super::chip_state::irq_disable(desc, g);
    sys.irq.wakeup_pending.store(true, Ordering::Release);
    if let Some(h) = sys.irq.hooks() {
        h.pm_wakeup(desc.irq());
    }
}

fn suspend_one(sys: &IrqSystem, desc: &IrqDesc, g: &mut DescInner) -> bool {
    if !g.has_action() || g.chained || g.pm_counts().no_suspend_depth > 0 {
        return false;
    }
    if desc.irqd().contains(IrqdState::WAKEUP_STATE) {
        desc.irqd_set(IrqdState::WAKEUP_ARMED);
        if g.data.chip.flags().contains(ChipFlags::ENABLE_WAKEUP_ON_SUSPEND) && desc.is_disabled() {
            let _ = __enable_irq(sys, desc, g);
            desc.irqd_set(IrqdState::IRQ_ENABLED_ON_SUSPEND);
        }
        return true;
    }
    g.istate.insert(IrqsState::SUSPENDED);
    __disable_irq(desc, g);
    if g.data.chip.flags().contains(ChipFlags::MASK_ON_SUSPEND) {
        mask_irq(desc, g);
    }
    true
}

fn resume_one(sys: &IrqSystem, desc: &IrqDesc, g: &mut DescInner) {
    desc.irqd_clear(IrqdState::WAKEUP_ARMED);
    if desc.irqd().contains(IrqdState::IRQ_ENABLED_ON_SUSPEND) {
        __disable_irq(desc, g);
        desc.irqd_clear(IrqdState::IRQ_ENABLED_ON_SUSPEND);
    }
    if !g.istate.contains(IrqsState::SUSPENDED) {
        if g.pm_counts().force_resume_depth == 0 {
            return;
        }
        g.depth += 1;
        desc.irqd_set(IrqdState::IRQ_DISABLED | IrqdState::IRQ_MASKED);
    }
    g.istate.remove(IrqsState::SUSPENDED);
    let _ = __enable_irq(sys, desc, g);
}

impl IrqSystem {
    /// `suspend_device_irqs`: disables every suspendable line and arms wakeup lines,
    /// then waits for running hard handlers.
    pub fn suspend_device_irqs(&self) {
        self.irq.wakeup_pending.store(false, Ordering::Release);
        self.irq.suspended.store(true, Ordering::Release);
        for desc in self.irq.descs.iter() {
            let sync = {
                let mut g = desc.inner.lock_irqsave(self);
                !g.settings.contains(IrqSettings::NESTED_THREAD) && suspend_one(self, desc, &mut g)
            };
            if sync {
                self.synchronize_hardirq(desc.irq());
            }
        }
    }

    /// `resume_device_irqs` (and the early syscore phase when `early`): undoes
    /// suspend for lines whose first action has (early) or lacks (late) EARLY_RESUME.
    pub fn resume_device_irqs(&self, early: bool) {
        for desc in self.irq.descs.iter() {
            let mut g = desc.inner.lock_irqsave(self);
            let is_early = g
                .actions
                .as_ref()
                .and_then(|l| l.first())
                .is_some_and(|a| a.flags.contains(Flags::EARLY_RESUME));
            if is_early == early {
                resume_one(self, desc, &mut g);
            }
        }
        if !early {
            self.irq.suspended.store(false, Ordering::Release);
        }
    }

    /// `pm_wakeup_pending` as far as interrupts go: an armed wakeup line fired since
    /// `suspend_device_irqs`, so the suspend must be aborted (resume now).
    pub fn irq_pm_wakeup_pending(&self) -> bool {
        self.irq.wakeup_pending.load(Ordering::Acquire)
    }

    /// `rearm_wake_irq`: re-arms a wakeup line that fired, without a full resume.
    pub fn rearm_wake_irq(&self, irq: u32) -> Result<(), crate::IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if !g.istate.contains(IrqsState::SUSPENDED)
            || !desc.irqd().contains(IrqdState::WAKEUP_STATE)
        {
            return Ok(());
        }
        g.istate.remove(IrqsState::SUSPENDED);
        desc.irqd_set(IrqdState::WAKEUP_ARMED);
        __enable_irq(self, desc, &mut g)
    }
}
