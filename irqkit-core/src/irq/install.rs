//! Installing a built action on its line (`__setup_irq` steps 8–12, spec 1.7): the
//! sharing agreement, ONESHOT bit allocation, first-action startup and PM accounting.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::action::{IrqAction, Primary};
use super::chip_state::irq_startup;
use super::desc::IrqDesc;
use super::flags::{ChipFlags, Flags, IrqSettings, IrqdState, IrqsState, Trigger};
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

fn mismatch(sys: &IrqSystem, irq: u32, old: &IrqAction, new: &IrqAction) -> IrqError {
    if !new.flags.contains(Flags::PROBE_SHARED) {
        sys.irq.log_line(
            sys,
            format!(
                "Flags mismatch irq {}. {:08x} ({}) vs. {:08x} ({})",
                irq,
                new.flags.bits(),
                new.name,
                old.flags.bits(),
                old.name
            ),
        );
    }
    IrqError::Busy("flags mismatch on shared irq")
}

pub(crate) fn install(
    sys: &IrqSystem,
    desc: &IrqDesc,
    action: &Arc<IrqAction>,
    chip_flags: ChipFlags,
) -> Result<(), IrqError> {
    let irq = desc.irq();
    let mut g = desc.inner.lock_irqsave(sys);
    let old_list: Vec<Arc<IrqAction>> = g.actions.as_ref().map(|l| l.to_vec()).unwrap_or_default();
    let shared = !old_list.is_empty();
    let new_trigger = Trigger::from_bits_truncate(action.flags.bits() & Flags::TRIGGER_MASK.bits());
    let flags = action.flags;
    if shared {
        let old = &old_list[0];
        if g.istate.contains(IrqsState::NMI) {
            return Err(IrqError::InvalidArgument("Invalid attempt to share NMI"));
        }
        if g.settings.contains(IrqSettings::PER_CPU_DEVID) {
            let overlap =
                old_list.iter().any(|a| match (a.percpu_affinity, action.percpu_affinity) {
                    (Some(x), Some(y)) => x.intersects(&y),
                    _ => true,
                });
            if overlap {
                return Err(IrqError::InvalidArgument("overlapping per-cpu affinity"));
            }
        } else {
            let old_trigger = if desc.irqd().contains(IrqdState::DEFAULT_TRIGGER_SET)
                || !desc.trigger().is_empty()
            {
                desc.trigger()
            } else {
                desc.set_trigger_bits(new_trigger);
                new_trigger
            };
            let both_shared = old.flags.contains(Flags::SHARED) && flags.contains(Flags::SHARED);
            let trig_bad = !new_trigger.is_empty() && new_trigger != old_trigger;
            let oneshot_bad = (old.flags ^ flags).contains(Flags::ONESHOT);
            let percpu_bad = (old.flags ^ flags).contains(Flags::PERCPU);
            if !both_shared || trig_bad || oneshot_bad || percpu_bad {
                return Err(mismatch(sys, irq, old, action));
            }
        }
    }
    // ONESHOT bookkeeping (step 9).
    if flags.contains(Flags::ONESHOT) {
        let used = old_list.iter().fold(0u64, |m, a| m | a.thread_mask.load(Ordering::Relaxed));
        if used == u64::MAX {
            return Err(IrqError::Busy("all oneshot thread bits in use"));
        }
        action.thread_mask.store(1u64 << (!used).trailing_zeros(), Ordering::Relaxed);
    } else if matches!(action.primary, Primary::Default)
        && !chip_flags.contains(ChipFlags::ONESHOT_SAFE)
    {
        sys.irq.log_line(
            sys,
            format!(
                "Threaded irq requested with handler=NULL and !ONESHOT for {} (irq {})",
                action.name, irq
            ),
        );
        return Err(IrqError::InvalidArgument("threaded irq with default handler needs ONESHOT"));
    }
    if !shared {
        g.data.chip.request_resources(&g.data).inspect_err(|_| {
            sys.irq.log_line(
                sys,
                format!(
                    "Failed to request resources for {} (irq {}) on irqchip {}",
                    action.name,
                    irq,
                    g.data.chip.name()
                ),
            );
        })?;
        if !new_trigger.is_empty() {
            if let Err(e) = super::line::irq_set_trigger(sys, desc, &mut g, new_trigger) {
                g.data.chip.release_resources(&g.data);
                return Err(e);
            }
        }
        if let Err(e) = super::domain::irq_activate(sys, desc, &mut g) {
            g.data.chip.release_resources(&g.data);
            return Err(e);
        }
        g.istate.remove(
            IrqsState::AUTODETECT
                | IrqsState::SPURIOUS_DISABLED
                | IrqsState::ONESHOT
                | IrqsState::WAITING,
        );
        desc.irqd_clear(IrqdState::IRQ_INPROGRESS);
        if flags.contains(Flags::PERCPU) {
            desc.irqd_set(IrqdState::PER_CPU);
            g.settings.insert(IrqSettings::PER_CPU);
            if flags.contains(Flags::NO_DEBUG) {
                g.settings.insert(IrqSettings::NO_DEBUG);
            }
        }
        if sys.irq.noirqdebug() {
            g.settings.insert(IrqSettings::NO_DEBUG);
        }
        if flags.contains(Flags::ONESHOT) {
            g.istate.insert(IrqsState::ONESHOT);
        }
        if flags.contains(Flags::NOBALANCING) {
            g.settings.insert(IrqSettings::NO_BALANCING);
            desc.irqd_set(IrqdState::NO_BALANCING);
        }
        let per_cpu_devid = g.settings.contains(IrqSettings::PER_CPU_DEVID);
        if !flags.contains(Flags::NO_AUTOEN) && !g.settings.contains(IrqSettings::NOAUTOEN) {
            irq_startup(sys, desc, &mut g, true, false)?;
        } else if !per_cpu_devid {
            g.depth = 1;
        }
    } else if !new_trigger.is_empty() && new_trigger != desc.trigger() {
        sys.irq.log_line(
            sys,
            format!(
                "irq {} uses trigger mode {}; requested {}",
                irq,
                desc.trigger().bits(),
                new_trigger.bits()
            ),
        );
    }
    let mut list = old_list;
    list.push(action.clone());
    g.set_actions(Some(list.into()));
    super::pm::irq_pm_install_action(sys, desc, &mut g, flags);
    g.irq_count = 0;
    g.irqs_unhandled = 0;
    if shared && g.istate.contains(IrqsState::SPURIOUS_DISABLED) {
        g.istate.remove(IrqsState::SPURIOUS_DISABLED);
        let _ = super::line::__enable_irq(sys, desc, &mut g);
    }
    Ok(())
}
