//! `handle_simple_irq` and `handle_untracked_irq` (chip.c): no chip callbacks at all,
//! for demultiplexed lines whose parent already did the controller work.

use super::{irq_can_handle_actions, irq_can_handle_pm, kstat_incr_irqs_this_cpu};
use crate::cpu::HardIrq;
use crate::irq::desc::IrqDesc;
use crate::irq::flags::{IrqdState, IrqsState};
use crate::irq::handle::{handle_irq_event, handle_irq_event_percpu, DescGuard};
use crate::IrqSystem;

/// `handle_simple_irq`.
pub(crate) fn handle_simple_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    let (mut g, ok) = irq_can_handle_pm(sys, desc, g, false);
    if !ok {
        if desc.irqd().contains(IrqdState::RESEND_WHEN_IN_PROGRESS) {
            g.istate.insert(IrqsState::PENDING);
        }
        return;
    }
    if !irq_can_handle_actions(desc, &mut g) {
        return;
    }
    let this_cpu = kstat_incr_irqs_this_cpu(sys, desc, &g);
    drop(handle_irq_event(sys, desc, g, ctx, this_cpu));
}

/// `handle_untracked_irq`: like simple, without statistics or spurious detection.
pub(crate) fn handle_untracked_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    let (mut g, ok) = irq_can_handle_pm(sys, desc, g, false);
    if !ok || !irq_can_handle_actions(desc, &mut g) {
        return;
    }
    g.istate.remove(IrqsState::PENDING);
    desc.irqd_set(IrqdState::IRQ_INPROGRESS);
    let actions = g.actions.clone();
    drop(g);
    if let Some(list) = &actions {
        handle_irq_event_percpu(sys, desc, list, ctx, sys.this_cpu_opt());
    }
    let _g = desc.inner.lock_irqsave(sys);
    desc.irqd_clear(IrqdState::IRQ_INPROGRESS);
}
