//! The irq thread (`irq_thread` in manage.c, spec 1.9): sleeps until its action is
//! woken (RUNTHREAD), runs the threaded handler, and finalizes ONESHOT — the line is
//! unmasked only when the last woken thread of the line has finished.
//!
//! The per-wake-up work is [`irq_thread_run_once`], a plain function: a runtime's
//! thread loops on it, and unit tests (whose fake platform runs no threads) call it
//! directly to play the thread.

use alloc::format;

use super::action::{IrqAction, Primary, ThreadPart};
use super::chip_state::unmask_threaded_irq;
use super::desc::IrqDesc;
use super::flags::{IrqReturn, IrqsState, ThreadFlags};
use crate::cpu::{HardIrq, Task};
use crate::sched::{Affinity, ThreadState};
use crate::sync::atomic::{spin_hint, Ordering};
use crate::IrqSystem;

/// The body of `irq/N-name`: wait for work, run it, until stopped.
pub(crate) fn irq_thread(sys: &IrqSystem, action: &IrqAction, task: &Task) {
    let Some(me) = sys.current_thread() else { return };
    action.test_and_set_thread_flag(ThreadFlags::READY);
    loop {
        // Sleep until woken with RUNTHREAD, or asked to stop (then run once more if
        // work is pending, as Linux does).
        loop {
            me.set_state(ThreadState::Sleeping);
            if action.thread_flag(ThreadFlags::RUNTHREAD) || me.should_stop() {
                me.set_state(ThreadState::Runnable);
                break;
            }
            sys.schedule();
        }
        if action.test_and_clear_thread_flag(ThreadFlags::AFFINITY) {
            if let Ok(desc) = sys.irq_to_desc(action.irq()) {
                let eff = desc.inner.lock_irqsave(sys).effective.get();
                if !eff.is_empty() {
                    me.set_affinity(Affinity::Unbound(eff));
                }
            }
        }
        let ran = irq_thread_run_once(sys, action, task);
        if me.should_stop() && !ran {
            break;
        }
    }
    action.thread_exiting.store(true, Ordering::Release);
    // irq_thread_dtor: a wake-up that raced with the stop must not leave the line stuck.
    if action.test_and_clear_thread_flag(ThreadFlags::RUNTHREAD) {
        if let Ok(desc) = sys.irq_to_desc(action.irq()) {
            sys.irq.log_line(
                sys,
                format!(
                    "exiting task \"irq/{}-{}\" is an active IRQ thread (irq {})",
                    action.irq(),
                    action.name(),
                    action.irq()
                ),
            );
            irq_thread_done(sys, desc, action, true);
        }
    }
}

/// One wake-up of an irq thread: if RUNTHREAD was set, run the threaded handler,
/// account the result, finalize ONESHOT, wake the forced secondary if asked, and drop
/// `threads_active`. Returns false if there was nothing to do.
pub fn irq_thread_run_once(sys: &IrqSystem, action: &IrqAction, task: &Task) -> bool {
    if !super::handle::thread_claim(action) {
        return false;
    }
    let Ok(desc) = sys.irq_to_desc(action.irq()) else { return true };
    let ret = match &action.thread_fn {
        Some(ThreadPart::Thread(f)) => f(task),
        Some(ThreadPart::Forced(h)) => {
            // Forced threading runs the hard handler with interrupts off (and, once
            // the bottom-half layer offers it, with bottom halves disabled).
            let flags = sys.local_irq_save();
            let ctx = HardIrq::entered();
            let r = h(&ctx);

            sys.local_irq_restore(flags);
            r
        }
        None => IrqReturn::NONE,
    };
    if ret == IrqReturn::HANDLED {
        desc.threads_handled.fetch_add(1, Ordering::AcqRel);
    }
    irq_finalize_oneshot(sys, desc, action);
    if ret == IrqReturn::WAKE_THREAD {
        if let Some(sec) = &action.secondary {
            super::handle::irq_wake_thread(sys, desc, sec);
        }
    }
    irq_thread_done(sys, desc, action, false);
    true
}

/// `wake_threads_waitq` (+ finalize when a thread exits with work pending).
pub(crate) fn irq_thread_done(sys: &IrqSystem, desc: &IrqDesc, action: &IrqAction, finalize: bool) {
    if finalize {
        irq_finalize_oneshot(sys, desc, action);
    }
    if super::handle::thread_release(&desc.threads_active) {
        sys.irq.wait_for_threads.wake_all(sys);
    }
}

/// `irq_finalize_oneshot`: clear this action's oneshot bit; unmask when it was the last.
pub(crate) fn irq_finalize_oneshot(sys: &IrqSystem, desc: &IrqDesc, action: &IrqAction) {
    loop {
        let g = desc.inner.lock_irqsave(sys);
        if !g.istate.contains(IrqsState::ONESHOT)
            || matches!(action.primary, Primary::SecondaryWarn)
        {
            return;
        }
        // The hard handler may be about to set our bit again; wait for it.
        if desc.in_progress() {
            drop(g);
            spin_hint();
            continue;
        }
        if action.thread_flag(ThreadFlags::RUNTHREAD) {
            return;
        }
        let mask = action.thread_mask.load(Ordering::Relaxed);
        let left = desc.threads_oneshot.fetch_and(!mask, Ordering::AcqRel) & !mask;
        if left == 0 && !desc.is_disabled() && desc.is_masked() {
            unmask_threaded_irq(desc, &g);
        }
        return;
    }
}

impl IrqSystem {
    /// Plays every woken irq thread of `irq` once (primary threads first, then forced
    /// secondaries); returns how many ran. For runtimes without real threads and tests.
    pub fn irq_thread_run_once(&self, irq: u32, task: &Task) -> usize {
        let Ok(desc) = self.irq_to_desc(irq) else { return 0 };
        let list = desc.inner.lock_irqsave(self).actions.clone();
        let mut n = 0;
        for a in list.iter().flat_map(|l| l.iter()) {
            n += irq_thread_run_once(self, a, task) as usize;
        }
        for a in list.iter().flat_map(|l| l.iter()) {
            if let Some(s) = &a.secondary {
                n += irq_thread_run_once(self, s, task) as usize;
            }
        }
        n
    }
}
