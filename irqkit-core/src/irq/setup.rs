//! `__setup_irq` (manage.c, spec 1.7 steps 1–13, 1.8 forced threading): builds the
//! action, creates its irq thread(s), checks sharing and ONESHOT rules, and installs it.
//!
//! Sharing rule: every action of a line must agree on SHARED, the trigger type, ONESHOT
//! (a COND_ONESHOT newcomer adopts the line's ONESHOT) and PERCPU; anything else is
//! `Busy`. A line requested with the default primary handler must be ONESHOT unless the
//! chip is ONESHOT_SAFE, because otherwise a level line would storm until the thread ran.

use alloc::format;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::action::{HardHandler, IrqAction, Primary, ThreadHandler, ThreadPart};
use super::chip_state::irq_startup;
use super::desc::IrqDesc;
use super::flags::{ChipFlags, Flags, IrqSettings, IrqdState, IrqsState, ThreadFlags, Trigger};
use crate::cpu::CpuMask;
use crate::sched::{Affinity, KthreadSpec, Policy};
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

/// SCHED_FIFO priority of irq threads (`MAX_RT_PRIO / 2`).
pub const IRQ_THREAD_PRIO: u8 = 50;
/// Priority of forced-threading secondary threads (one below the primary).
pub const IRQ_SECONDARY_PRIO: u8 = 49;

fn spawn_irq_thread(
    sys: &Arc<IrqSystem>,
    action: &Arc<IrqAction>,
    secondary: bool,
) -> Result<(), IrqError> {
    let name = if secondary {
        format!("irq/{}-s-{}", action.irq, action.name)
    } else {
        format!("irq/{}-{}", action.irq, action.name)
    };
    let prio = if secondary { IRQ_SECONDARY_PRIO } else { IRQ_THREAD_PRIO };
    let spec = KthreadSpec {
        name,
        policy: Policy::Fifo(prio),
        affinity: Affinity::Unbound(CpuMask::first_n(sys.nr_cpus())),
        hooks: None,
    };
    let (s2, a2) = (sys.clone(), action.clone());
    let t = sys.create_kthread(spec, move |task| super::thread::irq_thread(&s2, &a2, task))?;
    // The thread adopts the line's effective affinity when it first runs.
    action.test_and_set_thread_flag(ThreadFlags::AFFINITY);
    let _ = action.thread.set(alloc::boxed::Box::new(t));
    Ok(())
}

fn stop_threads(sys: &IrqSystem, action: &IrqAction) {
    for a in core::iter::once(action).chain(action.secondary.as_deref()) {
        if let Some(t) = a.thread() {
            a.thread_exiting.store(true, Ordering::Release);
            sys.kthread_stop_nowait(t);
        }
    }
}

/// Builds, threads and installs an action on `desc`.
pub(crate) fn setup_irq(
    sys: &Arc<IrqSystem>,
    desc: &IrqDesc,
    handler: Option<HardHandler>,
    thread_fn: Option<ThreadHandler>,
    mut flags: Flags,
    name: &str,
    percpu_affinity: Option<CpuMask>,
) -> Result<Arc<IrqAction>, IrqError> {
    let irq = desc.irq();
    let (chip_flags, nested, nothread, no_chip, line_oneshot) = {
        let g = desc.inner.lock_irqsave(sys);
        (
            g.data.chip.flags(),
            g.settings.contains(IrqSettings::NESTED_THREAD),
            g.settings.contains(IrqSettings::NOTHREAD),
            g.data.is_no_chip(),
            g.actions
                .as_ref()
                .and_then(|l| l.first())
                .is_some_and(|a| a.flags.contains(Flags::ONESHOT)),
        )
    };
    // COND_ONESHOT: a sharer adopts the line's ONESHOT (checked again at install).
    if line_oneshot && flags.contains(Flags::COND_ONESHOT) {
        flags |= Flags::ONESHOT;
    }
    if no_chip {
        return Err(IrqError::Unsupported("irq has no chip"));
    }
    if flags.intersection(Flags::TRIGGER_MASK).is_empty() {
        flags |= Flags::from_bits_truncate(desc.trigger().bits());
    }
    let mut action = IrqAction::new(irq, name.to_string(), flags);
    action.percpu_affinity = percpu_affinity;
    action.primary = match handler {
        Some(h) => Primary::Handler(h),
        None => Primary::Default,
    };
    action.thread_fn = thread_fn.map(ThreadPart::Thread);
    if nested {
        if action.thread_fn.is_none() {
            return Err(IrqError::InvalidArgument("nested irq needs a thread function"));
        }
        action.primary = Primary::NestedWarn;
    } else if !nothread && sys.irq.threadirqs() {
        irq_setup_forced_threading(&mut action);
    }
    if chip_flags.contains(ChipFlags::ONESHOT_SAFE) {
        action.flags.remove(Flags::ONESHOT);
    }
    let action = Arc::new(action);
    if action.thread_fn.is_some() && !nested {
        spawn_irq_thread(sys, &action, false)?;
        if let Some(sec) = &action.secondary {
            if let Err(e) = spawn_irq_thread(sys, sec, true) {
                stop_threads(sys, &action);
                return Err(e);
            }
        }
    }
    if let Err(e) = install(sys, desc, &action, chip_flags) {
        stop_threads(sys, &action);
        return Err(e);
    }
    Ok(action)
}

/// `irq_setup_forced_threading` (spec 1.8).
fn irq_setup_forced_threading(action: &mut IrqAction) {
    if action.flags.intersects(Flags::NO_THREAD | Flags::PERCPU | Flags::ONESHOT) {
        return;
    }
    if matches!(action.primary, Primary::Default) {
        return;
    }
    action.flags |= Flags::ONESHOT;
    let Primary::Handler(hard) = core::mem::replace(&mut action.primary, Primary::Default) else {
        return;
    };
    if let Some(ThreadPart::Thread(orig)) = action.thread_fn.take() {
        let mut sec = IrqAction::new(action.irq, action.name.clone(), action.flags);
        sec.primary = Primary::SecondaryWarn;
        sec.thread_fn = Some(ThreadPart::Thread(orig));
        action.secondary = Some(Arc::new(sec));
    }
    action.thread_flags.fetch_or(ThreadFlags::FORCED_THREAD.bits(), Ordering::Relaxed);
    action.thread_fn = Some(ThreadPart::Forced(hard));
}

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

fn install(
    sys: &IrqSystem,
    desc: &IrqDesc,
    action: &Arc<IrqAction>,
    chip_flags: ChipFlags,
) -> Result<(), IrqError> {
    let irq = desc.irq();
    let mut g = desc.inner.lock_irqsave(sys);
    let old_list: Vec<Arc<IrqAction>> =
        g.actions.as_ref().map(|l| (**l).clone()).unwrap_or_default();
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
    g.actions = Some(Arc::new(list));
    super::pm::irq_pm_install_action(sys, desc, &mut g, flags);
    g.irq_count = 0;
    g.irqs_unhandled = 0;
    if shared && g.istate.contains(IrqsState::SPURIOUS_DISABLED) {
        g.istate.remove(IrqsState::SPURIOUS_DISABLED);
        let _ = super::line::__enable_irq(sys, desc, &mut g);
    }
    Ok(())
}
