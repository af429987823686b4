//! `handle_edge_irq` (chip.c): ack (no mask), handle, and replay edges that arrived while
//! the handler ran.
//!
//! An edge that arrives while the line is in progress on another CPU (or disabled, or
//! without action) sets PENDING and is masked+acked; the CPU already running the
//! handler sees PENDING, unmasks the line it finds masked, and runs the actions once
//! more. Any number of such edges costs exactly one more run.

use super::{irq_can_handle, kstat_incr_irqs_this_cpu};
use crate::cpu::HardIrq;
use crate::irq::chip::ChipCallbacks;
use crate::irq::chip_state::{mask_ack_irq, mask_irq, unmask_irq};
use crate::irq::desc::IrqDesc;
use crate::irq::flags::IrqsState;
use crate::irq::handle::{handle_irq_event, DescGuard};
use crate::IrqSystem;

/// `handle_edge_irq`.
pub(crate) fn handle_edge_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    let (mut g, ok) = irq_can_handle(sys, desc, g, true);
    if !ok {
        g.istate.insert(IrqsState::PENDING);
        mask_ack_irq(desc, &g);
        return;
    }
    let this_cpu = kstat_incr_irqs_this_cpu(sys, desc, &g);
    if g.data.chip.callbacks().contains(ChipCallbacks::ACK) {
        g.data.chip.ack(&g.data);
    }
    loop {
        if !g.has_action() {
            mask_irq(desc, &g);
            return;
        }
        if g.istate.contains(IrqsState::PENDING) && !desc.is_disabled() && desc.is_masked() {
            unmask_irq(desc, &g);
        }
        g = handle_irq_event(sys, desc, g, ctx, this_cpu);
        if !g.istate.contains(IrqsState::PENDING) || desc.is_disabled() {
            break;
        }
    }
}
