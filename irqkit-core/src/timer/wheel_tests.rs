//! Unit and property tests of the wheel arithmetic against kernel/time/timer.c.

use super::*;
use crate::timer::Timer;
use proptest::prelude::*;

#[test]
fn level_ranges_match_kernel_time_timer_c() {
    assert_eq!(lvl_start(1), 63);
    assert_eq!(lvl_start(2), 504);
    assert_eq!(calc_wheel_index(10, 0), (11, 11));
    assert_eq!(calc_wheel_index(100, 0).0 / LVL_SIZE, 1);
    assert_eq!(calc_wheel_index(100, 0).1, 104);
    assert_eq!(calc_wheel_index(5, 10), (10, 10), "past timers go to clk's bucket");
    assert_eq!(calc_wheel_index(u64::MAX, 5).0 / LVL_SIZE, LVL_DEPTH - 1, "never is far");
    let far = calc_wheel_index(u64::MAX / 2, 0);
    assert_eq!(far.0 / LVL_SIZE, LVL_DEPTH - 1, "clamped to the last level");
}

proptest! {
    /// Every timer fires exactly once, never before its expiry and within one granule
    /// of its level, when the wheel is run by forwarding over empty jiffies.
    #[test]
    fn wheel_fires_each_timer_once_never_early(
        start in 0u64..1_000_000,
        deltas in proptest::collection::vec(0u64..300_000, 1..40),
    ) {
        let mut b = TimerBase::new();
        b.clk = start;
        let timers: Vec<_> = deltas.iter().map(|_| Timer::new(|_, _, _| {}).0).collect();
        for (t, d) in timers.iter().zip(&deltas) {
            b.enqueue(t.clone(), start + d);
        }
        prop_assert_eq!(b.next_expiry, b.next_bucket_expiry());
        let mut fired = alloc::vec![None; timers.len()];
        let mut guard = 0;
        while b.len() > 0 {
            guard += 1;
            prop_assert!(guard < 100_000);
            if b.clk < b.next_expiry { b.clk = b.next_expiry; }
            b.collect_expired();
            let now = b.clk;
            b.clk += 1;
            b.recalc_next_expiry();
            while let Some(t) = b.pop_expiring() {
                let i = timers.iter().position(|x| Arc::ptr_eq(x, &t)).unwrap();
                prop_assert!(fired[i].is_none(), "fired twice");
                fired[i] = Some(now);
            }
        }
        for (i, d) in deltas.iter().enumerate() {
            let at = fired[i].unwrap();
            let exp = start + d;
            prop_assert!(at >= exp, "early: {} < {}", at, exp);
            let gran = lvl_gran((0..LVL_DEPTH).find(|l| *d < lvl_start(l + 1)).unwrap_or(8));
            prop_assert!(at <= exp + gran, "late: {} > {} + {}", at, exp, gran);
        }
    }
}
