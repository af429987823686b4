//! Per-device runtime state: counters and latency histograms, and the handlers that
//! fill them (hard-irq part, bottom half).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use irqkit_core::IrqSystem;

use super::trace::{SliceKind, TraceLog};
use std::time::{Duration, Instant};

use super::histogram::AtomicHistogram;
use super::model::DeviceSpec;

/// Counters and latencies of one device.
#[derive(Default)]
pub struct DeviceStats {
    /// Raise timestamp (ns) of the oldest raise not yet seen by the hard handler.
    pub pending_ts: AtomicU64,
    /// Hard-irq exit timestamp (ns) awaiting the bottom half.
    pub bh_ts: AtomicU64,
    /// Raises attempted.
    pub raised: AtomicU64,
    /// Packets in the device's receive ring not yet taken by a handler: every raise
    /// is a packet, even when its interrupt coalesces with a pending one.
    pub ring: AtomicU64,
    /// Raises that found an earlier one still pending (coalesced, as in an IRR).
    pub coalesced: AtomicU64,
    /// Raises dropped because the device side fell behind its schedule.
    pub dropped: AtomicU64,
    /// Raises that started a new pending interrupt.
    pub started: AtomicU64,
    /// Hard-handler runs that consumed a pending raise.
    pub consumed: AtomicU64,
    /// Hard-handler runs that found nothing pending.
    pub spurious: AtomicU64,
    /// Bottom-half runs that consumed a hard-irq exit.
    pub bh_runs: AtomicU64,
    /// Tasklet, work and irq_work queueings that were new (`schedule` returned true):
    /// each must be matched by exactly one run.
    pub bh_queued: AtomicU64,
    /// Raise → hard-irq entry.
    pub lat_entry: AtomicHistogram,
    /// Hard-irq exit → bottom-half start.
    pub lat_bh: AtomicHistogram,
    /// Where `--trace` slices go, and this device's index there.
    pub trace: Option<(Arc<TraceLog>, usize)>,
}

/// Busy-waits `us` microseconds: the simulated handler cost.
pub fn spin_us(us: f64) {
    if us <= 0.0 {
        return;
    }
    let end = Instant::now() + Duration::from_secs_f64(us / 1e6);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

impl DeviceStats {
    /// Device side: a raise at `now`.
    pub fn note_raise(&self, now: u64) {
        self.raised.fetch_add(1, SeqCst);
        self.ring.fetch_add(1, SeqCst);
        if self.pending_ts.compare_exchange(0, now.max(1), SeqCst, SeqCst).is_ok() {
            self.started.fetch_add(1, SeqCst);
        } else {
            self.coalesced.fetch_add(1, SeqCst);
        }
    }

    /// Hard-irq entry at `now`.
    pub fn note_entry(&self, now: u64) {
        match self.pending_ts.swap(0, SeqCst) {
            0 => {
                self.spurious.fetch_add(1, SeqCst);
            }
            ts => {
                self.lat_entry.record(now.saturating_sub(ts));
                self.consumed.fetch_add(1, SeqCst);
            }
        }
    }

    /// Hard-irq exit at `now`, handing over to the bottom half.
    pub fn note_handoff(&self, now: u64) {
        let _ = self.bh_ts.compare_exchange(0, now.max(1), SeqCst, SeqCst);
    }

    /// A bottom-half run: latency from the hard-irq exit, the simulated work, and a
    /// trace slice.
    pub fn note_bottom(&self, sys: &IrqSystem, spec: &DeviceSpec) {
        let now = sys.now_ns();
        let ts = self.bh_ts.swap(0, SeqCst);
        if ts != 0 {
            self.lat_bh.record(now.saturating_sub(ts));
        }
        spin_us(spec.bottom_cost_us);
        self.bh_runs.fetch_add(1, SeqCst);
        self.slice(sys, SliceKind::Bottom, now);
    }

    /// Records a trace slice from `start` to now, if tracing.
    pub fn slice(&self, sys: &IrqSystem, kind: SliceKind, start: u64) {
        if let Some((log, idx)) = &self.trace {
            let cpu = sys.current_cpu().map_or(0, |c| c.0);
            log.record(kind, *idx, cpu, start, sys.now_ns());
        }
    }

    /// Notes a queueing result of a tasklet/work/irq_work (`Ok(true)` = newly queued).
    pub fn note_queued<E>(&self, r: Result<bool, E>) {
        if matches!(r, Ok(true)) {
            self.bh_queued.fetch_add(1, SeqCst);
        }
    }

    /// The driver read the device and so serviced a raise whose interrupt was not yet
    /// taken (a level line): count that raise as coalesced rather than pending.
    pub fn absorb_pending(&self) {
        if self.pending_ts.swap(0, SeqCst) != 0 {
            self.started.fetch_sub(1, SeqCst);
            self.coalesced.fetch_add(1, SeqCst);
        }
    }

    /// Raises that started an interrupt but whose handler never ran.
    pub fn lost(&self) -> u64 {
        self.started.load(SeqCst).saturating_sub(self.consumed.load(SeqCst))
    }
}
