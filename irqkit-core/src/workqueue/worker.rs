//! Worker threads: the worker loop, `process_one_work`, the manager, scheduler hooks.
//!
//! Mirrors kernel/workqueue.c `worker_thread`: leave idle; if the pool needs no
//! worker, sleep; if no idle worker would remain, become the manager and create one;
//! then process works while `keep_working`, and go idle (LIFO) again. The scheduler
//! hooks keep the pool's `nr_running` and wake an idle worker when the last running
//! one blocks with work queued (concurrency management).

use alloc::string::String;
use alloc::sync::{Arc, Weak};

use super::hotplug::hand_off_offline;
use super::incoming::Peek;
use super::manage::create_worker;
use super::pool::Pool;
use super::pool_lock::PoolGuard;
use super::process::{process_scheduled, send_mayday, take_retired};
use super::work::WorkCtx;
use super::wq::WqStats;
use crate::cpu::{CpuMask, Task};
use crate::sched::{Affinity, Thread, ThreadId, WaitQueue};
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::IrqSystem;

/// `WORKER_DIE`: the idle reaper told this worker to exit.
pub(crate) const WORKER_DIE: u32 = 2;
/// `WORKER_IDLE`.
pub(crate) const WORKER_IDLE: u32 = 4;
/// `WORKER_PREP`: not yet (or no longer) processing; not counted in nr_running.
pub(crate) const WORKER_PREP: u32 = 8;
/// `WORKER_CPU_INTENSIVE`: left concurrency management for the current item.
pub(crate) const WORKER_CPU_INTENSIVE: u32 = 0x40;
/// `WORKER_UNBOUND`: an unbound pool's worker (never concurrency-managed).
pub(crate) const WORKER_UNBOUND: u32 = 0x80;
/// `WORKER_REBOUND`: bound again after its CPU came back; rejoins `nr_running` when
/// it next starts processing.
pub(crate) const WORKER_REBOUND: u32 = 0x100;
/// `last_active_ns` of a worker that has just gone idle and not yet read the clock:
/// the idle reaper counts it as idle for no time at all.
pub(crate) const IDLE_NOW: u64 = u64::MAX;
/// Flags that take a worker out of `nr_running`.
pub(crate) const WORKER_NOT_RUNNING: u32 =
    WORKER_PREP | WORKER_CPU_INTENSIVE | WORKER_UNBOUND | WORKER_REBOUND;
/// Linux's CREATE_COOLDOWN (HZ): wait after a failed worker creation.
const CREATE_COOLDOWN_MS: u64 = 1000;

/// A worker (`struct worker`); its lists live in the pool's [`WorkerSlot`](super::pool::WorkerSlot).
pub(crate) struct Worker {
    pub(crate) id: u32,
    pub(crate) name: String,
    /// The pool (weak: the pool's worker list holds the worker, and a BH pool's
    /// pseudo-worker is made inside the pool).
    pub(crate) pool: Weak<Pool>,
    pub(crate) pool_id: u32,
    /// Worker flags; changed only under the pool lock, read anywhere.
    pub(crate) flags: AtomicU32,
    /// Blocked while busy (the hooks took it out of nr_running).
    pub(crate) sleeping: AtomicBool,
    /// Set by a waker; the idle wait sleeps until it is.
    pub(crate) woken: AtomicBool,
    /// Idle but polling before it sleeps (`idle_spin`): it watches the pool's
    /// incoming ring and `woken` itself, so a producer owes it no wake-up (Linux's
    /// `TIF_POLLING_NRFLAG` idea, for a worker). Changed only under the pool lock.
    pub(crate) polling: AtomicBool,
    pub(crate) wait: WaitQueue,
    pub(crate) last_active_ns: AtomicU64,
    pub(crate) thread_id: AtomicU64,
    pub(crate) rescuer: bool,
    /// Ticks that found this worker running its current item since the item started
    /// or the worker last woke: its CPU time, sampled (CPU-intensive detection).
    /// Written by the worker and by the tick that interrupts it, never at once.
    pub(crate) ran_ticks: AtomicU32,
    /// The counters of the workqueue whose function runs now, null outside the call
    /// (Linux's `current_pwq` as the tick reads it). Written only by the worker, read
    /// only by the tick on the worker's CPU while it is interrupted, so the pointee
    /// is kept alive by the worker's own handle for every read.
    pub(crate) current_stats: AtomicPtr<WqStats>,
    /// A non-strict unbound pool's pod: its wake-ups steer the worker there, as
    /// Linux's `kick_pool` sets `wake_cpu` (strict and per-CPU pools' workers are
    /// confined by their affinity instead).
    pub(crate) wake_pod: Option<CpuMask>,
    /// Where this worker's slot last was in the pool's worker list: checked, then
    /// used, so the per-item lookups under the pool lock skip the scan.
    pub(crate) slot_hint: AtomicU32,
}

impl Worker {
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }
    pub(crate) fn set_flags(&self, f: u32) {
        self.flags.fetch_or(f, Ordering::AcqRel);
    }
    pub(crate) fn clr_flags(&self, f: u32) {
        self.flags.fetch_and(!f, Ordering::AcqRel);
    }
    /// The pool this worker serves (a rescuer: the pool it is helping now).
    pub(crate) fn attached_pool(&self) -> u32 {
        self.pool_id
    }
    pub(crate) fn is_rescuer(&self) -> bool {
        self.rescuer
    }

    /// A rescuer's stand-in worker while it helps `pool` (never concurrency-managed).
    pub(crate) fn new_rescuer(pool: &Arc<Pool>, name: String, thread: ThreadId) -> Arc<Worker> {
        Arc::new(Worker {
            id: u32::MAX,
            name,
            pool: Arc::downgrade(pool),
            pool_id: pool.id,
            flags: AtomicU32::new(WORKER_UNBOUND),
            sleeping: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            wait: WaitQueue::new(),
            last_active_ns: AtomicU64::new(0),
            thread_id: AtomicU64::new(thread.0),
            rescuer: true,
            ran_ticks: AtomicU32::new(0),
            current_stats: AtomicPtr::new(core::ptr::null_mut()),
            wake_pod: None,
            slot_hint: AtomicU32::new(0),
        })
    }

    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    pub(crate) fn is_polling(&self) -> bool {
        self.polling.load(Ordering::Relaxed)
    }

    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Acquire)
    }

    /// Wakes the worker from its idle wait (or makes the next wait return at once).
    pub(crate) fn wake(&self, sys: &IrqSystem) {
        if self.claim_wake() {
            self.wake_claimed(sys);
        }
    }

    /// Issues a wake-up [`Worker::claim_wake`] handed to the caller.
    pub(crate) fn wake_claimed(&self, sys: &IrqSystem) {
        match &self.wake_pod {
            Some(pod) => self.wait.wake_all_prefer(sys, pod),
            None => self.wait.wake_all(sys),
        };
    }

    /// The first kick since the worker went idle claims its wake-up (true: the
    /// caller must call `wait.wake_all`, which it may do after dropping the pool
    /// lock). The worker clears `woken` under the pool lock before it sleeps again,
    /// and its wait re-checks `woken`, so a wake-up issued late is never lost.
    pub(crate) fn claim_wake(&self) -> bool {
        !self.woken.swap(true, Ordering::AcqRel)
    }
}

/// Leaves the pool for good (exit on stop or after the idle reaper said DIE).
fn worker_detach(sys: &IrqSystem, w: &Arc<Worker>, me: &Thread, mut g: PoolGuard<'_>) {
    // worker_detach_from_pool's `kthread_set_per_cpu(task, -1)`: the exiting thread
    // is no longer one of the pool's. Hotplug, which no longer lists it, would not
    // unbind it, and a runtime that refuses to offline a CPU with threads bound
    // there (the hosted machine) would be refused by a thread about to exit.
    me.set_affinity(Affinity::Unbound(CpuMask::first_n(sys.nr_cpus())));
    let before = g.workers.len();
    g.workers.retain(|s| !Arc::ptr_eq(&s.worker, w));
    if g.workers.len() < before && w.flags() & WORKER_DIE != 0 {
        g.nr_dying -= 1;
    }
    g.idle.retain(|x| !Arc::ptr_eq(x, w));
    drop(g);
    sys.wq.workers.lock_irqsave(sys).remove(&ThreadId(w.thread_id.load(Ordering::Acquire)));
}

pub(crate) fn worker_thread(sys: &Arc<IrqSystem>, pool: Arc<Pool>, w: Arc<Worker>, task: &Task) {
    let me = sys.current_thread().expect("worker runs on a kernel thread");
    // Registration raced with our start: make sure current_work can find us.
    sys.wq.workers.lock_irqsave(sys).insert(me.id(), w.clone());
    w.thread_id.store(me.id().0, Ordering::Release);
    let misplaced = || sys.current_cpu().is_some_and(|c| !me.allowed_on(c));
    loop {
        // On a CPU it may no longer use (its pool was bound again, or the CPU is going
        // down) a worker moves before it takes work: the scheduler moves a thread at
        // a switch like this yield, as `set_cpus_allowed_ptr` does at once in Linux.
        // (One left on an offline CPU its mask allows stops polling instead, below.)
        if misplaced() {
            sys.yield_now(task);
        }
        let mut g = pool.lock(sys);
        if me.should_stop() || w.flags() & WORKER_DIE != 0 {
            worker_detach(sys, &w, &me, g);
            return;
        }
        // worker_leave_idle
        if w.flags() & WORKER_IDLE != 0 {
            w.polling.store(false, Ordering::Relaxed);
            w.clr_flags(WORKER_IDLE);
            // LIFO: the worker leaving idle is usually the last one in.
            if g.idle.last().is_some_and(|x| Arc::ptr_eq(x, &w)) {
                g.idle.pop();
            } else {
                g.idle.retain(|x| !Arc::ptr_eq(x, &w));
            }
        }
        let mut work_now = false;
        while g.need_more_worker() {
            if !g.idle.is_empty() || g.manager_active {
                work_now = true;
                break;
            }
            // manage_workers / maybe_create_worker
            g.manager_active = true;
            drop(g);
            let r = create_worker(sys, &pool);
            g = pool.lock(sys);
            g.manager_active = false;
            if r.is_err() {
                send_mayday(sys, &g);
                drop(g);
                if me.should_stop() {
                    g = pool.lock(sys);
                    break;
                }
                let _ = crate::timer::msleep(sys, task, CREATE_COOLDOWN_MS);
                g = pool.lock(sys);
                if me.should_stop() {
                    break;
                }
            }
        }
        if work_now {
            g.worker_clr_flags(&w, WORKER_PREP | WORKER_REBOUND);
            loop {
                let Some(item) = g.worklist.pop_front() else { break };
                // assign_work: hand it to the worker already running it, if any.
                let target =
                    g.executing_other(&item.work).unwrap_or_else(|| g.slot_index(&w).unwrap_or(0));
                let mine = Arc::ptr_eq(&g.workers[target].worker, &w);
                g.workers[target].scheduled.push_back(item);
                if mine {
                    g = process_scheduled(sys, &pool, &w, g, WorkCtx::Task(task), false);
                }
                if !g.keep_working() {
                    break;
                }
                // Our CPU went offline under us (the hosted machine keeps running
                // its current thread): stop taking work here. Going idle kicks an
                // unbound worker, which wakes on an online CPU. Likewise on a CPU
                // our pool no longer allows: the next round moves us first.
                if (g.disassociated && !sys.this_cpu().online()) || misplaced() {
                    break;
                }
            }
            g.worker_set_flags(&w, WORKER_PREP);
        }
        let mut handoff = false;
        if g.disassociated && !sys.this_cpu().online() {
            (g, handoff) = hand_off_offline(sys, &pool, g);
        }
        // worker_enter_idle
        w.set_flags(WORKER_IDLE);
        // "Idle since now" (the reaper spares it): a polling worker reads the clock
        // only once its poll has lasted a few rounds, and records the time then
        // (`idle_spin`). A clock read here would lengthen every item's way back
        // to the poll, which a producer queueing back to back waits for.
        w.last_active_ns.store(IDLE_NOW, Ordering::Relaxed);
        w.woken.store(false, Ordering::Release);
        g.idle.push(w.clone());
        if g.too_many_workers() && !pool.idle_timer.pending() {
            let ms = sys.wq.idle_timeout_ms.load(Ordering::Relaxed);
            pool.idle_timer.modify(sys, sys.jiffies() + sys.msecs_to_jiffies(ms) + 1);
        }
        // A kick that came in while we were busy: the pool may still need us.
        let again = !handoff && g.need_more_worker();
        let poll = !again && sys.wq.idle_spin_ns.load(Ordering::Relaxed) != 0;
        if !poll {
            w.last_active_ns.store(sys.now_ns(), Ordering::Relaxed);
        }
        // Set under the lock, so that this unlock already opens the ring to
        // producers (`PoolInner::fast_ok`) instead of owing a wake-up.
        w.polling.store(poll, Ordering::Relaxed);
        let retired = take_retired(&mut g, &w);
        drop(g);
        drop(retired);
        let mut event = again;
        if poll {
            event = idle_spin(sys, &pool, &w, &me);
            if !event {
                // Stop polling under the lock: its unlock closes the ring and takes
                // in what a producer put on it meanwhile, kicking this worker if so
                // (the `pool_lock.rs` protocol), before it sleeps.
                let g = pool.lock(sys);
                w.polling.store(false, Ordering::Relaxed);
                // A poll that ended before its first clock read: idle since now.
                if w.last_active_ns.load(Ordering::Relaxed) == IDLE_NOW {
                    w.last_active_ns.store(sys.now_ns(), Ordering::Relaxed);
                }
                drop(g);
            }
        }
        if !event {
            let _ = w
                .wait
                .wait_event(sys, task, || w.woken.load(Ordering::Acquire) || me.should_stop());
        }
    }
}

/// The bounded poll of an idle worker before it sleeps, timed from its first clock
/// read (its 16th round, also recorded as the worker's idle time); true if work (or
/// a stop) came in meanwhile. The worker
/// is formally idle — on the idle list, out of `nr_running` — so every Linux rule
/// holds. While it polls, a producer puts items on the ring without a lock
/// (`PoolInner::fast_ok` counts a polling worker as one on its way) and a locked
/// kick only sets `woken`: no wake-up either way. Only where a runtime asked for it
/// ([`IrqSystem::wq_set_idle_spin_ns`]): on the hosted machine a sleep and wake-up is
/// two host futex hand-offs (the vCPU's idle thread, then the worker), several µs,
/// against well under one for the work, so a poll (as crossbeam's and rayon's
/// workers do before they park) carries a burst or a steady stream of items without
/// one. It gives way at once when another thread wants the vCPU, and yields the host
/// CPU between rounds.
fn idle_spin(sys: &IrqSystem, pool: &Pool, w: &Worker, me: &crate::sched::Thread) -> bool {
    let ns = sys.wq.idle_spin_ns.load(Ordering::Relaxed);
    let mut i = 0u32;
    // The poll's clock starts at its first look at the clock, a few rounds in.
    let mut start = None;
    // Pauses first, then host yields (with `std`): a poll of tens of µs must not
    // hold a host CPU that a producer is waiting for.
    let mut wait = crate::sync::atomic::SpinWait::new();
    // The ring position the next item will be published at, as far as we know.
    let mut cursor = pool.incoming.head();
    loop {
        // An item on the ring is ours to take in (we are `polling`); a locked
        // queueing sets `woken` instead (`kick_deferred`).
        if w.woken.load(Ordering::Acquire) || me.should_stop() {
            return true;
        }
        match pool.incoming.peek(cursor) {
            Peek::Published => return true,
            // Another lock holder took it (and maybe more): catch up.
            Peek::Consumed => cursor = pool.incoming.head(),
            Peek::Empty => {}
        }
        // The clock read costs more than a poll: look at it every 16th round, from
        // the 16th on (an item that arrives sooner costs none). An affinity change
        // (CPU hotplug rebinding the pool) moves a thread only at a wake-up here: a
        // worker no longer allowed on this CPU stops polling, so that it sleeps and
        // its next wake-up moves it; so does one left on an offline CPU (cpu_down
        // leaves a thread preempted at interrupt exit inside a per-CPU access
        // running), from the 16th round.
        if i.is_multiple_of(16) {
            let leave = sys.with_this_cpu(|here| {
                let misplaced = !me.allowed_on(here.id()) || (i > 0 && !here.online());
                here.need_resched() || misplaced
            });
            if leave != Some(false) {
                return false;
            }
            if i > 0 {
                let now = sys.now_ns();
                let since = *start.get_or_insert_with(|| {
                    w.last_active_ns.store(now, Ordering::Relaxed);
                    now
                });
                if now.saturating_sub(since) >= ns {
                    return false;
                }
            }
        }
        i = i.wrapping_add(1);
        wait.spin();
    }
}
