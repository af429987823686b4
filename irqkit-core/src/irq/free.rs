//! `free_irq` (manage.c, spec 1.10): unlink the action, shut the line down if it was
//! the last, wait until no hard handler and no thread of the line runs, stop the
//! threads, deactivate, and hand back the name.
//!
//! The guarantee drivers rely on: once `free` returns, the handler is not running
//! and will never run again (INPROGRESS is clear and the action is off the list).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::action::IrqAction;
use super::chip_state::irq_shutdown;
use super::flags::{IrqSettings, ThreadFlags};
use crate::cpu::Task;
use crate::sync::atomic::{spin_hint, Ordering};
use crate::{IrqError, IrqSystem};

/// Removes `action` from its line; `task` is present when the caller may sleep.
pub(crate) fn free_irq(
    sys: &IrqSystem,
    action: &Arc<IrqAction>,
    task: Option<&Task>,
) -> Result<String, IrqError> {
    let irq = action.irq();
    if sys.with_this_cpu(|c| c.in_interrupt()).unwrap_or(false) {
        sys.irq.log_line(sys, format!("Trying to free IRQ {irq} from IRQ context!"));
    }
    let desc = sys.irq_to_desc(irq)?;
    let last = {
        let mut g = desc.inner.lock_irqsave(sys);
        let list = g.actions.clone().unwrap_or_default();
        let Some(pos) = list.iter().position(|a| Arc::ptr_eq(a, action)) else {
            sys.irq.log_line(sys, format!("Trying to free already-free IRQ {irq}"));
            return Err(IrqError::AlreadyFreed("irq handler already freed"));
        };
        let mut nl: Vec<Arc<IrqAction>> = list.to_vec();
        nl.remove(pos);
        let last = nl.is_empty();
        g.set_actions(if last { None } else { Some(nl.into()) });
        super::pm::irq_pm_remove_action(desc, &mut g, action.flags);
        if last {
            if g.settings.contains(IrqSettings::PER_CPU_DEVID) {
                // `__free_percpu_irq` only warns: a per-CPU line is masked through
                // each CPU's own interface (a PPI in its redistributor), so only that
                // CPU can disable it. Masking "for" another CPU from here would hit
                // the caller's interface and leave the other CPU's line live with
                // `percpu_enabled` saying otherwise — its next interrupt would find
                // no action and, seeing the line "disabled", never mask it: a level
                // line then re-enters forever. Left enabled, that interrupt reports
                // itself spurious and masks the line on the CPU it arrived on.
                if let Some(cpu) = g.percpu_enabled().iter().next() {
                    sys.irq
                        .log_line(sys, format!("percpu IRQ {irq} still enabled on CPU{}!", cpu.0));
                }
            } else {
                g.settings.remove(IrqSettings::DISABLE_UNLAZY);
                irq_shutdown(sys, desc, &mut g);
            }
        }
        last
    };
    // Wait for a hard handler still running on another CPU (synchronize_hardirq).
    // From hard-irq context that handler may be our own caller: Linux deadlocks
    // there; irqkit logged the misuse above and does not wait.
    let in_hardirq = sys.with_this_cpu(|c| c.in_hardirq()).unwrap_or(false);
    while !in_hardirq && desc.in_progress() {
        spin_hint();
    }
    if let Some(t) = task {
        if desc.threads_active() > 0 {
            let _ = sys.irq.wait_for_threads.wait_event(sys, t, || desc.threads_active() == 0);
        }
    }
    stop_action_threads(sys, desc, action);
    if last {
        let mut g = desc.inner.lock_irqsave(sys);
        if !g.has_action() {
            super::domain::irq_deactivate(desc, &mut g);
            g.data.chip.release_resources(&g.data);
        }
    }
    Ok(action.name().into())
}

/// Stops the thread(s) of `action`. A thread that never started (READY unset: the
/// runtime has not run it yet) cannot clean up after itself, so its pending wake-up is
/// accounted here exactly as the thread's exit path would (`irq_thread_dtor`).
fn stop_action_threads(sys: &IrqSystem, desc: &super::IrqDesc, action: &IrqAction) {
    for a in core::iter::once(action).chain(action.secondary.as_deref()) {
        let Some(t) = a.thread() else { continue };
        a.thread_exiting.store(true, Ordering::Release);
        let never_ran = !a.thread_flag(ThreadFlags::READY);
        sys.kthread_stop_nowait(t);
        // Whoever clears RUNTHREAD accounts the wake-up: us, or the thread if it
        // starts after all (it then finds nothing to do and exits).
        if never_ran && a.test_and_clear_thread_flag(ThreadFlags::RUNTHREAD) {
            super::thread::irq_thread_done(sys, desc, a, true);
        }
    }
}
