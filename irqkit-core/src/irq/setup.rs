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

use super::action::{HardHandler, IrqAction, Primary, ThreadHandler, ThreadPart};
use super::desc::IrqDesc;
use super::flags::{ChipFlags, Flags, IrqSettings, ThreadFlags};
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
    let t = sys.spawn_kthread(spec, move |task| super::thread::irq_thread(&s2, &a2, task))?;
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
    if flags.contains(Flags::ONESHOT) && thread_fn.is_none() {
        sys.irq.log_line(
            sys,
            format!("irq {irq}: IRQF_ONESHOT requested without a thread function ({name})"),
        );
    }
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
    if let Err(e) = super::install::install(sys, desc, &action, chip_flags) {
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
