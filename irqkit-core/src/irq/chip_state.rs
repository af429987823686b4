//! Chip state helpers of kernel/irq/chip.c (spec 1.2): cached mask/unmask, enable,
//! lazy disable, startup/shutdown with depth, managed startup.
//!
//! All run with the descriptor lock held (`inner` is the locked part). The MASKED and
//! DISABLED bits cache the hardware state, so redundant chip calls are suppressed, and
//! "disable" is lazy unless the chip has `irq_disable` or the line is DISABLE_UNLAZY:
//! the line stays unmasked until an interrupt actually arrives.

use super::chip::ChipCallbacks;
use super::desc::{DescInner, IrqDesc};
use super::flags::{IrqSettings, IrqdState};
use crate::{IrqError, IrqSystem};

#[inline]
fn has(inner: &DescInner, cb: ChipCallbacks) -> bool {
    inner.data.chip.callbacks().contains(cb)
}

/// `mask_irq`: no-op if already masked; else mask only if the chip can.
#[inline]
pub(crate) fn mask_irq(desc: &IrqDesc, inner: &DescInner) {
    if desc.is_masked() {
        return;
    }
    if has(inner, ChipCallbacks::MASK) {
        inner.data.chip.mask(&inner.data);
        desc.irqd_set(IrqdState::IRQ_MASKED);
    }
}

/// `unmask_irq`: no-op if not masked; else unmask only if the chip can.
#[inline]
pub(crate) fn unmask_irq(desc: &IrqDesc, inner: &DescInner) {
    if !desc.is_masked() {
        return;
    }
    if has(inner, ChipCallbacks::UNMASK) {
        inner.data.chip.unmask(&inner.data);
        desc.irqd_clear(IrqdState::IRQ_MASKED);
    }
}

/// `mask_ack_irq`: `irq_mask_ack` if present, else mask then `irq_ack`.
#[inline]
pub(crate) fn mask_ack_irq(desc: &IrqDesc, inner: &DescInner) {
    if has(inner, ChipCallbacks::MASK_ACK) {
        inner.data.chip.mask_ack(&inner.data);
        desc.irqd_set(IrqdState::IRQ_MASKED);
    } else {
        mask_irq(desc, inner);
        if has(inner, ChipCallbacks::ACK) {
            inner.data.chip.ack(&inner.data);
        }
    }
}

/// `unmask_threaded_irq`: EOI first on EOI_THREADED chips, then unmask.
pub(crate) fn unmask_threaded_irq(desc: &IrqDesc, inner: &DescInner) {
    if inner.data.chip.flags().contains(super::flags::ChipFlags::EOI_THREADED) {
        inner.data.chip.eoi(&inner.data);
    }
    unmask_irq(desc, inner);
}

/// `irq_enable`: clear DISABLED and call `irq_enable` (or unmask).
pub(crate) fn irq_enable(desc: &IrqDesc, inner: &DescInner) {
    if !desc.is_disabled() {
        unmask_irq(desc, inner);
        return;
    }
    desc.irqd_clear(IrqdState::IRQ_DISABLED);
    if has(inner, ChipCallbacks::ENABLE) {
        inner.data.chip.enable(&inner.data);
        desc.irqd_clear(IrqdState::IRQ_MASKED);
    } else {
        unmask_irq(desc, inner);
    }
}

/// `__irq_disable(mask)`.
pub(crate) fn __irq_disable(desc: &IrqDesc, inner: &DescInner, mask: bool) {
    if desc.is_disabled() {
        if mask {
            mask_irq(desc, inner);
        }
        return;
    }
    desc.irqd_set(IrqdState::IRQ_DISABLED);
    if has(inner, ChipCallbacks::DISABLE) {
        inner.data.chip.disable(&inner.data);
        desc.irqd_set(IrqdState::IRQ_MASKED);
    } else if mask {
        mask_irq(desc, inner);
    }
}

/// `irq_disable`: lazy unless DISABLE_UNLAZY.
pub(crate) fn irq_disable(desc: &IrqDesc, inner: &DescInner) {
    let unlazy = inner.settings.contains(IrqSettings::DISABLE_UNLAZY);
    __irq_disable(desc, inner, unlazy);
}

/// `__irq_startup`: chip startup (clears DISABLED|MASKED) or enable; sets STARTED.
fn __irq_startup(desc: &IrqDesc, inner: &DescInner) {
    if has(inner, ChipCallbacks::STARTUP) {
        inner.data.chip.startup(&inner.data);
        desc.irqd_clear(IrqdState::IRQ_DISABLED | IrqdState::IRQ_MASKED);
    } else {
        irq_enable(desc, inner);
    }
    desc.irqd_set(IrqdState::IRQ_STARTED);
}

/// `irq_startup(resend, force)`: depth := 0 and start, honouring managed affinity.
pub(crate) fn irq_startup(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
    resend: bool,
    force: bool,
) -> Result<(), IrqError> {
    inner.depth = 0;
    if desc.is_started() {
        irq_enable(desc, inner);
    } else if desc.is_managed() {
        if !inner.affinity.get().intersects(&sys.online_mask()) {
            if force {
                sys.irq.log_line(
                    sys,
                    alloc::format!(
                        "irq {}: forced startup of managed irq with no online cpu",
                        desc.irq()
                    ),
                );
            }
            inner.depth = 1;
            desc.irqd_set(IrqdState::MANAGED_SHUTDOWN);
            return Ok(());
        }
        super::domain::irq_activate(sys, desc, inner)?;
        let mask = inner.affinity.get();
        let _ = super::affinity::irq_do_set_affinity(sys, desc, inner, &mask, false);
        __irq_startup(desc, inner);
    } else {
        super::domain::irq_activate(sys, desc, inner)?;
        let pre = inner.data.chip.flags().contains(super::flags::ChipFlags::AFFINITY_PRE_STARTUP);
        if pre {
            super::affinity::irq_setup_affinity(sys, desc, inner);
            __irq_startup(desc, inner);
        } else {
            __irq_startup(desc, inner);
            super::affinity::irq_setup_affinity(sys, desc, inner);
        }
    }
    if resend {
        let _ = super::resend::check_irq_resend(sys, desc, inner, false);
    }
    Ok(())
}

/// `irq_shutdown`: only if started — depth++, chip shutdown (or disable+mask), clear STARTED.
pub(crate) fn irq_shutdown(sys: &IrqSystem, desc: &IrqDesc, inner: &mut DescInner) {
    if !desc.is_started() {
        return;
    }
    super::resend::irq_resend_remove(sys, desc.irq());
    inner.depth += 1;
    if has(inner, ChipCallbacks::SHUTDOWN) {
        inner.data.chip.shutdown(&inner.data);
        desc.irqd_set(IrqdState::IRQ_DISABLED | IrqdState::IRQ_MASKED);
    } else {
        __irq_disable(desc, inner, true);
    }
    desc.irqd_clear(IrqdState::IRQ_STARTED);
}

/// `irq_shutdown_and_deactivate`: shutdown, then deactivate the hierarchy.
pub(crate) fn irq_shutdown_and_deactivate(sys: &IrqSystem, desc: &IrqDesc, inner: &mut DescInner) {
    irq_shutdown(sys, desc, inner);
    super::domain::irq_deactivate(desc, inner);
}

/// `irq_startup_managed`: a CPU of the managed mask came online; depth--, start at 0.
pub(crate) fn irq_startup_managed(sys: &IrqSystem, desc: &IrqDesc, inner: &mut DescInner) {
    desc.irqd_clear(IrqdState::MANAGED_SHUTDOWN);
    inner.depth = inner.depth.saturating_sub(1);
    if inner.depth == 0 {
        let _ = irq_startup(sys, desc, inner, true, false);
    }
}

/// Per-CPU enable on `cpu`: enable/unmask and mark it in `percpu_enabled`.
pub(crate) fn irq_percpu_enable(desc: &IrqDesc, inner: &mut DescInner, cpu: crate::CpuId) {
    if has(inner, ChipCallbacks::ENABLE) {
        inner.data.chip.enable(&inner.data);
    } else {
        inner.data.chip.unmask(&inner.data);
    }
    let _ = desc;
    inner.percpu_enabled_mut().set(cpu);
}

/// Per-CPU disable on `cpu`.
pub(crate) fn irq_percpu_disable(desc: &IrqDesc, inner: &mut DescInner, cpu: crate::CpuId) {
    if has(inner, ChipCallbacks::DISABLE) {
        inner.data.chip.disable(&inner.data);
    } else {
        inner.data.chip.mask(&inner.data);
    }
    let _ = desc;
    inner.percpu_enabled_mut().clear(cpu);
}
