//! NAPI-style receive for NIC devices (`bottom_half = "napi"`): the hard-irq handler
//! only counts the packet and schedules the queue's poll on NET_RX_SOFTIRQ; the softirq
//! polls at most `NAPI_BUDGET` packets per queue per pass and re-raises itself while work
//! remains, so under load the softirq loop hits its restart limit and hands over to
//! `ksoftirqd/N` (net/core/dev.c `net_rx_action`, kernel/softirq.c).
//!
//! A softirq action is a plain function, so the queues are found through a registry
//! keyed by the system; it is only written while a scenario is set up or torn down,
//! and read lock-free (an atomic snapshot pointer) from softirq context.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use irqkit_core::softirq::SoftirqVec;
use irqkit_core::{IrqSystem, SoftIrq};

use super::devices::DeviceStats;
use super::model::DeviceSpec;

/// Packets one queue may process per NET_RX pass (Linux's `weight`, 64).
pub const NAPI_BUDGET: u64 = 64;

/// One receive queue.
pub struct NapiQueue {
    sys: usize,
    /// Packets received by the hard handler, not yet polled.
    backlog: AtomicU64,
    scheduled: AtomicBool,
    /// The CPU whose poll list holds the queue while `scheduled` (napi_schedule puts
    /// it on the scheduling CPU's list; only that CPU polls it, one pass at a time).
    owner: AtomicU32,
    stats: Arc<DeviceStats>,
    spec: DeviceSpec,
    /// Polls that ran out of budget with packets left.
    pub budget_exhausted: AtomicU64,
}

type Snapshot = Vec<Arc<NapiQueue>>;

static REGISTRY: Mutex<Vec<Arc<NapiQueue>>> = Mutex::new(Vec::new());
static SNAPSHOT: AtomicPtr<Snapshot> = AtomicPtr::new(std::ptr::null_mut());

fn publish(list: &[Arc<NapiQueue>]) {
    let new = Box::into_raw(Box::new(list.to_vec()));
    // The old snapshot is leaked on purpose: a softirq on another machine may still be
    // reading it, and scenarios are set up rarely (a few bytes per scenario).
    SNAPSHOT.swap(new, SeqCst);
}

fn net_rx_action(sys: &IrqSystem, _ctx: &SoftIrq) {
    let p = SNAPSHOT.load(SeqCst);
    if p.is_null() {
        return;
    }
    // SAFETY: snapshots are never freed (see `publish`).
    let queues = unsafe { &*p };
    let me = sys as *const IrqSystem as usize;
    let Some(cpu) = sys.current_cpu() else { return };
    let mut again = false;
    let mine = |q: &&Arc<NapiQueue>| {
        q.sys == me && q.scheduled.load(SeqCst) && q.owner.load(SeqCst) == cpu.0
    };
    for q in queues.iter().filter(mine) {
        let take = q.backlog.load(SeqCst).min(NAPI_BUDGET);
        for _ in 0..take {
            q.stats.note_bottom(sys, &q.spec);
        }
        // Only this CPU takes packets out; the hard handler only adds, so the
        // backlog is at least `take` here.
        let left = q.backlog.fetch_sub(take, SeqCst) - take;
        if left > 0 {
            q.budget_exhausted.fetch_add(1, SeqCst);
            again = true;
        } else {
            q.scheduled.store(false, SeqCst);
            // A packet that arrived between the read and the clear reschedules us.
            if q.backlog.load(SeqCst) > 0 && !q.scheduled.swap(true, SeqCst) {
                q.owner.store(cpu.0, SeqCst);
                again = true;
            }
        }
    }
    if again {
        let _ = sys.raise_softirq(SoftirqVec::NetRx);
    }
}

impl NapiQueue {
    /// Registers a queue of `sys` (opening NET_RX on first use for that system).
    pub fn register(sys: &IrqSystem, stats: Arc<DeviceStats>, spec: DeviceSpec) -> Arc<NapiQueue> {
        let me = sys as *const IrqSystem as usize;
        let q = Arc::new(NapiQueue {
            sys: me,
            backlog: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            owner: AtomicU32::new(u32::MAX),
            stats,
            spec,
            budget_exhausted: AtomicU64::new(0),
        });
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if !reg.iter().any(|x| x.sys == me) {
            // Already opened by an earlier scenario on a recycled address is fine.
            let _ = sys.open_softirq(SoftirqVec::NetRx, net_rx_action);
        }
        reg.push(q.clone());
        publish(&reg);
        q
    }

    /// Drops every queue of `sys` (scenario end).
    pub fn unregister_all(sys: &IrqSystem) {
        let me = sys as *const IrqSystem as usize;
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.retain(|q| q.sys != me);
        publish(&reg);
    }

    /// Hard-irq part: count the packet and schedule the poll (`napi_schedule`).
    pub fn receive(&self, sys: &IrqSystem) {
        // One interrupt announces every packet that reached the ring since the last.
        let packets = self.stats.ring.swap(0, SeqCst).max(1);
        self.backlog.fetch_add(packets, SeqCst);
        if !self.scheduled.swap(true, SeqCst) {
            if let Some(cpu) = sys.current_cpu() {
                self.owner.store(cpu.0, SeqCst);
            }
            let _ = sys.raise_softirq_irqoff(SoftirqVec::NetRx);
        }
    }

    /// True while packets wait to be polled.
    pub fn busy(&self) -> bool {
        self.backlog.load(SeqCst) > 0
    }
}
