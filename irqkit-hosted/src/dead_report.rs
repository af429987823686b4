//! The hand-over between `cpu_down` and a CPU's idle thread when the CPU dies after
//! `cpu_down` returned (`cpuhp_report_idle_dead`, late).
//!
//! `cpu_down` normally waits until the idle thread reports the CPU dead, then takes
//! its tasklets over. When a thread preempted at interrupt exit inside a per-CPU
//! access keeps running there (it may not move, `hotplug.rs`), `cpu_down` returns first and leaves the tasklets
//! due; the idle thread hands them over when it reports dead. The two sides race:
//! the report may land just after `cpu_down` looked. Each side writes its own word,
//! then looks at the other's with a SeqCst fence between (a write then a read of
//! another location: the pattern weaker orderings lose), and a compare-exchange of
//! the due word makes exactly one side do the takeover. `loom_model` below checks
//! that, and fails without the fences. The writes are swaps, not stores: loom 0.7
//! reports outcomes no C++ execution allows for a plain store racing another
//! thread's read-modify-write across SeqCst fences, and on this cold path a swap
//! costs nothing that matters.

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// One CPU's dead report and the tasklets left due by a `cpu_down` that returned
/// before it (both keyed by that `cpu_down`'s generation, never 0).
pub(crate) struct DeadReport {
    /// The generation the idle thread last saw as it entered the dead state, where
    /// nothing runs and no interrupt is taken.
    dead_gen: AtomicU64,
    /// The generation whose `cpu_down` returned before the CPU was dead.
    tasklets_due: AtomicU64,
}

impl DeadReport {
    /// No report, nothing due.
    pub(crate) fn new() -> Self {
        DeadReport { dead_gen: AtomicU64::new(0), tasklets_due: AtomicU64::new(0) }
    }

    /// Whether the idle thread reported the CPU dead in generation `gen`.
    pub(crate) fn is_dead(&self, gen: u64) -> bool {
        self.dead_gen.load(Ordering::Acquire) == gen
    }

    /// The idle thread: the CPU is dead in generation `gen`. True if this side must
    /// hand the tasklets over (their `cpu_down` returned before this report).
    pub(crate) fn report_dead(&self, gen: u64) -> bool {
        self.dead_gen.swap(gen, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        gen != 0 && self.take(gen)
    }

    /// `cpu_down`, returning before the CPU was dead in generation `gen`: leaves the
    /// tasklets to the report. True if the report came in meanwhile and so this side
    /// must take them over itself.
    pub(crate) fn leave_tasklets(&self, gen: u64) -> bool {
        self.tasklets_due.swap(gen, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        self.is_dead(gen) && self.take(gen)
    }

    /// Clears the due word if it still names `gen`; true for the one caller that did.
    /// A compare, not a swap: a report of an older generation must leave this
    /// generation's word for its own report.
    fn take(&self, gen: u64) -> bool {
        self.tasklets_due.compare_exchange(gen, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;

    // cpu_down leaving the tasklets races the idle thread's report of the same
    // generation: exactly one of them takes the tasklets over.
    #[test]
    fn a_late_death_hands_the_tasklets_over_exactly_once() {
        loom::model(|| {
            let r = Arc::new(DeadReport::new());
            let r2 = r.clone();
            let idle = loom::thread::spawn(move || r2.report_dead(1));
            let down = r.leave_tasklets(1);
            let reported = idle.join().unwrap();
            assert!(
                down ^ reported,
                "taken over by both or by neither: down {down} reported {reported}"
            );
        });
    }

    // A report of an older generation (the idle thread read the generation before
    // this cpu_down bumped it) neither takes this generation's tasklets nor lets
    // cpu_down take them: the report of the current generation still comes.
    #[test]
    fn a_stale_report_leaves_the_tasklets_to_the_current_one() {
        loom::model(|| {
            let r = Arc::new(DeadReport::new());
            let r2 = r.clone();
            let idle = loom::thread::spawn(move || {
                let stale = r2.report_dead(1);
                let current = r2.report_dead(2);
                (stale, current)
            });
            let down = r.leave_tasklets(2);
            let (stale, current) = idle.join().unwrap();
            assert!(!stale, "a stale report took the tasklets");
            assert!(down ^ current, "taken over by both or by neither");
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_report_before_cpu_down_looks_makes_cpu_down_take_over() {
        let r = DeadReport::new();
        assert!(!r.report_dead(3), "nothing was due yet");
        assert!(r.is_dead(3));
        assert!(r.leave_tasklets(3));
        // Taken: a repeated report of the same generation finds nothing due.
        assert!(!r.report_dead(3));
    }

    #[test]
    fn a_report_after_cpu_down_returned_hands_over_once() {
        let r = DeadReport::new();
        assert!(!r.leave_tasklets(4));
        assert!(!r.is_dead(4));
        assert!(r.report_dead(4));
        assert!(!r.report_dead(4), "handed over twice");
    }
}
