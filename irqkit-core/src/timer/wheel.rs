//! The timer wheel proper: levels of 64 buckets whose granularity grows 8× per level.
//!
//! Level `n` covers deltas up to `63 << 3n` jiffies with granularity `1 << 3n`; a timer
//! goes to the level whose range holds its delta and is rounded *up* to that level's
//! granularity, so it never fires early and fires at most one granule late — the
//! trade Linux made in 4.8 to drop cascading: enqueue, dequeue and expiry are O(1).
//! Nine levels cover about 12 days at HZ=1000; longer timeouts are clamped.
//!
//! Each bucket is a `Vec` of timers and each timer records its bucket and index, so
//! removal is a `swap_remove` (vectors keep their capacity: steady state allocates
//! nothing). One bit per bucket in `pending_map` says which buckets hold timers.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::TimerInner;
use crate::sync::atomic::Ordering;

/// log2 of the granularity step between levels (`LVL_CLK_SHIFT`).
pub const LVL_CLK_SHIFT: u32 = 3;
const LVL_CLK_DIV: u64 = 1 << LVL_CLK_SHIFT;
const LVL_CLK_MASK: u64 = LVL_CLK_DIV - 1;
/// Buckets per level (`LVL_SIZE`).
pub const LVL_SIZE: usize = 64;
const LVL_MASK: u64 = LVL_SIZE as u64 - 1;
/// Number of levels (`LVL_DEPTH` for HZ > 100).
pub const LVL_DEPTH: usize = 9;
/// Total buckets.
pub const WHEEL_SIZE: usize = LVL_SIZE * LVL_DEPTH;
/// The extra slot holding timers collected for the current expiry run: still pending
/// (so `del_timer` can take them back) but no longer in a bucket.
pub(crate) const SLOT_EXPIRING: u32 = WHEEL_SIZE as u32;
/// "Not queued".
pub(crate) const SLOT_NONE: u32 = u32::MAX;

#[inline]
const fn lvl_shift(n: usize) -> u32 {
    n as u32 * LVL_CLK_SHIFT
}
#[inline]
const fn lvl_gran(n: usize) -> u64 {
    1 << lvl_shift(n)
}
#[inline]
const fn lvl_start(n: usize) -> u64 {
    (LVL_SIZE as u64 - 1) << ((n as u32 - 1) * LVL_CLK_SHIFT)
}
const WHEEL_TIMEOUT_CUTOFF: u64 = lvl_start(LVL_DEPTH);
const WHEEL_TIMEOUT_MAX: u64 = WHEEL_TIMEOUT_CUTOFF - lvl_gran(LVL_DEPTH - 1);

/// `calc_index`: bucket of `expires` at `lvl`, rounded up; also its expiry.
#[inline]
fn calc_index(expires: u64, lvl: usize) -> (usize, u64) {
    let e = (expires >> lvl_shift(lvl)) + 1;
    (lvl * LVL_SIZE + (e & LVL_MASK) as usize, e << lvl_shift(lvl))
}

/// `calc_wheel_index`: the bucket for `expires` when the wheel clock is `clk`, and the
/// jiffy at which that bucket is collected.
#[inline]
pub fn calc_wheel_index(expires: u64, clk: u64) -> (usize, u64) {
    // 64-bit jiffies never wrap, so (unlike Linux's `long` arithmetic) "past" is a
    // plain comparison and a huge expiry means "far away", not "already due".
    if expires < clk {
        return ((clk & LVL_MASK) as usize, clk);
    }
    let delta = expires - clk;
    for lvl in 0..LVL_DEPTH - 1 {
        if delta < lvl_start(lvl + 1) {
            return calc_index(expires, lvl);
        }
    }
    let expires = if delta >= WHEEL_TIMEOUT_CUTOFF { clk + WHEEL_TIMEOUT_MAX } else { expires };
    calc_index(expires, LVL_DEPTH - 1)
}

/// One timer base (`struct timer_base`), always used under its lock.
pub(crate) struct TimerBase {
    /// The wheel clock: the next jiffy to collect.
    pub(crate) clk: u64,
    /// A lower bound of the earliest bucket expiry (exact after a recalculation).
    pub(crate) next_expiry: u64,
    pending_map: [u64; LVL_DEPTH],
    /// WHEEL_SIZE buckets, then the expiring list.
    buckets: Vec<Vec<Arc<TimerInner>>>,
    count: usize,
    /// Address of the timer whose callback runs now (`running_timer`), or 0.
    pub(crate) running: usize,
    /// The CPU went offline and `timers_dead_cpu` emptied this base: it takes no
    /// timer until `timers_prepare_cpu` (a timer queued here would never fire).
    pub(crate) dead: bool,
}

impl TimerBase {
    pub(crate) fn new() -> Self {
        TimerBase {
            clk: 0,
            next_expiry: u64::MAX,
            pending_map: [0; LVL_DEPTH],
            buckets: (0..=WHEEL_SIZE).map(|_| Vec::new()).collect(),
            count: 0,
            running: 0,
            dead: false,
        }
    }

    /// Number of queued timers (expiring ones included).
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// `forward_timer_base`: brings an idle clock close to `jiffies`, so a new timer's
    /// delta (and so its granularity) is measured from now.
    pub(crate) fn forward(&mut self, jiffies: u64) {
        if jiffies <= self.clk {
            return;
        }
        // A stale lower bound (after deletions) would pin the clock; make it exact.
        self.recalc_next_expiry();
        if self.next_expiry > jiffies {
            self.clk = jiffies;
        } else if self.next_expiry >= self.clk {
            self.clk = self.next_expiry;
        }
    }

    /// Queues `t` to expire at `expires` (`enqueue_timer`). `t` must not be queued.
    pub(crate) fn enqueue(&mut self, t: Arc<TimerInner>, expires: u64) {
        let (idx, bucket_expiry) = calc_wheel_index(expires, self.clk);
        t.expires.store(expires, Ordering::Relaxed);
        self.push_slot(t, idx as u32);
        self.pending_map[idx / LVL_SIZE] |= 1 << (idx % LVL_SIZE);
        if bucket_expiry < self.next_expiry {
            self.next_expiry = bucket_expiry;
        }
    }

    fn push_slot(&mut self, t: Arc<TimerInner>, slot: u32) {
        let b = &mut self.buckets[slot as usize];
        t.slot.store(slot, Ordering::Relaxed);
        t.pos.store(b.len() as u32, Ordering::Relaxed);
        b.push(t);
        self.count += 1;
    }

    /// Removes `t` if it is queued here (`detach_if_pending`); true if it was.
    pub(crate) fn detach(&mut self, t: &TimerInner) -> bool {
        let slot = t.slot.load(Ordering::Relaxed);
        if slot == SLOT_NONE {
            return false;
        }
        let pos = t.pos.load(Ordering::Relaxed) as usize;
        let b = &mut self.buckets[slot as usize];
        b.swap_remove(pos);
        if let Some(moved) = b.get(pos) {
            moved.pos.store(pos as u32, Ordering::Relaxed);
        }
        if b.is_empty() && slot != SLOT_EXPIRING {
            self.pending_map[slot as usize / LVL_SIZE] &= !(1 << (slot as usize % LVL_SIZE));
        }
        t.slot.store(SLOT_NONE, Ordering::Relaxed);
        self.count -= 1;
        true
    }

    /// `collect_expired_timers` for the current `clk`: moves every due bucket to the
    /// expiring list. Returns how many buckets were due.
    pub(crate) fn collect_expired(&mut self) -> usize {
        let mut clk = self.clk;
        let mut levels = 0;
        for lvl in 0..LVL_DEPTH {
            let idx = lvl * LVL_SIZE + (clk & LVL_MASK) as usize;
            let bit = 1u64 << (idx % LVL_SIZE);
            if self.pending_map[lvl] & bit != 0 {
                self.pending_map[lvl] &= !bit;
                let mut bucket = core::mem::take(&mut self.buckets[idx]);
                for t in bucket.drain(..) {
                    self.count -= 1;
                    self.push_slot(t, SLOT_EXPIRING);
                }
                // Give the (now empty) vector back so its capacity is reused.
                self.buckets[idx] = bucket;
                levels += 1;
            }
            if clk & LVL_CLK_MASK != 0 {
                break;
            }
            clk >>= LVL_CLK_SHIFT;
        }
        levels
    }

    /// Takes the next collected timer off the expiring list (newest-first order within
    /// a bucket, higher levels first, as Linux runs them).
    pub(crate) fn pop_expiring(&mut self) -> Option<Arc<TimerInner>> {
        let t = self.buckets[SLOT_EXPIRING as usize].pop()?;
        t.slot.store(SLOT_NONE, Ordering::Relaxed);
        self.count -= 1;
        Some(t)
    }

    /// Removes and returns every queued timer (expiring ones included), for moving a
    /// dead CPU's timers elsewhere.
    pub(crate) fn drain_all(&mut self) -> Vec<Arc<TimerInner>> {
        let mut all = Vec::with_capacity(self.count);
        for b in self.buckets.iter_mut() {
            for t in b.drain(..) {
                t.slot.store(SLOT_NONE, Ordering::Relaxed);
                all.push(t);
            }
        }
        self.pending_map = [0; LVL_DEPTH];
        self.count = 0;
        self.next_expiry = u64::MAX;
        all
    }

    /// Recomputes `next_expiry` exactly once it fell behind the clock.
    pub(crate) fn recalc_next_expiry(&mut self) {
        if self.next_expiry >= self.clk {
            return;
        }
        let queued = self.count - self.buckets[SLOT_EXPIRING as usize].len();
        self.next_expiry = if queued == 0 { u64::MAX } else { self.next_bucket_expiry() };
    }

    /// `__next_timer_interrupt`: the earliest bucket expiry at or after `clk`.
    pub(crate) fn next_bucket_expiry(&self) -> u64 {
        let mut clk = self.clk;
        let mut next = u64::MAX;
        for lvl in 0..LVL_DEPTH {
            let map = self.pending_map[lvl];
            let lvl_clk = clk & LVL_CLK_MASK;
            if map != 0 {
                // Bit k of the rotated map is the bucket k positions after clk's.
                let pos = map.rotate_right((clk & LVL_MASK) as u32).trailing_zeros() as u64;
                next = next.min((clk + pos) << lvl_shift(lvl));
                // Due before the next level's clock ticks: nothing further can be earlier.
                if pos <= (LVL_CLK_DIV - lvl_clk) & LVL_CLK_MASK {
                    break;
                }
            }
            clk = (clk >> LVL_CLK_SHIFT) + (lvl_clk != 0) as u64;
        }
        next
    }
}

#[cfg(all(test, not(loom)))]
#[path = "wheel_tests.rs"]
mod tests;
