//! Installing chips and flow handlers on descriptors (chip.c `irq_set_chip`,
//! `__irq_set_handler`, `irq_set_chained_handler`, `irq_set_percpu_devid`, ...).
//!
//! A chained handler belongs to the parent line of a cascaded controller: it is marked
//! NOREQUEST|NOPROBE|NOTHREAD (no driver may request it), started at once, and hidden
//! from `/proc/interrupts` and from suspend.

use alloc::sync::Arc;
use core::any::Any;

use super::chip::{ChipCallbacks, IrqChip};
use super::chip_state::{irq_startup, mask_ack_irq};
use super::flags::{IrqSettings, IrqdState};
use super::flow::{ChainedHandler, FlowHandler};
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `irq_set_chip`: binds `chip` to the outermost level of `irq`.
    pub fn irq_set_chip(&self, irq: u32, chip: Arc<dyn IrqChip>) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        desc.inner.lock_irqsave(self).data.chip = chip;
        Ok(())
    }

    /// `irq_set_chip_data`: chip-private data of the outermost level.
    pub fn irq_set_chip_data(
        &self,
        irq: u32,
        data: Arc<dyn Any + Send + Sync>,
    ) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        desc.inner.lock_irqsave(self).data.chip_data = Some(data);
        Ok(())
    }

    /// `irq_set_chip_and_handler`.
    pub fn irq_set_chip_and_handler(
        &self,
        irq: u32,
        chip: Arc<dyn IrqChip>,
        handler: FlowHandler,
    ) -> Result<(), IrqError> {
        self.irq_set_chip(irq, chip)?;
        self.irq_set_handler(irq, handler)
    }

    /// `irq_set_chip_and_handler_name`: also sets the flow name shown in
    /// `/proc/interrupts` ("edge", "fasteoi").
    pub fn irq_set_chip_and_handler_name(
        &self,
        irq: u32,
        chip: Arc<dyn IrqChip>,
        handler: FlowHandler,
        name: &'static str,
    ) -> Result<(), IrqError> {
        self.irq_set_chip_and_handler(irq, chip, handler)?;
        self.irq_to_desc(irq)?.inner.lock_irqsave(self).set_flow_name(Some(name));
        Ok(())
    }

    /// `irq_set_handler` (`__irq_do_set_handler`); `FlowHandler::Bad` uninstalls.
    pub fn irq_set_handler(&self, irq: u32, handler: FlowHandler) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if matches!(handler, FlowHandler::Bad) {
            if !g.data.is_no_chip() {
                mask_ack_irq(desc, &g);
            }
            desc.irqd_set(IrqdState::IRQ_DISABLED);
            if g.chained {
                g.chained = false;
                g.set_actions(None);
            }
            g.depth = 1;
            g.handler = FlowHandler::Bad;
            return Ok(());
        }
        if g.data.is_no_chip() {
            return Err(IrqError::InvalidArgument("flow handler on no_irq_chip"));
        }
        g.handler = handler;
        Ok(())
    }

    /// `irq_set_chained_handler`: installs a cascade's parent handler and starts it.
    pub fn irq_set_chained_handler(
        &self,
        irq: u32,
        handler: ChainedHandler,
    ) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if g.data.is_no_chip() {
            return Err(IrqError::InvalidArgument("chained handler on no_irq_chip"));
        }
        let ty = desc.trigger();
        if !ty.is_empty() && g.data.chip.callbacks().contains(ChipCallbacks::SET_TYPE) {
            super::line::irq_set_trigger(self, desc, &mut g, ty)?;
        }
        g.handler = FlowHandler::Chained(handler);
        g.settings.insert(IrqSettings::NOPROBE | IrqSettings::NOREQUEST | IrqSettings::NOTHREAD);
        g.chained = true;
        irq_startup(self, desc, &mut g, true, false)
    }

    /// `irq_set_percpu_devid`: a per-CPU line with per-CPU handlers (timers, PMU).
    pub fn irq_set_percpu_devid(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        g.settings.insert(
            IrqSettings::PER_CPU_DEVID
                | IrqSettings::PER_CPU
                | IrqSettings::NOAUTOEN
                | IrqSettings::NOTHREAD
                | IrqSettings::NOPROBE,
        );
        desc.irqd_set(IrqdState::PER_CPU);
        Ok(())
    }

    /// `irq_set_nested_thread` + `irq_set_parent`: `irq` is handled from `parent`'s
    /// thread via [`IrqSystem::handle_nested_irq`].
    pub fn irq_set_nested_thread(&self, irq: u32, parent: Option<u32>) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        g.settings.insert(IrqSettings::NESTED_THREAD);
        if parent.is_some() || g.parent_irq().is_some() {
            g.rare_mut().parent_irq = parent;
        }
        g.handler = FlowHandler::Nested;
        Ok(())
    }

    /// `irq_modify_status`: clears then sets `IRQ_*` settings (NOREQUEST, NOAUTOEN, ...).
    pub fn irq_modify_status(
        &self,
        irq: u32,
        clear: IrqSettings,
        set: IrqSettings,
    ) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        g.settings.remove(clear);
        g.settings.insert(set);
        if g.settings.contains(IrqSettings::NO_BALANCING) {
            desc.irqd_set(IrqdState::NO_BALANCING);
        }
        Ok(())
    }

    /// Sets the trigger type recorded for a line before it is requested (what
    /// firmware configured); used by domains' `xlate`.
    pub fn irq_set_default_trigger(&self, irq: u32, ty: super::Trigger) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let _g = desc.inner.lock_irqsave(self);
        desc.set_trigger_bits(ty);
        desc.irqd_set(IrqdState::DEFAULT_TRIGGER_SET);
        if ty.is_level() {
            desc.irqd_set(IrqdState::LEVEL);
        }
        Ok(())
    }
}
