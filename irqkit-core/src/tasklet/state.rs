//! The tasklet state word and its transitions (kernel/softirq.c, on raw atomics so the
//! loom model checks exactly this code).

use crate::sync::atomic::{AtomicU64, Ordering};

/// Queued, waiting to run (`TASKLET_STATE_SCHED`).
pub const TASKLET_STATE_SCHED: u32 = 1 << 0;
/// The callback is executing on some CPU (`TASKLET_STATE_RUN`).
pub const TASKLET_STATE_RUN: u32 = 1 << 1;
/// The disable depth lives above the two state bits, in the same word (Linux keeps a
/// separate `count`): one RMW then tells the action both "running elsewhere" and
/// "disabled", and coherence of a single location orders it against `disable`. The
/// high 32 bits count the tasklet's handles ([`crate::sync::counted`]).
pub(crate) const COUNT_SHIFT: u32 = 2;
const COUNT_ONE: u64 = 1 << COUNT_SHIFT;
/// The disable depth's bits.
pub(crate) const COUNT_MASK: u64 = 0xffff_ffff & !(STATE_BITS as u64);
pub(crate) const STATE_BITS: u32 = TASKLET_STATE_SCHED | TASKLET_STATE_RUN;
const SCHED: u64 = TASKLET_STATE_SCHED as u64;
const RUN: u64 = TASKLET_STATE_RUN as u64;
/// The tasklet's own bits: state and disable depth, without the handle count.
const LOW: u64 = 0xffff_ffff;

/// The outcome of offering one listed tasklet to the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The callback ran; the word RUN was cleared from.
    Ran(u64),
    /// Running elsewhere or disabled: put it back and re-raise.
    Requeue,
    /// Listed without SCHED (a bug Linux WARNs about): dropped without a call; the
    /// word RUN was cleared from.
    SchedNotSet(u64),
}

/// The per-tasklet step of `tasklet_action_common`, on the raw state word so the loom
/// model checks exactly this code.
#[inline]
pub(crate) fn action_step(state: &AtomicU64, call: impl FnOnce()) -> Step {
    // Fast path: scheduled, enabled and idle — trylock, the disable check and clearing
    // SCHED in one CAS (Linux's three steps, done atomically). The handle count in the
    // high half rides along unchanged.
    let cur = state.load(Ordering::Relaxed);
    if cur & LOW == SCHED
        && state
            .compare_exchange(cur, cur ^ (SCHED | RUN), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        call();
        // We set RUN, so subtracting it clears it: one `lock xadd`, where a fetch_and
        // whose result is used compiles to a cmpxchg loop on x86.
        return Step::Ran(state.fetch_sub(RUN, Ordering::AcqRel));
    }
    // tasklet_trylock: set RUN. The old word also says whether it is disabled.
    let old = state.fetch_or(RUN, Ordering::Acquire);
    if old & RUN != 0 {
        return Step::Requeue;
    }
    if old & COUNT_MASK != 0 {
        state.fetch_and(!RUN, Ordering::Release);
        return Step::Requeue;
    }
    // Clear SCHED before the call: a schedule from now on queues it again.
    let ran = state.fetch_and(!SCHED, Ordering::AcqRel) & SCHED != 0;
    if ran {
        call();
    }
    let old = state.fetch_sub(RUN, Ordering::AcqRel); // we set RUN: clears it
    if ran {
        Step::Ran(old)
    } else {
        Step::SchedNotSet(old)
    }
}

/// `tasklet_disable_nosync` on the raw word: one more level of disable depth.
#[inline]
pub(crate) fn disable_nosync(state: &AtomicU64) {
    state.fetch_add(COUNT_ONE, Ordering::AcqRel);
}

/// `tasklet_enable` on the raw word: one level less; `false` (nothing changed) if the
/// depth was already 0.
#[inline]
pub(crate) fn enable(state: &AtomicU64) -> bool {
    state
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            (s & COUNT_MASK != 0).then(|| s - COUNT_ONE)
        })
        .is_ok()
}

/// The disable depth in a raw word.
#[inline]
pub(crate) fn disable_depth(word: u64) -> u32 {
    ((word & COUNT_MASK) >> COUNT_SHIFT) as u32
}

/// `test_and_set_bit(TASKLET_STATE_SCHED)`: true if this caller made it scheduled.
#[inline]
pub(crate) fn sched_claim(state: &AtomicU64) -> bool {
    state.fetch_or(SCHED, Ordering::AcqRel) & SCHED == 0
}
