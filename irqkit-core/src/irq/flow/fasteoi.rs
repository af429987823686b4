//! `handle_fasteoi_irq` and its hierarchy variants (chip.c): transparent controllers
//! that only need an EOI, plus mask/unmask for ONESHOT lines.
//!
//! The EOI rule: a ONESHOT line is EOIed now and unmasked only when no thread is still
//! pending; an EOI_THREADED chip instead gets its EOI when the last thread finishes
//! (`unmask_threaded_irq`).

use super::{irq_can_handle_actions, irq_can_handle_pm, kstat_incr_irqs_this_cpu};
use crate::cpu::HardIrq;
use crate::irq::chip::ChipCallbacks;
use crate::irq::chip_state::{mask_ack_irq, mask_irq, unmask_irq};
use crate::irq::desc::{DescInner, IrqDesc};
use crate::irq::flags::{ChipFlags, IrqdState, IrqsState};
use crate::irq::handle::{handle_irq_event, handle_irq_event_in_place, DescGuard, DescSlot};
use crate::IrqSystem;

#[inline]
fn eoi(inner: &DescInner) {
    inner.data.chip.eoi(&inner.data);
}

#[inline]
fn eoi_unless_if_handled(inner: &DescInner) {
    if !inner.data.chip.flags().contains(ChipFlags::EOI_IF_HANDLED) {
        eoi(inner);
    }
}

/// `cond_unmask_eoi_irq`.
#[inline(always)]
fn cond_unmask_eoi_irq(desc: &IrqDesc, inner: &DescInner) {
    if !inner.istate.contains(IrqsState::ONESHOT) {
        eoi(inner);
        return;
    }
    if !desc.is_disabled() && desc.is_masked() && desc.threads_oneshot() == 0 {
        eoi(inner);
        unmask_irq(desc, inner);
    } else if !inner.data.chip.flags().contains(ChipFlags::EOI_THREADED) {
        eoi(inner);
    }
}

#[derive(PartialEq)]
enum Variant {
    Plain,
    Ack,
    Mask,
}

#[inline(always)]
fn fasteoi<'a>(sys: &'a IrqSystem, desc: &'a IrqDesc, g: DescGuard<'a>, ctx: &HardIrq, v: Variant) {
    if v == Variant::Mask {
        mask_ack_irq(desc, &g);
    }
    let (mut g, ok) = irq_can_handle_pm(sys, desc, g, false);
    if !ok {
        if desc.irqd().contains(IrqdState::RESEND_WHEN_IN_PROGRESS) {
            g.istate.insert(IrqsState::PENDING);
        }
        eoi_unless_if_handled(&g);
        return;
    }
    if !irq_can_handle_actions(desc, &mut g) {
        if v != Variant::Mask {
            mask_irq(desc, &g);
        }
        eoi_unless_if_handled(&g);
        return;
    }
    let this_cpu = kstat_incr_irqs_this_cpu(sys, desc, &g);
    if g.istate.contains(IrqsState::ONESHOT) {
        mask_irq(desc, &g);
    }
    if v == Variant::Ack && g.data.chip.callbacks().contains(ChipCallbacks::ACK) {
        g.data.chip.ack(&g.data);
    }
    let mut g = handle_irq_event(sys, desc, g, ctx, this_cpu);
    cond_unmask_eoi_irq(desc, &g);
    if v == Variant::Plain && g.istate.contains(IrqsState::PENDING) {
        let _ = crate::irq::resend::check_irq_resend(sys, desc, &mut g, false);
    }
}

/// `handle_fasteoi_irq` on a guard slot (the dispatch fast path): the common case —
/// not in progress, no wake-up armed, enabled, with an action — is decided here with
/// the guard in place; every other case takes [`handle_fasteoi_irq`] unchanged.
#[inline(always)]
pub(crate) fn handle_fasteoi_irq_in_place<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    slot: &mut DescSlot<'a>,
    ctx: &HardIrq,
) {
    let Some(g) = slot.as_mut() else { return };
    let refuse = IrqdState::IRQ_INPROGRESS | IrqdState::WAKEUP_ARMED | IrqdState::IRQ_DISABLED;
    if desc.irqd().intersects(refuse) || !g.has_action() {
        if let Some(g) = slot.take() {
            handle_fasteoi_irq(sys, desc, g, ctx);
        }
        return;
    }
    // irq_can_handle_pm and irq_can_handle_actions both pass; the latter's side effect:
    g.istate.remove(IrqsState::REPLAY | IrqsState::WAITING);
    let this_cpu = kstat_incr_irqs_this_cpu(sys, desc, g);
    if g.istate.contains(IrqsState::ONESHOT) {
        mask_irq(desc, g);
    }
    handle_irq_event_in_place(sys, desc, slot, ctx, this_cpu);
    let Some(g) = slot.as_mut() else { return };
    cond_unmask_eoi_irq(desc, g);
    if g.istate.contains(IrqsState::PENDING) {
        let _ = crate::irq::resend::check_irq_resend(sys, desc, g, false);
    }
}

/// `handle_fasteoi_irq`.
pub(crate) fn handle_fasteoi_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    fasteoi(sys, desc, g, ctx, Variant::Plain)
}

/// `handle_fasteoi_ack_irq`: ack after the oneshot mask; no final resend.
pub(crate) fn handle_fasteoi_ack_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    fasteoi(sys, desc, g, ctx, Variant::Ack)
}

/// `handle_fasteoi_mask_irq`: mask+ack first (level semantics), fasteoi refusal/EOI.
pub(crate) fn handle_fasteoi_mask_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    fasteoi(sys, desc, g, ctx, Variant::Mask)
}
