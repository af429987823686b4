//! Resend / replay of edge interrupts that arrived while a line could not handle them
//! (kernel/irq/resend.c, spec 1.12).
//!
//! Level lines are never resent: the device keeps the level asserted and the line fires
//! again once unmasked. An edge is replayed through the chip's `irq_retrigger` (hardware
//! re-raise) if any level of the hierarchy has one, else through a software resend: the
//! descriptor is queued and the resend tasklet (runtime hook) runs its flow handler.
//! Lines that must be handled in real hard-irq context refuse the software path.

use super::chip::{parent, ChipCallbacks};
use super::desc::{DescInner, IrqDesc};
use super::flags::{IrqSettings, IrqdState, IrqsState};
use crate::cpu::{HardIrq, SoftIrq};
use crate::{IrqError, IrqSystem};

fn try_retrigger(inner: &DescInner) -> bool {
    let d = &inner.data;
    if d.chip.callbacks().contains(ChipCallbacks::RETRIGGER) {
        return d.chip.retrigger(d);
    }
    parent::retrigger(d)
}

/// `check_irq_resend(desc, inject)`.
pub(crate) fn check_irq_resend(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
    inject: bool,
) -> Result<(), IrqError> {
    if desc.is_level() {
        inner.istate.remove(IrqsState::PENDING);
        return Err(IrqError::InvalidArgument("level interrupts are never resent"));
    }
    if inner.istate.contains(IrqsState::REPLAY) {
        return Err(IrqError::Busy("resend already in flight"));
    }
    if !inner.istate.contains(IrqsState::PENDING) && !inject {
        return Ok(());
    }
    inner.istate.remove(IrqsState::PENDING);
    if !try_retrigger(inner) {
        irq_sw_resend(sys, desc, inner)?;
    }
    inner.istate.insert(IrqsState::REPLAY);
    Ok(())
}

fn irq_sw_resend(sys: &IrqSystem, desc: &IrqDesc, inner: &DescInner) -> Result<(), IrqError> {
    if desc.irqd().contains(IrqdState::HANDLE_ENFORCE_IRQCTX) {
        return Err(IrqError::InvalidArgument("irq must be handled in hard-irq context"));
    }
    let target = if inner.settings.contains(IrqSettings::NESTED_THREAD) {
        inner.parent_irq().ok_or(IrqError::InvalidArgument("nested irq without parent"))?
    } else {
        desc.irq()
    };
    {
        let mut list = sys.irq.resend_list.lock_irqsave(sys);
        if !list.contains(&target) {
            list.push_back(target);
        }
    }
    if let Some(h) = sys.irq.hooks() {
        h.schedule_resend();
    }
    Ok(())
}

/// Drops `irq` from the software resend list (`irq_shutdown`, free).
pub(crate) fn irq_resend_remove(sys: &IrqSystem, irq: u32) {
    sys.irq.resend_list.lock_irqsave(sys).retain(|i| *i != irq);
}

impl IrqSystem {
    /// The resend tasklet body (`resend_irqs`): runs the flow handler of every queued
    /// line with local interrupts masked, as Linux does from its tasklet.
    pub fn irq_resend_run(&self, _ctx: &SoftIrq) {
        loop {
            let next = self.irq.resend_list.lock_irqsave(self).pop_front();
            let Some(irq) = next else { break };
            if let Ok(desc) = self.irq_to_desc(irq) {
                let flags = self.local_irq_save();
                // The flow handler expects hard-irq context; the resend path is the one
                // place Linux calls it from a tasklet with interrupts off.
                let hard = HardIrq::entered();
                super::flow::generic_handle_irq_desc(self, desc, &hard);
                self.local_irq_restore(flags);
            }
        }
    }

    /// Lines queued for software resend, in order.
    pub fn irq_resend_pending(&self) -> alloc::vec::Vec<u32> {
        self.irq.resend_list.lock_irqsave(self).iter().copied().collect()
    }

    /// `irq_inject_interrupt`: makes `irq` fire as if the hardware raised it (activated,
    /// non-NMI lines; retrigger or software resend).
    pub fn irq_inject_interrupt(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if !desc.is_activated() || g.istate.contains(IrqsState::NMI) {
            return Err(IrqError::InvalidArgument("cannot inject into this irq"));
        }
        check_irq_resend(self, desc, &mut g, true)
    }
}
