//! Trace recording for `--trace`: slices (hard-irq handler, bottom half) appended from
//! any context to a bounded lock-free log, written out as a Chrome/Perfetto Trace Event
//! JSON file with one track per CPU (hard-irq) and per kernel thread (bottom halves).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use serde_json::{json, Value};

/// Kinds of slice.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SliceKind {
    /// A hard-irq handler on a CPU.
    HardIrq = 0,
    /// A bottom half (threaded handler, tasklet, irq_work).
    Bottom = 1,
}

/// One slice, packed into atomics so recording is lock-free.
struct Slot {
    start: AtomicU64,
    end: AtomicU64,
    /// kind (8 bits) | device (16 bits) | cpu (16 bits) | filled flag (bit 63)
    meta: AtomicU64,
}

/// A bounded, lock-free slice log: recording past capacity drops (and counts) slices.
pub struct TraceLog {
    slots: Box<[Slot]>,
    next: AtomicUsize,
    dropped: AtomicU64,
}

impl TraceLog {
    /// A log of at most `cap` slices.
    pub fn new(cap: usize) -> Self {
        TraceLog {
            slots: (0..cap)
                .map(|_| Slot {
                    start: AtomicU64::new(0),
                    end: AtomicU64::new(0),
                    meta: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Records a slice `[start, end)` ns of `kind` for device `dev` on `cpu`.
    pub fn record(&self, kind: SliceKind, dev: usize, cpu: u32, start: u64, end: u64) {
        let i = self.next.fetch_add(1, Relaxed);
        let Some(s) = self.slots.get(i) else {
            self.dropped.fetch_add(1, Relaxed);
            return;
        };
        s.start.store(start, Relaxed);
        s.end.store(end.max(start), Relaxed);
        let meta =
            (1 << 63) | (kind as u64) << 32 | ((dev as u64 & 0xffff) << 16) | (cpu as u64 & 0xffff);
        s.meta.store(meta, std::sync::atomic::Ordering::Release);
    }

    /// Slices that did not fit.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// The Trace Event JSON document: `X` slices, microsecond timestamps, one process,
    /// tracks named `CPU n (hard-irq)` and `<device> bottom half`.
    pub fn to_json(&self, device_names: &[String], nr_cpus: usize) -> Value {
        let mut events = Vec::new();
        for c in 0..nr_cpus {
            events.push(json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": c,
                "args": {"name": format!("CPU {c} (hard-irq)")}}));
        }
        // Bottom halves get a track per (device, CPU): one device's work item may run
        // on two CPUs at once (irq_work re-queued while running), never on one twice.
        let mut bh_tracks = std::collections::BTreeSet::new();
        let n = self.next.load(Relaxed).min(self.slots.len());
        for s in &self.slots[..n] {
            let meta = s.meta.load(std::sync::atomic::Ordering::Acquire);
            if meta >> 63 == 0 {
                continue;
            }
            let (kind, dev, cpu) = ((meta >> 32) & 0xff, (meta >> 16) & 0xffff, meta & 0xffff);
            let (start, end) = (s.start.load(Relaxed), s.end.load(Relaxed));
            let name = device_names.get(dev as usize).cloned().unwrap_or_default();
            let (tid, cat) = if kind == 0 {
                (cpu, "hardirq")
            } else {
                bh_tracks.insert((dev, cpu));
                (1000 + dev * 256 + cpu, "bottom_half")
            };
            events.push(json!({
                "name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
                "ts": start as f64 / 1000.0, "dur": (end - start) as f64 / 1000.0,
                "args": {"cpu": cpu},
            }));
        }
        for (dev, cpu) in bh_tracks {
            let name = device_names.get(dev as usize).cloned().unwrap_or_default();
            events.push(json!({"name": "thread_name", "ph": "M", "pid": 1,
                "tid": 1000 + dev * 256 + cpu,
                "args": {"name": format!("{name} bottom half (CPU {cpu})")}}));
        }
        json!({
            "traceEvents": events,
            "displayTimeUnit": "ns",
            "otherData": { "dropped_slices": self.dropped() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_counted_and_json_is_trace_event_format() {
        let t = TraceLog::new(2);
        t.record(SliceKind::HardIrq, 0, 1, 1000, 3000);
        t.record(SliceKind::Bottom, 0, 1, 3500, 9000);
        t.record(SliceKind::HardIrq, 0, 1, 10_000, 11_000);
        assert_eq!(t.dropped(), 1);
        let v = t.to_json(&["eth0".into()], 2);
        let ev = v["traceEvents"].as_array().unwrap();
        let x: Vec<_> = ev.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(x.len(), 2);
        assert_eq!(x[0]["ts"], 1.0);
        assert_eq!(x[0]["dur"], 2.0);
        assert_eq!(x[1]["tid"], 1001);
    }
}
