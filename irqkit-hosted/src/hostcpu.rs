//! `HostCpu`: the runtime side of one virtual CPU — pending vectors, kick and idle words.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::dead_report::DeadReport;
use crate::platform::HostThread;

/// Per-vector and per-event counts of one CPU. Only the CPU itself increments them.
pub(crate) struct CpuCounters {
    pub(crate) vectors: [AtomicU64; 256],
    pub(crate) nmis: AtomicU64,
    pub(crate) ticks: AtomicU64,
    pub(crate) spurious: AtomicU64,
    pub(crate) unhandled: AtomicU64,
    /// Idle entries that slept in the host futex.
    pub(crate) idle_sleeps: AtomicU64,
    /// Idle entries that polled before sleeping.
    pub(crate) idle_polls: AtomicU64,
    /// Idle polls that saw work or a reschedule before their bound ran out.
    pub(crate) idle_poll_hits: AtomicU64,
    /// Handoffs to this CPU that had to wake a thread asleep in its futex (incremented
    /// by the granting thread, so not owner-only).
    pub(crate) handoff_wakeups: AtomicU64,
}

impl CpuCounters {
    fn new() -> Self {
        CpuCounters {
            vectors: [const { AtomicU64::new(0) }; 256],
            nmis: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            spurious: AtomicU64::new(0),
            unhandled: AtomicU64::new(0),
            idle_sleeps: AtomicU64::new(0),
            idle_polls: AtomicU64::new(0),
            idle_poll_hits: AtomicU64::new(0),
            handoff_wakeups: AtomicU64::new(0),
        }
    }
}

/// Owner-only increment: a plain load and store, no locked instruction.
#[inline]
pub(crate) fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Delivery state of one virtual CPU.
///
/// # Invariants
///
/// A raiser sets the vector's bit in `pending` *before* it looks at `idle` or
/// `holder`, with a full fence between (Linux's `smp_mb()`), and the idle thread sets
/// `idle`, fences, then re-checks `pending`: so either the raiser sees the CPU idle and wakes it, or the idle thread
/// sees the bit. Whoever takes the CPU re-checks `pending` after the handoff, so a
/// signal that reached a thread which had just given the CPU away is never lost.
pub(crate) struct HostCpu {
    pub(crate) pending: [AtomicU64; 4],
    pub(crate) nmi_pending: AtomicU32,
    /// The idle thread is (about to be) asleep on `idle_seq`, or polling.
    pub(crate) idle: AtomicBool,
    /// The idle thread is polling `pending` (Linux's TIF_POLLING_NRFLAG): a raiser
    /// that sees it set after its fence needs neither the futex wake nor a signal.
    pub(crate) polling: AtomicBool,
    /// The idle thread was just switched to from another thread (set by the switch,
    /// taken by the next idle entry): only such an entry polls, so ticks on an idle
    /// CPU never start a poll.
    pub(crate) poll_armed: AtomicBool,
    pub(crate) idle_seq: AtomicU32,
    /// Bumped by each `cpu_down` before the CPU leaves the online mask.
    pub(crate) down_gen: AtomicU64,
    /// The idle thread's report that the CPU is dead in a `down_gen`
    /// (`cpuhp_report_idle_dead`), and the tasklets a `cpu_down` that returned before
    /// it left to that report.
    pub(crate) dead: DeadReport,
    /// Some host thread holds this CPU (checked in debug builds: one at a time).
    pub(crate) occupied: AtomicBool,
    /// The thread holding (or about to hold) this CPU. Points into the machine's
    /// registry of host threads, which lives as long as the machine.
    pub(crate) holder: AtomicPtr<HostThread>,
    pub(crate) counters: CpuCounters,
}

impl HostCpu {
    pub(crate) fn new() -> Self {
        HostCpu {
            pending: [const { AtomicU64::new(0) }; 4],
            nmi_pending: AtomicU32::new(0),
            idle: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            poll_armed: AtomicBool::new(false),
            idle_seq: AtomicU32::new(0),
            down_gen: AtomicU64::new(0),
            dead: DeadReport::new(),
            occupied: AtomicBool::new(false),
            holder: AtomicPtr::new(std::ptr::null_mut()),
            counters: CpuCounters::new(),
        }
    }

    /// True if a vector or an NMI waits for this CPU.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        self.nmi_pending.load(Ordering::SeqCst) != 0
            || self.pending.iter().any(|w| w.load(Ordering::SeqCst) != 0)
    }

    /// Clears vector `v` if it was pending; true if it was (its delivery is then the
    /// caller's).
    pub(crate) fn take_pending(&self, v: u8) -> bool {
        let bit = 1 << (v % 64);
        self.pending[v as usize / 64].fetch_and(!bit, Ordering::SeqCst) & bit != 0
    }

    /// Marks vector `v` pending.
    #[inline]
    pub(crate) fn set_pending(&self, v: u8) {
        self.pending[v as usize / 64].fetch_or(1 << (v % 64), Ordering::SeqCst);
        // Order the bit before the raiser's look at `idle`/`holder` (store buffering).
        core::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// loom models of the delivery handshakes above (the same orderings, on loom atomics).
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::SeqCst};
    use loom::sync::Arc;

    /// Raiser vs idle thread: either the raiser sees the CPU idle (and wakes it) or the
    /// idle thread sees the pending bit (and does not sleep). Never neither.
    #[test]
    fn raise_racing_idle_entry_never_loses_the_wakeup() {
        loom::model(|| {
            let pending = Arc::new(AtomicU64::new(0));
            let idle = Arc::new(AtomicBool::new(false));
            let (p, i) = (pending.clone(), idle.clone());
            let raiser = loom::thread::spawn(move || {
                p.fetch_or(1, SeqCst);
                fence(SeqCst);
                i.load(SeqCst)
            });
            idle.store(true, SeqCst);
            fence(SeqCst);
            let idle_saw_pending = pending.load(SeqCst) != 0;
            let raiser_saw_idle = raiser.join().unwrap();
            assert!(idle_saw_pending || raiser_saw_idle);
        });
    }

    /// Raiser vs polling idle: a raiser that sees the CPU polling skips the futex
    /// wake; the poller, after its poll ran out, clears `polling`, fences and looks
    /// again before it sleeps. So a bit it missed while polling is seen then, or the
    /// raiser saw `polling` clear and woke it. Never neither.
    #[test]
    fn raise_racing_the_end_of_an_idle_poll_never_loses_the_wakeup() {
        loom::model(|| {
            let pending = Arc::new(AtomicU64::new(0));
            let idle = Arc::new(AtomicBool::new(false));
            let polling = Arc::new(AtomicBool::new(false));
            let (p, i, pl) = (pending.clone(), idle.clone(), polling.clone());
            let raiser = loom::thread::spawn(move || {
                p.fetch_or(1, SeqCst);
                fence(SeqCst);
                // true: it woke the futex.
                !pl.load(SeqCst) && i.load(SeqCst)
            });
            idle.store(true, SeqCst);
            polling.store(true, SeqCst);
            fence(SeqCst);
            // One round of the poll, then its bound runs out.
            let mut saw = pending.load(SeqCst) != 0;
            polling.store(false, SeqCst);
            fence(SeqCst);
            saw |= pending.load(SeqCst) != 0;
            let woke = raiser.join().unwrap();
            assert!(saw || woke);
        });
    }

    /// Raiser vs CPU handoff: a raiser that signals the old holder (read before the
    /// handoff published the new one) set its bit early enough for the new holder's
    /// re-check after the handoff to see it.
    #[test]
    fn raise_racing_handoff_is_seen_by_the_new_holder_or_signals_it() {
        loom::model(|| {
            let pending = Arc::new(AtomicU64::new(0));
            let holder = Arc::new(AtomicU64::new(1));
            let (p, h) = (pending.clone(), holder.clone());
            let raiser = loom::thread::spawn(move || {
                p.fetch_or(1, SeqCst);
                fence(SeqCst);
                h.load(SeqCst)
            });
            holder.store(2, SeqCst);
            fence(SeqCst);
            let new_holder_saw = pending.load(SeqCst) != 0;
            let signalled = raiser.join().unwrap();
            // Signalled the new holder (it handles it) or the new holder saw the bit.
            assert!(signalled == 2 || new_holder_saw);
        });
    }
}
