//! Workqueue conformance on the hosted machine (kernel/workqueue.c,
//! include/linux/workqueue.h): PENDING semantics, non-reentrancy, ordered FIFO,
//! max_active, flush/cancel return values, drain refusal, delayed work through the
//! timer wheel, the rescuer under failing worker creation, bad input.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use irqkit_core::timer::msleep;
use irqkit_core::workqueue::*;
use irqkit_core::{CpuId, IrqError};
use irqkit_hosted::{Machine, MachineConfig};

fn machine() -> Machine {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    m.sys().workqueue_init().unwrap();
    m.sys().set_work_guard(|f| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok());
    m
}

/// A work that spins until `gate` opens (keeps an ordered wq busy, deterministically).
fn blocker(gate: Arc<AtomicBool>) -> Work {
    Work::new(move |_s, _w, _t| {
        while !gate.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    })
}

/// Tracks how many instances run at once and the maximum seen.
#[derive(Default)]
struct Conc {
    now: AtomicI64,
    max: AtomicI64,
    runs: AtomicU64,
}

impl Conc {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
    }
    fn exit(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

// Ownership: Linux requires a queued work_struct to stay allocated until it has run
// (kernel/workqueue.c never touches the work after its function returns). irqkit's
// typed form: the queued instance holds a handle of its own, so a work whose owner
// drops every handle while it waits still runs, once, and its function and captures
// are freed exactly once, after that run.
#[test]
fn work_dropped_by_its_owner_while_queued_still_runs_and_is_freed_once() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let m = machine();
    let wq = m.sys().alloc_ordered_workqueue("owner", 0).unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let (ran, freed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (tracked, r2, f2) = (Tracked(freed.clone()), ran.clone(), freed.clone());
    let w = Work::new(move |_s, _w, _t| {
        let _captured = &tracked;
        assert_eq!(f2.load(Ordering::SeqCst), 0, "freed before it ran");
        r2.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(m.sys().queue_work(&wq, &blocker(gate.clone())), Ok(true));
    assert_eq!(m.sys().queue_work(&wq, &w), Ok(true));
    drop(w);
    assert_eq!(freed.load(Ordering::SeqCst), 0, "the queued instance keeps the work alive");
    gate.store(true, Ordering::SeqCst);
    common::wait_until("the work ran and was freed", || freed.load(Ordering::SeqCst) == 1);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let (s2, wq2) = (m.sys().clone(), wq.clone());
    m.run_on(CpuId(0), move |t| s2.flush_workqueue(t, &wq2)).unwrap().unwrap();
    assert_eq!(freed.load(Ordering::SeqCst), 1, "freed exactly once");
}

// kernel/workqueue.c queue_work_on: test-and-set of PENDING; false if it was set.
#[test]
fn queue_work_returns_false_while_pending() {
    let m = machine();
    let wq = m.sys().alloc_ordered_workqueue("pend", 0).unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let w = Work::new(move |_s, _w, _t| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    let sys = m.sys().clone();
    assert_eq!(sys.queue_work(&wq, &blocker(gate.clone())), Ok(true));
    assert_eq!(sys.queue_work(&wq, &w), Ok(true));
    assert!(w.is_pending());
    assert_eq!(sys.work_busy(&w) & WORK_BUSY_PENDING, WORK_BUSY_PENDING);
    assert_eq!(sys.queue_work(&wq, &w), Ok(false), "already pending");
    gate.store(true, Ordering::SeqCst);
    let w2 = w.clone();
    let s2 = sys.clone();
    // Ran already (false) or waited for it (true): either way it finished.
    assert!(m.run_on(CpuId(0), move |t| s2.flush_work(t, &w2)).unwrap().is_ok());
    assert_eq!(ran.load(Ordering::SeqCst), 1, "queued twice while pending, ran once");
    assert!(!w.is_pending());
    assert_eq!(sys.work_busy(&w), 0);
    // Idle again: queueing works again.
    assert_eq!(sys.queue_work(&wq, &w), Ok(true));
    let s2 = sys.clone();
    m.run_on(CpuId(0), move |t| s2.flush_workqueue(t, &wq)).unwrap().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 2);
}

// kernel/workqueue.c __queue_work: a work still running on another CPU's pool is
// queued there, so it never runs concurrently with itself.
#[test]
fn work_is_non_reentrant_across_cpus() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("reent", WQ_PERCPU, 0).unwrap();
    let conc = Arc::new(Conc::default());
    let c2 = conc.clone();
    let w = Work::new(move |_s, _w, _t| {
        c2.enter();
        for _ in 0..2000 {
            std::hint::spin_loop();
        }
        c2.exit();
    });
    // Two producers, one per CPU, hammer queue_work_on at alternating CPUs.
    let mut hs = Vec::new();
    for p in 0..2u32 {
        let (s, wq, w) = (sys.clone(), wq.clone(), w.clone());
        hs.push(std::thread::spawn(move || {
            for i in 0..3000u32 {
                let _ = s.queue_work_on(Some(CpuId((i + p) % 2)), &wq, &w);
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    let (s, w2) = (sys.clone(), w.clone());
    m.run_on(CpuId(0), move |t| s.flush_work(t, &w2)).unwrap().unwrap();
    assert!(conc.runs.load(Ordering::SeqCst) >= 1);
    assert_eq!(conc.max.load(Ordering::SeqCst), 1, "ran concurrently with itself");
}

// kernel/workqueue.c: an ordered workqueue executes one work at a time, in order.
#[test]
fn ordered_workqueue_is_strict_fifo_one_at_a_time() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_ordered_workqueue("ordered", 0).unwrap();
    assert_eq!(wq.max_active(), 1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let conc = Arc::new(Conc::default());
    let mut works = Vec::new();
    for i in 0..40usize {
        let (o, c) = (order.clone(), conc.clone());
        works.push(Work::new(move |s, _w, t| {
            c.enter();
            if i % 8 == 0 {
                msleep(s, t, 1).unwrap();
            }
            o.lock().unwrap().push(i);
            c.exit();
        }));
    }
    // Queue from both CPUs' points of view: order is the queueing order.
    for w in works.iter() {
        assert_eq!(sys.queue_work(&wq, w), Ok(true));
    }
    let s = sys.clone();
    m.run_on(CpuId(1), move |t| s.flush_workqueue(t, &wq)).unwrap().unwrap();
    assert_eq!(*order.lock().unwrap(), (0..40).collect::<Vec<_>>());
    assert_eq!(conc.max.load(Ordering::SeqCst), 1);
}

// kernel/workqueue.c pwq_activate / pwq_dec_nr_in_flight: at most max_active works of
// a pwq are active; the others wait on the inactive list and start in queueing order.
#[test]
fn max_active_limits_and_activates_inactive_works_in_order() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("maxact", WQ_PERCPU, 2).unwrap();
    let conc = Arc::new(Conc::default());
    let starts = Arc::new(Mutex::new(Vec::new()));
    let mut works = Vec::new();
    for i in 0..12usize {
        let (c, st) = (conc.clone(), starts.clone());
        works.push(Work::new(move |s, _w, t| {
            c.enter();
            st.lock().unwrap().push(i);
            msleep(s, t, 2).unwrap();
            c.exit();
        }));
    }
    let (s, wq2, ws) = (sys.clone(), wq.clone(), works.clone());
    let congested = m
        .run_on(CpuId(0), move |t| {
            for w in ws.iter() {
                s.queue_work(&wq2, w).unwrap();
            }
            let c = s.workqueue_congested(Some(CpuId(0)), &wq2);
            s.flush_workqueue(t, &wq2).unwrap();
            c
        })
        .unwrap();
    assert!(congested, "12 works with max_active 2 leave inactive works");
    assert_eq!(conc.max.load(Ordering::SeqCst), 2, "both slots used, never more");
    assert_eq!(*starts.lock().unwrap(), (0..12).collect::<Vec<_>>());
    assert!(!sys.workqueue_congested(Some(CpuId(0)), &wq));
}

// kernel/workqueue.c __flush_work: true if it had to wait, false for an idle work.
#[test]
fn flush_work_returns_whether_it_waited() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("flush", WQ_UNBOUND, 0).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // The work holds until the flusher sleeps, so it cannot finish before flush_work
    // looks (which would make the answer false, "was idle", legitimately). A 5 ms
    // sleep was not enough: the unbound worker runs it on CPU 1, and the flusher kept
    // off the host CPU that long between queue_work and flush_work found it done.
    let gate = Arc::new(AtomicBool::new(false));
    let (d2, g2) = (done.clone(), gate.clone());
    let w = Work::new(move |s, _w, t| {
        while !g2.load(Ordering::SeqCst) {
            msleep(s, t, 1).unwrap();
        }
        d2.store(true, Ordering::SeqCst);
    });
    let opener = {
        let (sys, gate) = (sys.clone(), gate.clone());
        std::thread::spawn(move || {
            common::wait_until("flusher sleeps", || {
                gate.load(Ordering::SeqCst)
                    || sys.threads().iter().any(|t| {
                        t.name() == "run_on/0"
                            && t.state() == irqkit_core::sched::ThreadState::Sleeping
                    })
            });
            gate.store(true, Ordering::SeqCst);
        })
    };
    let (s, w2) = (sys.clone(), w.clone());
    let (idle, waited, after) = m
        .run_on(CpuId(0), move |t| {
            let idle = s.flush_work(t, &w2).unwrap();
            s.queue_work(&wq, &w2).unwrap();
            let waited = s.flush_work(t, &w2).unwrap();
            (idle, waited, s.flush_work(t, &w2).unwrap())
        })
        .unwrap();
    // Opened already unless a flush returned without sleeping: the assertions say which.
    gate.store(true, Ordering::SeqCst);
    opener.join().unwrap();
    assert!(!idle, "never queued: false");
    assert!(waited, "queued: waited, true");
    assert!(done.load(Ordering::SeqCst), "finished on return");
    assert!(!after, "idle again: false");
}

// kernel/workqueue.c __flush_workqueue: waits for works queued before the call only.
#[test]
fn flush_workqueue_waits_for_earlier_works_only() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("flushwq", WQ_UNBOUND, 0).unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = sys.clone();
    let n2 = n.clone();
    m.run_on(CpuId(0), move |t| {
        let mut ws = Vec::new();
        for _ in 0..10 {
            let n3 = n2.clone();
            let w = Work::new(move |s, _w, t| {
                msleep(s, t, 2).unwrap();
                n3.fetch_add(1, Ordering::SeqCst);
            });
            s.queue_work(&wq, &w).unwrap();
            ws.push(w);
        }
        s.flush_workqueue(t, &wq).unwrap();
        assert_eq!(n2.load(Ordering::SeqCst), 10);
    })
    .unwrap();
}

// kernel/workqueue.c cancel_work_sync: returns true iff the work was *pending*; a
// work that was only running gives false, but is waited for.
#[test]
fn cancel_work_sync_returns_pending_not_running() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("cancel", WQ_PERCPU, 0).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (st, dn) = (started.clone(), done.clone());
    let w = Work::new(move |s, _w, t| {
        st.store(true, Ordering::SeqCst);
        msleep(s, t, 20).unwrap();
        dn.store(true, Ordering::SeqCst);
    });
    sys.queue_work_on(Some(CpuId(0)), &wq, &w).unwrap();
    let (s, w2, st, dn) = (sys.clone(), w.clone(), started.clone(), done.clone());
    let (r, done_after) = m
        .run_on(CpuId(1), move |t| {
            while !st.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            let r = s.cancel_work_sync(t, &w2).unwrap();
            (r, dn.load(Ordering::SeqCst))
        })
        .unwrap();
    assert!(!r, "only running: false");
    assert!(done_after, "cancel_work_sync waited for the running instance");

    // Pending behind a blocker on an ordered wq: true, and it never runs.
    let owq = sys.alloc_ordered_workqueue("cancel-o", 0).unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let p = Work::new(move |_s, _w, _t| r2.store(true, Ordering::SeqCst));
    sys.queue_work(&owq, &blocker(gate.clone())).unwrap();
    sys.queue_work(&owq, &p).unwrap();
    assert!(sys.cancel_work(&p), "pending: true");
    assert!(!sys.cancel_work(&p), "idle: false");
    assert!(!p.is_pending());
    gate.store(true, Ordering::SeqCst);
    let (s, p2) = (sys.clone(), p.clone());
    let again = m
        .run_on(CpuId(0), move |t| {
            s.queue_work(&owq, &p2).unwrap();
            let gate = Arc::new(AtomicBool::new(false));
            // A second pending instance, cancelled synchronously.
            s.queue_work(&owq, &blocker(gate.clone())).unwrap();
            let w3 = Work::new(|_s, _w, _t| {});
            s.queue_work(&owq, &w3).unwrap();
            let r = s.cancel_work_sync(t, &w3).unwrap();
            gate.store(true, Ordering::SeqCst);
            s.flush_workqueue(t, &owq).unwrap();
            r
        })
        .unwrap();
    assert!(again, "pending: true");
    assert!(ran.load(Ordering::SeqCst), "requeued after cancel, it ran");
}

// kernel/workqueue.c cancel_delayed_work(_sync) / mod_delayed_work_on return values;
// delayed work is queued by the timer wheel after `delay` jiffies.
#[test]
fn delayed_work_runs_through_the_timer_wheel_and_cancel_reports_pending() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("delayed", WQ_UNBOUND, 0).unwrap();
    let ran_at = Arc::new(AtomicU64::new(0));
    let r2 = ran_at.clone();
    let d = DelayedWork::new(move |s, _w, _t| r2.store(s.jiffies(), Ordering::SeqCst));
    let (s, d2, wq2) = (sys.clone(), d.clone(), wq.clone());
    let (q_at, first, second) = m
        .run_on(CpuId(0), move |t| {
            let q_at = s.jiffies();
            // Interrupts off on CPU 0, whose wheel the first call arms the timer on: no
            // tick runs its timers before the second call, so the timer is still armed
            // then however long this thread is kept off the host CPU. (Kept off for 20
            // jiffies, the tick it took on its return fired the timer and the work ran
            // on CPU 1 before the second call, which then rightly returned true.)
            let f = s.local_irq_save();
            let first = s.queue_delayed_work(&wq2, &d2, 20).unwrap();
            let second = s.queue_delayed_work(&wq2, &d2, 1).unwrap();
            s.local_irq_restore(f);
            while s.flush_work(t, d2.work()).unwrap() || d2.work().is_pending() {
                msleep(&s, t, 1).unwrap();
            }
            (q_at, first, second)
        })
        .unwrap();
    assert!(first && !second, "second queue while the timer is armed: false");
    let ran = ran_at.load(Ordering::SeqCst);
    assert!(ran >= q_at + 20, "ran at jiffy {ran}, queued at {q_at} with delay 20");

    // cancel: armed timer -> true; idle -> false.
    sys.queue_delayed_work(&wq, &d, 10_000).unwrap();
    assert!(sys.cancel_delayed_work(&d));
    assert!(!sys.cancel_delayed_work(&d));
    // mod_delayed_work: idle -> false, pending -> true.
    assert_eq!(sys.mod_delayed_work(&wq, &d, 10_000), Ok(false));
    assert_eq!(sys.mod_delayed_work(&wq, &d, 10_000), Ok(true));
    // flush_delayed_work queues it now and waits. The work holds until the flusher
    // sleeps, so it cannot finish before flush_work looks (which would make the
    // answer false, "was idle", legitimately).
    let gate = Arc::new(AtomicBool::new(false));
    let (g2, r3) = (gate.clone(), ran_at.clone());
    let held = DelayedWork::new(move |s, _w, _t| {
        while !g2.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        r3.store(s.jiffies().max(1), Ordering::SeqCst);
    });
    ran_at.store(0, Ordering::SeqCst);
    assert_eq!(sys.mod_delayed_work(&wq, &held, 10_000), Ok(false));
    let (s, h2) = (sys.clone(), held.clone());
    let opener = {
        let (sys, gate) = (sys.clone(), gate.clone());
        std::thread::spawn(move || {
            common::wait_until("flusher sleeps", || {
                sys.threads().iter().any(|t| {
                    t.name() == "run_on/1" && t.state() == irqkit_core::sched::ThreadState::Sleeping
                })
            });
            gate.store(true, Ordering::SeqCst);
        })
    };
    let flushed = m.run_on(CpuId(1), move |t| s.flush_delayed_work(t, &h2)).unwrap().unwrap();
    opener.join().unwrap();
    assert!(flushed);
    assert_ne!(ran_at.load(Ordering::SeqCst), 0, "ran long before its 10 s timer");
    // cancel_delayed_work_sync: `d` still has its 10 s timer armed (true); `held`
    // has run and is idle (false).
    let (s, d2) = (sys.clone(), d.clone());
    assert_eq!(m.run_on(CpuId(1), move |t| s.cancel_delayed_work_sync(t, &d2)).unwrap(), Ok(true));
    let (s, h2) = (sys.clone(), held.clone());
    assert_eq!(m.run_on(CpuId(1), move |t| s.cancel_delayed_work_sync(t, &h2)).unwrap(), Ok(false));
}

// kernel/workqueue.c drain_workqueue: only chained works (queued by the wq's own
// works) may queue while draining; others are refused.
#[test]
fn drain_refuses_outside_queueing_but_allows_chaining() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("drain", WQ_UNBOUND, 0).unwrap();
    let other = sys.alloc_workqueue("other", WQ_UNBOUND, 0).unwrap();
    let chained = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(Mutex::new(None));
    let (c2, wq2, rf2) = (chained.clone(), wq.clone(), refused.clone());
    // Each run waits for the drain to begin, so every requeue is a chained queueing
    // while draining, and the last run holds the drain open until the outsider has
    // tried. (Paced by 5 ms sleeps instead, the chain could end before a drain that
    // started late, or the drain before the outsider's worker looked: the outsider
    // then waited for a drain for ever, and so did the flush of it below.)
    let chain = Work::new(move |s, me, t| {
        while !wq2.is_draining() {
            msleep(s, t, 1).unwrap();
        }
        if c2.fetch_add(1, Ordering::SeqCst) < 5 {
            assert_eq!(s.queue_work(&wq2, me), Ok(true), "chained queueing allowed");
        } else {
            while rf2.lock().unwrap().is_none() {
                msleep(s, t, 1).unwrap();
            }
        }
    });
    let (rf, wq3) = (refused.clone(), wq.clone());
    let outsider = Work::new(move |s, _w, t| {
        while !wq3.is_draining() {
            msleep(s, t, 1).unwrap();
        }
        let w = Work::new(|_s, _w, _t| {});
        *rf.lock().unwrap() = Some((s.queue_work(&wq3, &w), w.is_pending()));
    });
    sys.queue_work(&wq, &chain).unwrap();
    sys.queue_work(&other, &outsider).unwrap();
    let s = sys.clone();
    m.run_on(CpuId(0), move |t| s.drain_workqueue(t, &wq)).unwrap().unwrap();
    assert_eq!(chained.load(Ordering::SeqCst), 6);
    let (s, o) = (sys.clone(), outsider.clone());
    m.run_on(CpuId(0), move |t| s.flush_work(t, &o)).unwrap().unwrap();
    let r = refused.lock().unwrap().take().unwrap();
    assert_eq!(r, (Err(IrqError::Busy("workqueue is draining")), false));
    assert!(sys.wq_drain_log().iter().any(|l| l.starts_with("workqueue: cannot queue")));
}

// kernel/workqueue.c rescuer_thread / send_mayday: when worker creation fails, the
// rescuer of a WQ_MEM_RECLAIM workqueue runs its works so the pool makes progress,
// attached to the pool (worker_attach_to_pool), so on the pool's CPU.
#[test]
fn rescuer_makes_progress_when_worker_creation_fails() {
    let m = machine();
    let sys = m.sys().clone();
    let plain = sys.alloc_workqueue("plain", WQ_PERCPU, 0).unwrap();
    let reclaim = sys.alloc_workqueue("reclaim", WQ_PERCPU | WQ_MEM_RECLAIM, 0).unwrap();
    assert!(sys.threads().iter().any(|t| t.name() == "kworker/R-reclaim"));
    let event = Arc::new(AtomicBool::new(false));
    let blocked = Arc::new(AtomicBool::new(false));
    let (ev, bl) = (event.clone(), blocked.clone());
    // A holds CPU 0's only busy worker asleep until B runs; creation fails from now.
    let a = Work::new(move |s, _w, t| {
        s.wq_inject_create_failure(true);
        bl.store(true, Ordering::SeqCst);
        while !ev.load(Ordering::SeqCst) {
            msleep(s, t, 1).unwrap();
        }
    });
    let by_rescuer = Arc::new(AtomicBool::new(false));
    let (ev, br) = (event.clone(), by_rescuer.clone());
    let on_cpu0 = Arc::new(AtomicBool::new(false));
    let oc = on_cpu0.clone();
    let b = Work::new(move |s, _w, _t| {
        br.store(s.current_is_workqueue_rescuer(), Ordering::SeqCst);
        oc.store(s.current_cpu() == Some(CpuId(0)), Ordering::SeqCst);
        ev.store(true, Ordering::SeqCst);
    });
    sys.queue_work_on(Some(CpuId(0)), &plain, &a).unwrap();
    common::wait_until("A blocked", || blocked.load(Ordering::SeqCst));
    // Use up any spare idle worker so that B's pool has to create one.
    let spare_gate = Arc::new(AtomicBool::new(false));
    let mut spares = Vec::new();
    for _ in 0..4 {
        let g = spare_gate.clone();
        let w = Work::new(move |s, _w, t| {
            while !g.load(Ordering::SeqCst) {
                msleep(s, t, 1).unwrap();
            }
        });
        sys.queue_work_on(Some(CpuId(0)), &plain, &w).unwrap();
        spares.push(w);
    }
    sys.queue_work_on(Some(CpuId(0)), &reclaim, &b).unwrap();
    common::wait_until("B ran", || event.load(Ordering::SeqCst));
    assert!(by_rescuer.load(Ordering::SeqCst), "B ran in the rescuer");
    // worker_attach_to_pool: the rescuer took the per-CPU pool's affinity.
    assert!(on_cpu0.load(Ordering::SeqCst), "the rescued per-CPU work ran on its CPU");
    assert!(reclaim.stats().mayday.load(Ordering::Relaxed) >= 1);
    assert!(reclaim.stats().rescued.load(Ordering::Relaxed) >= 1);
    sys.wq_inject_create_failure(false);
    spare_gate.store(true, Ordering::SeqCst);
    let s = sys.clone();
    m.run_on(CpuId(1), move |t| {
        for w in spares.iter().chain([&a]) {
            s.flush_work(t, w).unwrap();
        }
    })
    .unwrap();
}

// kernel/workqueue.c freeze_workqueues_begin / thaw_workqueues: a freezable
// workqueue keeps new works inactive while frozen and runs them after thaw; other
// workqueues are unaffected.
#[test]
fn freezable_workqueue_holds_works_until_thaw() {
    let m = machine();
    let sys = m.sys().clone();
    let fz = sys.alloc_workqueue("fz", WQ_PERCPU | WQ_FREEZABLE, 0).unwrap();
    let plain = sys.alloc_workqueue("nofz", WQ_PERCPU, 0).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let w = Work::new(move |_s, _w, _t| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    let other = Work::new(|_s, _w, _t| {});
    sys.freeze_workqueues();
    sys.queue_work_on(Some(CpuId(0)), &fz, &w).unwrap();
    assert!(sys.workqueue_congested(Some(CpuId(0)), &fz), "held on the inactive list");
    let (s, o, p) = (sys.clone(), other.clone(), plain.clone());
    // The non-freezable workqueue still runs.
    let waited = m
        .run_on(CpuId(0), move |t| {
            s.queue_work(&p, &o).unwrap();
            s.flush_work(t, &o)
        })
        .unwrap();
    assert!(waited.is_ok());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(w.is_pending());
    sys.thaw_workqueues();
    let (s, w2) = (sys.clone(), w.clone());
    m.run_on(CpuId(1), move |t| s.flush_work(t, &w2)).unwrap().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(!sys.workqueue_congested(Some(CpuId(0)), &fz));
}

// kernel/workqueue.c disable_work / enable_work: while disabled every queue attempt
// returns false; enable returns true only when the count reaches zero; underflow is
// an error (Linux WARNs).
#[test]
fn disabled_work_refuses_queueing_until_enabled() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_ordered_workqueue("disable", 0).unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let w = Work::new(move |_s, _w, _t| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    sys.queue_work(&wq, &blocker(gate.clone())).unwrap();
    sys.queue_work(&wq, &w).unwrap();
    assert_eq!(sys.disable_work(&w), Ok(true), "it was pending");
    assert_eq!(sys.disable_work(&w), Ok(false), "idle, now disabled twice");
    assert_eq!(sys.queue_work(&wq, &w), Ok(false), "disabled");
    assert!(!w.is_pending());
    assert_eq!(sys.enable_work(&w), Ok(false), "still disabled once");
    assert_eq!(sys.enable_and_queue_work(&wq, &w), Ok(true), "enabled and queued");
    assert_eq!(
        sys.enable_work(&w),
        Err(IrqError::InvalidArgument("work disable count underflowed"))
    );
    gate.store(true, Ordering::SeqCst);
    let s = sys.clone();
    m.run_on(CpuId(0), move |t| s.flush_workqueue(t, &wq)).unwrap().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

// kernel/workqueue.c workqueue_set_max_active: raising the limit activates inactive
// works at once.
#[test]
fn raising_max_active_activates_inactive_works() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("setmax", WQ_UNBOUND, 1).unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let w = Work::new(move |_s, _w, _t| r2.store(true, Ordering::SeqCst));
    sys.queue_work(&wq, &blocker(gate.clone())).unwrap();
    sys.queue_work(&wq, &w).unwrap();
    assert!(sys.workqueue_congested(None, &wq));
    sys.workqueue_set_max_active(&wq, 2);
    assert_eq!(wq.max_active(), 2);
    // Runs while the blocker still holds the first slot.
    common::wait_until("activated work ran", || ran.load(Ordering::SeqCst));
    gate.store(true, Ordering::SeqCst);
    let s = sys.clone();
    m.run_on(CpuId(0), move |t| s.flush_workqueue(t, &wq)).unwrap().unwrap();
}

// kernel/workqueue.c __cancel_work_sync: the work is disabled while cancelling, so a
// self-requeueing work stops: on return it is neither pending nor running.
#[test]
fn cancel_work_sync_stops_a_self_requeueing_work() {
    let m = machine();
    let sys = m.sys().clone();
    let wq = sys.alloc_workqueue("selfq", WQ_PERCPU, 0).unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let (r2, wq2) = (runs.clone(), wq.clone());
    let w = Work::new(move |s, me, t| {
        r2.fetch_add(1, Ordering::SeqCst);
        msleep(s, t, 1).unwrap();
        let _ = s.queue_work(&wq2, me);
    });
    sys.queue_work_on(Some(CpuId(0)), &wq, &w).unwrap();
    common::wait_until("a few rounds", || runs.load(Ordering::SeqCst) >= 3);
    let (s, w2) = (sys.clone(), w.clone());
    let (r, busy) = m
        .run_on(CpuId(1), move |t| {
            let r = s.cancel_work_sync(t, &w2);
            (r, s.work_busy(&w2))
        })
        .unwrap();
    assert!(r.is_ok());
    assert_eq!(busy, 0, "neither pending nor running after cancel_work_sync");
    let after = runs.load(Ordering::SeqCst);
    let (s, wq3) = (sys.clone(), wq.clone());
    m.run_on(CpuId(0), move |t| s.flush_workqueue(t, &wq3)).unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), after, "it did not come back");
}
