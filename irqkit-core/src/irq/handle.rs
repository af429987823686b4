//! `handle_irq_event` and action invocation (kernel/irq/handle.c, spec 1.5).
//!
//! The flow handler calls [`handle_irq_event`] with the descriptor lock held: it clears
//! PENDING, sets INPROGRESS, drops the lock, runs every action in registration order
//! (OR-ing their results, waking threads on WAKE_THREAD), retakes the lock, feeds the
//! result to the spurious detector and clears INPROGRESS. INPROGRESS is what
//! `synchronize_irq` and `free_irq` wait on, so a handler never runs after its free
//! returned.
//!
//! The action list is read through an uncounted borrow (`action_list.rs`) rather than
//! an `Arc` clone: the borrow count lives under the lock the flow holds anyway, so the
//! hot path pays no atomic read-modify-write for it.

use alloc::format;

use super::action::IrqAction;
use super::desc::{DescInner, IrqDesc};
use super::flags::{IrqReturn, IrqSettings, IrqdState, IrqsState, ThreadFlags};
use crate::cpu::{CpuState, HardIrq};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::SpinLockIrqGuard;
use crate::IrqSystem;
use alloc::sync::Arc;

/// The descriptor lock guard flow handlers pass around.
pub(crate) type DescGuard<'a> = SpinLockIrqGuard<'a, DescInner>;

/// A descriptor guard that stays at one address while a flow drops and retakes the
/// lock (`None` while unlocked).
///
/// Why not pass the guard by value: its drop is out of line, so it lives in memory,
/// and each move copies it with wider loads than the stores that built it — a
/// store-forwarding stall per move, which made up about a third of the dispatch cost.
pub(crate) type DescSlot<'a> = Option<DescGuard<'a>>;

/// `handle_irq_event`: runs the actions with the lock dropped; returns the retaken guard.
/// `this_cpu` is the caller's CPU as the flow's kstat step found it.
#[inline(always)]
pub(crate) fn handle_irq_event<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
    this_cpu: Option<&CpuState>,
) -> DescGuard<'a> {
    let mut slot = Some(g);
    handle_irq_event_in_place(sys, desc, &mut slot, ctx, this_cpu);
    match slot {
        Some(g) => g,
        // Unreachable: the in-place version always leaves the lock retaken.
        None => desc.inner.lock_hardirq(sys, ctx),
    }
}

/// [`handle_irq_event`] on a guard slot: `slot` holds the lock on entry and on return.
#[inline(always)]
pub(crate) fn handle_irq_event_in_place<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    slot: &mut DescSlot<'a>,
    ctx: &HardIrq,
    this_cpu: Option<&CpuState>,
) {
    let Some(g) = slot.as_mut() else { return };
    g.istate.remove(IrqsState::PENDING);
    desc.irqd_set(IrqdState::IRQ_INPROGRESS);
    let borrow = g.borrow_actions();
    *slot = None;
    let ret = match &borrow {
        Some(b) => handle_irq_event_percpu(sys, desc, b.actions(), ctx, this_cpu),
        None => IrqReturn::NONE,
    };
    let g = slot.insert(desc.inner.lock_hardirq(sys, ctx));
    if let Some(b) = borrow {
        g.end_borrow(b);
    }
    if !g.settings.contains(IrqSettings::NO_DEBUG) {
        super::spurious::note_interrupt(sys, desc, g, ret);
    }
    desc.irqd_clear(IrqdState::IRQ_INPROGRESS);
}

/// `__handle_irq_event_percpu`: every action in order; results OR-ed.
#[inline(always)]
pub(crate) fn handle_irq_event_percpu(
    sys: &IrqSystem,
    desc: &IrqDesc,
    actions: &[Arc<IrqAction>],
    ctx: &HardIrq,
    this_cpu: Option<&CpuState>,
) -> IrqReturn {
    let mut ret = IrqReturn::NONE;
    let guard = sys.irq.guard();
    for action in actions.iter() {
        let r = call_action_guarded(sys, guard, action, ctx);
        if let Some(cpu) = this_cpu {
            if !cpu.irqs_disabled() {
                // A handler must not re-enable interrupts; Linux WARNs once and disables.
                sys.irq.log_line(
                    sys,
                    format!("irq {} handler {} enabled interrupts", desc.irq(), action.name()),
                );
                sys.local_irq_disable();
            }
        }
        if r == IrqReturn::WAKE_THREAD {
            if action.thread_fn.is_none() {
                if !action.warned_no_thread.swap(true, Ordering::Relaxed) {
                    sys.irq.log_line(
                        sys,
                        format!(
                            "IRQ {} device {} returned IRQ_WAKE_THREAD but no thread function available.",
                            desc.irq(),
                            action.name()
                        ),
                    );
                }
            } else {
                irq_wake_thread(sys, desc, action);
            }
        }
        ret |= r;
    }
    ret
}

/// Runs one primary handler, through the runtime's panic guard if installed.
#[inline]
pub(crate) fn call_action(sys: &IrqSystem, action: &IrqAction, ctx: &HardIrq) -> IrqReturn {
    call_action_guarded(sys, sys.irq.guard(), action, ctx)
}

/// [`call_action`] with the guard looked up once per interrupt by the caller.
#[inline(always)]
fn call_action_guarded(
    sys: &IrqSystem,
    guard: Option<super::HandlerGuard>,
    action: &IrqAction,
    ctx: &HardIrq,
) -> IrqReturn {
    if action.broken.load(Ordering::Relaxed) {
        return IrqReturn::NONE;
    }
    match guard {
        None => action.call_primary(ctx),
        Some(guard) => match guard(&mut || action.call_primary(ctx)) {
            Ok(r) => r,
            Err(()) => {
                action.broken.store(true, Ordering::Relaxed);
                sys.irq.log_line(
                    sys,
                    format!(
                        "irq {}: handler {} panicked; action disabled",
                        action.irq(),
                        action.name()
                    ),
                );
                IrqReturn::NONE
            }
        },
    }
}

/// `__irq_wake_thread`: set RUNTHREAD (coalescing), account, wake the thread.
pub(crate) fn irq_wake_thread(sys: &IrqSystem, desc: &IrqDesc, action: &IrqAction) {
    if action.thread_exiting.load(Ordering::Acquire) {
        return;
    }
    if !wake_claim(action, &desc.threads_active) {
        return;
    }
    // Serialised with the thread's clear by INPROGRESS (it waits for us to finish).
    desc.threads_oneshot.fetch_or(action.thread_mask.load(Ordering::Relaxed), Ordering::AcqRel);
    if let Some(t) = action.thread() {
        sys.wake_up_process(t);
    }
}

/// The lock-free half of `__irq_wake_thread`: true if this wake-up set RUNTHREAD and
/// the thread must be woken; false if it coalesced with a pending one.
///
/// `threads_active` is raised *before* RUNTHREAD is published, so the thread's
/// matching decrement ([`thread_release`]) can never run first and underflow — which
/// would let `synchronize_irq` miss its wake-up. A coalesced wake-up takes its
/// increment back; the pending one still holds 1, so that never reaches 0.
#[inline]
pub(crate) fn wake_claim(action: &IrqAction, threads_active: &AtomicU32) -> bool {
    threads_active.fetch_add(1, Ordering::AcqRel);
    if action.test_and_set_thread_flag(ThreadFlags::RUNTHREAD) {
        threads_active.fetch_sub(1, Ordering::AcqRel);
        return false;
    }
    true
}

/// The thread's side: consume one wake-up (test-and-clear RUNTHREAD).
#[inline]
pub(crate) fn thread_claim(action: &IrqAction) -> bool {
    action.test_and_clear_thread_flag(ThreadFlags::RUNTHREAD)
}

/// Ends one consumed wake-up; true if `threads_active` reached 0 (wake waiters).
#[inline]
pub(crate) fn thread_release(threads_active: &AtomicU32) -> bool {
    let prev = threads_active.fetch_sub(1, Ordering::AcqRel);
    debug_assert!(prev > 0, "threads_active underflow");
    prev == 1
}
