//! `AtomicHistogram`: a lock-free log-linear latency histogram, recordable from
//! hard-irq and NMI context (a locked histogram could deadlock against the task it
//! interrupted on the same CPU).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two: values are kept to within 1/8 (12.5 %).
const SUB: usize = 8;
const BUCKETS: usize = 64 * SUB;

/// A histogram of nanosecond values with 12.5 % resolution.
pub struct AtomicHistogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
    count: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let log = 63 - v.leading_zeros() as usize;
    let sub = ((v >> (log - 3)) & (SUB as u64 - 1)) as usize;
    (log - 2) * SUB + sub
}

fn upper_bound(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let log = i / SUB + 2;
    let sub = (i % SUB) as u64;
    ((SUB as u64 + sub + 1) << (log - 3)) - 1
}

impl AtomicHistogram {
    /// Records one value (ns). Lock-free, allocation-free.
    pub fn record(&self, v: u64) {
        self.buckets[index(v).min(BUCKETS - 1)].fetch_add(1, Relaxed);
        self.max.fetch_max(v, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The largest value recorded.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The value at quantile `q` (0..=1), as the upper bound of its bucket, capped at
    /// the maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return upper_bound(i).min(self.max());
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_eighth_and_ordered() {
        let h = AtomicHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let (p50, p90, p99) = (h.quantile(0.5), h.quantile(0.9), h.quantile(0.99));
        assert!((500_000..=500_000 * 9 / 8 + 1).contains(&p50), "{p50}");
        assert!(p90 >= 900_000 && p99 >= 990_000);
        assert!(p50 <= p90 && p90 <= p99 && p99 <= h.max());
        assert_eq!(h.max(), 1_000_000);
        for v in 0..100_000u64 {
            assert!(upper_bound(index(v)) >= v, "bucket of {v} ends below it");
        }
    }
}
