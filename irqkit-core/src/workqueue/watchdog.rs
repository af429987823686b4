//! The workqueue lockup detector (`CONFIG_WQ_WATCHDOG`, kernel/workqueue.c
//! `wq_watchdog_timer_fn`): a pool whose worklist has waited longer than
//! `workqueue.watchdog_thresh` without starting a work is reported, with a dump of
//! every workqueue.
//!
//! Each pool keeps `watchdog_ts`, the jiffy at which its worklist last became
//! non-empty or a worker last started a batch of works (Linux's two touch points). A
//! deferrable timer checks every pool at a quarter of the threshold. Departure: no
//! per-CPU touch from the soft-lockup detector (irqkit has none), only the global
//! touch when the threshold is set.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use super::pool::{Item, Pool, PoolInner};
use crate::sync::atomic::Ordering;
use crate::timer::{Timer, TIMER_DEFERRABLE};
use crate::IrqSystem;

/// `workqueue.watchdog_thresh` default: 30 seconds.
pub const WQ_WATCHDOG_THRESH_MS: u64 = 30_000;

/// Linux's pool flag bits as `pr_cont_pool_info` prints them.
const POOL_BH: u32 = 1 << 0;
const POOL_MANAGER_ACTIVE: u32 = 1 << 1;
const POOL_DISASSOCIATED: u32 = 1 << 2;

/// Appends an active work to a pool's worklist; the first one of an empty worklist
/// restarts the pool's watchdog clock (`__queue_work`, `__pwq_activate_work`). Takes
/// the two fields, not the pool, so a caller holding a pwq borrow can use it.
pub(crate) fn worklist_push(
    worklist: &mut VecDeque<Item>,
    watchdog_ts: &mut u64,
    sys: &IrqSystem,
    item: Item,
) {
    if worklist.is_empty() {
        *watchdog_ts = sys.jiffies();
    }
    worklist.push_back(item);
}

/// The watchdog's timer (deferrable, as Linux's).
pub(crate) fn watchdog_timer() -> Timer {
    Timer::with_flags(TIMER_DEFERRABLE, |sys, t, _ctx| wq_watchdog_timer_fn(sys, t))
}

/// One check of every pool, then the re-arm.
fn wq_watchdog_timer_fn(sys: &IrqSystem, t: &Timer) {
    let thresh_ms = sys.wq.watchdog_thresh_ms.load(Ordering::Relaxed);
    if thresh_ms == 0 {
        return;
    }
    let thresh = sys.msecs_to_jiffies(thresh_ms).max(1);
    let now = sys.jiffies();
    let touched = sys.wq.watchdog_touched.load(Ordering::Relaxed);
    let mut lockup = false;
    for pool in sys.wq.all_pools(sys) {
        let g = pool.lock(sys);
        if g.worklist.is_empty() {
            continue;
        }
        // The later of the pool's progress and the global touch.
        let ts = g.watchdog_ts.max(touched);
        if now.wrapping_sub(ts) as i64 <= thresh as i64 {
            continue;
        }
        let info = pool_info(&pool, &g);
        // Counted under the lock: whoever sees the worklist move on afterwards also
        // sees this report counted.
        sys.wq.lockups.fetch_add(1, Ordering::Relaxed);
        drop(g);
        lockup = true;
        let secs = sys.jiffies_to_msecs(now.wrapping_sub(ts)) / 1000;
        sys.wq.log(sys, format!("BUG: workqueue lockup - pool {info} stuck for {secs}s!"));
    }
    if lockup {
        // show_all_workqueues
        for line in sys.wq_dump().lines() {
            sys.wq.log(sys, String::from(line));
        }
    }
    t.modify(sys, sys.jiffies() + (thresh / 4).max(1));
}

/// `pr_cont_pool_info`: `"cpus=<list> node=<n> flags=0x<f> nice=<n>"`.
fn pool_info(pool: &Pool, g: &PoolInner) -> String {
    let mut flags = 0;
    if g.bh.is_some() {
        flags |= POOL_BH;
    }
    if g.manager_active {
        flags |= POOL_MANAGER_ACTIVE;
    }
    if g.disassociated {
        flags |= POOL_DISASSOCIATED;
    }
    let mut s = String::new();
    let cpus = match pool.cpu {
        Some(c) => format!("{}", c.0),
        None => pool.pod.to_list_string(),
    };
    let _ = write!(s, "cpus={cpus} node=0 flags={flags:#x} nice={}", pool.nice());
    s
}

impl IrqSystem {
    /// `workqueue.watchdog_thresh` in milliseconds (Linux: seconds, default 30;
    /// 0 disables the detector). Setting it counts as progress for every pool and
    /// (re)starts the check timer once the workqueues are initialised.
    pub fn wq_set_watchdog_thresh_ms(&self, ms: u64) {
        self.wq.watchdog_thresh_ms.store(ms, Ordering::Relaxed);
        self.wq.watchdog_touched.store(self.jiffies(), Ordering::Relaxed);
        self.wq_watchdog_arm();
    }

    /// Workqueue lockups the watchdog has reported so far.
    pub fn wq_watchdog_lockups(&self) -> u64 {
        self.wq.lockups.load(Ordering::Relaxed)
    }

    /// Arms (or stops) the check timer for the current threshold.
    pub(crate) fn wq_watchdog_arm(&self) {
        let ms = self.wq.watchdog_thresh_ms.load(Ordering::Relaxed);
        if ms == 0 || !*self.wq.inited.lock_irqsave(self) {
            self.wq.watchdog.del(self);
            return;
        }
        let period = (self.msecs_to_jiffies(ms) / 4).max(1);
        self.wq.watchdog.modify(self, self.jiffies() + period);
    }
}
