//! The tasklet state word and its transitions (kernel/softirq.c, on raw atomics so the
//! loom model checks exactly this code).

use crate::sync::atomic::{AtomicU32, Ordering};

/// Queued, waiting to run (`TASKLET_STATE_SCHED`).
pub const TASKLET_STATE_SCHED: u32 = 1 << 0;
/// The callback is executing on some CPU (`TASKLET_STATE_RUN`).
pub const TASKLET_STATE_RUN: u32 = 1 << 1;
/// The disable depth lives above the two state bits, in the same word (Linux keeps a
/// separate `count`): one RMW then tells the action both "running elsewhere" and
/// "disabled", and coherence of a single location orders it against `disable`.
pub(crate) const COUNT_SHIFT: u32 = 2;
const COUNT_ONE: u32 = 1 << COUNT_SHIFT;
pub(crate) const STATE_BITS: u32 = TASKLET_STATE_SCHED | TASKLET_STATE_RUN;

/// The outcome of offering one listed tasklet to the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The callback ran.
    Ran,
    /// Running elsewhere or disabled: put it back and re-raise.
    Requeue,
    /// Listed without SCHED (a bug Linux WARNs about): dropped without a call.
    SchedNotSet,
}

/// The per-tasklet step of `tasklet_action_common`, on the raw state word so the loom
/// model checks exactly this code.
#[inline]
pub(crate) fn action_step(state: &AtomicU32, call: impl FnOnce()) -> Step {
    // Fast path: scheduled, enabled and idle — trylock, the disable check and clearing
    // SCHED in one CAS (Linux's three steps, done atomically).
    if state
        .compare_exchange(
            TASKLET_STATE_SCHED,
            TASKLET_STATE_RUN,
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_ok()
    {
        call();
        state.fetch_and(!TASKLET_STATE_RUN, Ordering::Release);
        return Step::Ran;
    }
    // tasklet_trylock: set RUN. The old word also says whether it is disabled.
    let old = state.fetch_or(TASKLET_STATE_RUN, Ordering::Acquire);
    if old & TASKLET_STATE_RUN != 0 {
        return Step::Requeue;
    }
    if old >> COUNT_SHIFT != 0 {
        state.fetch_and(!TASKLET_STATE_RUN, Ordering::Release);
        return Step::Requeue;
    }
    // Clear SCHED before the call: a schedule from now on queues it again.
    let step = if state.fetch_and(!TASKLET_STATE_SCHED, Ordering::AcqRel) & TASKLET_STATE_SCHED != 0
    {
        call();
        Step::Ran
    } else {
        Step::SchedNotSet
    };
    state.fetch_and(!TASKLET_STATE_RUN, Ordering::Release);
    step
}

/// `tasklet_disable_nosync` on the raw word: one more level of disable depth.
#[inline]
pub(crate) fn disable_nosync(state: &AtomicU32) {
    state.fetch_add(COUNT_ONE, Ordering::AcqRel);
}

/// `tasklet_enable` on the raw word: one level less; `false` (nothing changed) if the
/// depth was already 0.
#[inline]
pub(crate) fn enable(state: &AtomicU32) -> bool {
    state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| s.checked_sub(COUNT_ONE)).is_ok()
}

/// `test_and_set_bit(TASKLET_STATE_SCHED)`: true if this caller made it scheduled.
#[inline]
pub(crate) fn sched_claim(state: &AtomicU32) -> bool {
    state.fetch_or(TASKLET_STATE_SCHED, Ordering::AcqRel) & TASKLET_STATE_SCHED == 0
}
