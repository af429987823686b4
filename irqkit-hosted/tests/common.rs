//! Helpers shared by the hosted machine's integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Spins (yielding) until `cond` holds; panics with `what` after a generous bound that
/// only a hang can exceed.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::yield_now();
    }
}
