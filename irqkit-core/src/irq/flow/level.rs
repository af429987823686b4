//! `handle_level_irq` (chip.c): mask+ack first, handle, then unmask only if the line is
//! still enabled and no ONESHOT thread is pending.
//!
//! A level line that cannot be handled (disabled, no action, in progress elsewhere)
//! stays masked: the device keeps the level asserted, so nothing is lost and nothing is
//! ever software-resent.

use super::{irq_can_handle, kstat_incr_irqs_this_cpu};
use crate::cpu::HardIrq;
use crate::irq::chip_state::{mask_ack_irq, unmask_irq};
use crate::irq::desc::{DescInner, IrqDesc};
use crate::irq::handle::{handle_irq_event, DescGuard};
use crate::IrqSystem;

/// `handle_level_irq`.
pub(crate) fn handle_level_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    mask_ack_irq(desc, &g);
    let (g, ok) = irq_can_handle(sys, desc, g, false);
    if !ok {
        return;
    }
    let this_cpu = kstat_incr_irqs_this_cpu(sys, desc, &g);
    let g = handle_irq_event(sys, desc, g, ctx, this_cpu);
    cond_unmask_irq(desc, &g);
}

/// `cond_unmask_irq`: unmask if not disabled, masked, and no oneshot thread running.
pub(crate) fn cond_unmask_irq(desc: &IrqDesc, inner: &DescInner) {
    if !desc.is_disabled() && desc.is_masked() && desc.threads_oneshot() == 0 {
        unmask_irq(desc, inner);
    }
}
