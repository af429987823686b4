//! Conformance tests for the timer wheel (kernel/time/timer.c) on `FakePlatform`: the
//! test moves the fake clock and plays the tick interrupt.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use irqkit_core::system::SystemConfig;
use irqkit_core::testing::FakePlatform;
use irqkit_core::timer::{Timer, TIMER_DEFERRABLE};
use irqkit_core::{CpuId, IrqError, IrqSystem, Task};

/// Moves the clock to jiffy `j` (HZ=1000) and runs the tick interrupt on this CPU.
fn tick_to(sys: &IrqSystem, p: &FakePlatform, j: u64) {
    p.now.store(j * 1_000_000, std::sync::atomic::Ordering::SeqCst);
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    sys.tick(&h);
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

/// (jiffies, cpu) of each run.
type RunLog = Arc<Mutex<Vec<(u64, u32)>>>;

/// A timer that records the jiffies and CPU of each run.
fn recorder() -> (RunLog, Timer) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let t = Timer::new(move |sys, _, _| {
        assert!(sys.in_serving_softirq());
        l2.lock().unwrap().push((sys.jiffies(), sys.current_cpu().unwrap().0));
    });
    (log, t)
}

// kernel/time/timer.c calc_index: "a timer does not fire early"; level-0 timers fire at
// most one jiffy late.
#[test]
fn timer_fires_at_expiry_never_early() {
    let (sys, p) = FakePlatform::system(1);
    let (log, t) = recorder();
    t.add(&sys, 5).unwrap();
    assert!(t.pending() && sys.timer_pending(&t));
    for j in 1..=5 {
        tick_to(&sys, &p, j);
        if j < 5 {
            assert!(log.lock().unwrap().is_empty(), "fired early at {j}");
        }
    }
    tick_to(&sys, &p, 6);
    assert_eq!(log.lock().unwrap().len(), 1);
    assert!(log.lock().unwrap()[0].0 >= 5 && log.lock().unwrap()[0].0 <= 6);
    assert!(!t.pending());
}

// kernel/time/timer.c: timers further out land on coarser levels and fire within one
// granule of their level (8 jiffies at level 1, 64 at level 2).
#[test]
fn far_timers_fire_within_their_level_granularity() {
    let (sys, p) = FakePlatform::system(1);
    let (log, t) = recorder();
    t.add(&sys, 1000).unwrap();
    let mut fired_at = None;
    for j in (0..=1100).step_by(1) {
        tick_to(&sys, &p, j);
        if fired_at.is_none() && !log.lock().unwrap().is_empty() {
            fired_at = Some(j);
        }
    }
    let at = fired_at.unwrap();
    assert!((1000..=1064).contains(&at), "fired at {at}");
    assert_eq!(log.lock().unwrap().len(), 1);
}

// kernel/time/timer.c mod_timer: returns whether the timer was pending; re-arms.
#[test]
fn mod_timer_reports_pending_and_moves_the_expiry() {
    let (sys, p) = FakePlatform::system(1);
    let (log, t) = recorder();
    assert!(!t.modify(&sys, 10));
    assert!(sys.mod_timer(&t, 20));
    assert!(t.modify(&sys, 20), "same expiry: still pending");
    tick_to(&sys, &p, 15);
    assert!(log.lock().unwrap().is_empty());
    tick_to(&sys, &p, 25);
    assert_eq!(log.lock().unwrap().len(), 1);
}

// kernel/time/timer.c del_timer: a deleted timer never fires; returns whether pending.
#[test]
fn del_timer_prevents_the_run() {
    let (sys, p) = FakePlatform::system(1);
    let (log, t) = recorder();
    t.add(&sys, 3).unwrap();
    assert!(t.del(&sys));
    assert!(!sys.del_timer(&t));
    tick_to(&sys, &p, 10);
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(t.del_sync(&sys, &Task::entered()), Ok(false));
}

// kernel/time/timer.c add_timer: BUG_ON(timer_pending(timer)) — here `Busy`.
#[test]
fn add_timer_of_a_pending_timer_is_busy_and_unchanged() {
    let (sys, _p) = FakePlatform::system(1);
    let (_log, t) = recorder();
    sys.add_timer(&t, 7).unwrap();
    assert!(matches!(t.add(&sys, 9), Err(IrqError::Busy(_))));
    assert_eq!(t.expires(), 7);
}

// kernel/time/timer.c del_timer_sync: "must not be called from interrupt context
// unless the timer is irqsafe" — here any atomic context is `WrongContext`.
#[test]
fn del_timer_sync_from_atomic_context_is_wrong_context() {
    let (sys, _p) = FakePlatform::system(1);
    let (_log, t) = recorder();
    t.add(&sys, 7).unwrap();
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    assert!(matches!(t.del_sync(&sys, &Task::entered()), Err(IrqError::WrongContext(_))));
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
    assert!(t.pending(), "nothing changed");
    assert_eq!(sys.del_timer_sync(&t, &Task::entered()), Ok(true));
}

// kernel/time/timer.c add_timer_on: the timer runs on the named CPU.
#[test]
fn add_timer_on_runs_on_that_cpu_and_refuses_offline_cpus() {
    let (sys, p) = FakePlatform::system(2);
    let (log, t) = recorder();
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    assert_eq!(t.add_on(&sys, 4, CpuId(1)), Err(IrqError::CpuOffline(1)));
    assert!(t.add_on(&sys, 4, CpuId(5)).is_err());
    assert!(!t.pending());
    sys.cpu(CpuId(1)).unwrap().set_online(true);
    sys.add_timer_on(&t, 4, CpuId(1)).unwrap();
    tick_to(&sys, &p, 10);
    assert!(log.lock().unwrap().is_empty(), "not CPU 0's timer");
    FakePlatform::enter_cpu(CpuId(1));
    tick_to(&sys, &p, 10);
    assert_eq!(log.lock().unwrap()[..], [(10, 1)]);
}

// kernel/time/timer.c: callbacks run with the base unlocked and may re-arm themselves.
#[test]
fn timer_rearming_itself_runs_periodically() {
    let (sys, p) = FakePlatform::system(1);
    let runs = Arc::new(AtomicU32::new(0));
    let r2 = runs.clone();
    let t = Timer::new(move |sys, t, _| {
        if r2.fetch_add(1, Ordering::SeqCst) < 4 {
            t.modify(sys, sys.jiffies() + 10);
        }
    });
    t.add(&sys, 10).unwrap();
    for j in 0..=100 {
        tick_to(&sys, &p, j);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    assert!(!t.pending());
}

// kernel/time/timer.c: several timers due on one tick all run, exactly once each.
#[test]
fn many_timers_each_fire_exactly_once() {
    let (sys, p) = FakePlatform::system(1);
    let fired = Arc::new(AtomicU64::new(0));
    let timers: Vec<Timer> = (0..500u64)
        .map(|i| {
            let f = fired.clone();
            let t = Timer::new(move |sys, t, _| {
                assert!(sys.jiffies() >= t.expires());
                f.fetch_add(1, Ordering::SeqCst);
            });
            t.add(&sys, 1 + (i * 37) % 3000).unwrap();
            t
        })
        .collect();
    for j in (0..=4000).step_by(3) {
        tick_to(&sys, &p, j);
    }
    assert_eq!(fired.load(Ordering::SeqCst), 500);
    assert!(timers.iter().all(|t| !t.pending()));
}

// kernel/time/timer.c BASE_DEF: deferrable timers still run on a busy CPU, but an idle
// CPU need not wake for them (get_next_timer_interrupt ignores them).
#[test]
fn deferrable_timer_runs_but_does_not_set_the_next_wakeup() {
    let (sys, p) = FakePlatform::system(1);
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let d = Timer::with_flags(TIMER_DEFERRABLE, move |_, _, _| {
        n2.fetch_add(1, Ordering::SeqCst);
    });
    assert!(d.is_deferrable());
    d.add(&sys, 8).unwrap();
    assert_eq!(sys.next_timer_expiry(CpuId(0)), None);
    let (_log, t) = recorder();
    t.add(&sys, 20).unwrap();
    assert_eq!(sys.next_timer_expiry(CpuId(0)), Some(21));
    tick_to(&sys, &p, 9);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

// include/linux/jiffies.h msecs_to_jiffies rounds up.
#[test]
fn msecs_to_jiffies_rounds_up() {
    let p = Arc::new(FakePlatform::default());
    let sys =
        IrqSystem::new(SystemConfig { nr_cpus: 1, hz: 250, ..Default::default() }, p).unwrap();
    assert_eq!(sys.msecs_to_jiffies(0), 0);
    assert_eq!(sys.msecs_to_jiffies(1), 1);
    assert_eq!(sys.msecs_to_jiffies(4), 1);
    assert_eq!(sys.msecs_to_jiffies(5), 2);
    assert_eq!(sys.jiffies_to_msecs(2), 8);
    let (sys, _p) = FakePlatform::system(1);
    assert_eq!(sys.msecs_to_jiffies(2), 2);
}

// kernel/time/timer.c: jiffies follows the clock and never goes backwards.
#[test]
fn jiffies_advance_from_the_clock_monotonically() {
    let (sys, p) = FakePlatform::system(2);
    tick_to(&sys, &p, 42);
    assert_eq!(sys.jiffies(), 42);
    tick_to(&sys, &p, 40);
    assert_eq!(sys.jiffies(), 42);
}

// kernel/time/timer.c timers_dead_cpu: a dead CPU's timers move and still fire.
#[test]
fn dead_cpu_timers_are_taken_over_and_fire() {
    let (sys, p) = FakePlatform::system(2);
    let (log, t) = recorder();
    let (dlog, d) = {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        let d = Timer::with_flags(TIMER_DEFERRABLE, move |sys, _, _| {
            l2.lock().unwrap().push((sys.jiffies(), sys.current_cpu().unwrap().0));
        });
        (log, d)
    };
    t.add_on(&sys, 5, CpuId(1)).unwrap();
    d.add_on(&sys, 6, CpuId(1)).unwrap();
    assert!(matches!(sys.timers_takeover(CpuId(1)), Err(IrqError::Busy(_))));
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    sys.timers_takeover(CpuId(1)).unwrap();
    assert!(t.pending() && d.pending());
    tick_to(&sys, &p, 10);
    assert_eq!(log.lock().unwrap()[..], [(10, 0)]);
    assert_eq!(dlog.lock().unwrap()[..], [(10, 0)]);
    assert!(!t.del(&sys), "fired, so idle again");
}

// kernel/time/timer.c timers_dead_cpu / timers_prepare_cpu: once a dead CPU's wheel
// was emptied it takes no timer (it would never fire): mod_timer from a thread still
// leaving that CPU arms the timer on a live CPU instead, until the wheel is prepared
// for the CPU's return.
#[test]
fn dead_wheel_takes_no_timer_until_prepared() {
    let (sys, p) = FakePlatform::system(2);
    let (log, t) = recorder();
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    sys.timers_takeover(CpuId(1)).unwrap();
    FakePlatform::enter_cpu(Some(CpuId(1)));
    t.modify(&sys, 5);
    FakePlatform::enter_cpu(Some(CpuId(0)));
    assert_eq!(sys.next_timer_expiry(CpuId(1)), None);
    assert!(sys.next_timer_expiry(CpuId(0)).is_some());
    tick_to(&sys, &p, 7);
    let runs = log.lock().unwrap().clone();
    assert!(matches!(runs[..], [(5.., 0)]), "{runs:?}");
    // Prepared only while offline; then CPU 1's wheel takes timers again.
    sys.cpu(CpuId(1)).unwrap().set_online(true);
    assert!(matches!(sys.timers_prepare_cpu(CpuId(1)), Err(IrqError::Busy(_))));
    sys.cpu(CpuId(1)).unwrap().set_online(false);
    sys.timers_prepare_cpu(CpuId(1)).unwrap();
    sys.cpu(CpuId(1)).unwrap().set_online(true);
    t.add_on(&sys, 20, CpuId(1)).unwrap();
    assert!(sys.next_timer_expiry(CpuId(1)).is_some());
}

#[test]
fn timers_takeover_refuses_bad_cpus() {
    let (sys, _p) = FakePlatform::system(2);
    assert!(matches!(sys.timers_takeover(CpuId(9)), Err(IrqError::NotFound(_))));
    assert!(matches!(sys.timers_takeover(CpuId(1)), Err(IrqError::Busy(_))));
    FakePlatform::enter_cpu(None);
    assert!(matches!(sys.timers_takeover(CpuId(1)), Err(IrqError::WrongContext(_))));
}

// kernel/time/tick-sched.c tick_do_update_jiffies64: with the tick stopped, an
// interrupt or the idle exit brings jiffies up to the clock; that alone runs no timer
// (the restarted tick raises TIMER_SOFTIRQ).
#[test]
fn tick_do_update_jiffies64_catches_up_without_running_timers() {
    let (sys, p) = FakePlatform::system(1);
    let (log, t) = recorder();
    t.add(&sys, 5).unwrap();
    p.now.store(7_400_000, Ordering::SeqCst);
    assert_eq!(sys.update_jiffies(), 7);
    assert_eq!(sys.jiffies(), 7);
    p.now.store(3_000_000, Ordering::SeqCst);
    assert_eq!(sys.update_jiffies(), 7, "jiffies never go back");
    assert!(log.lock().unwrap().is_empty());
    tick_to(&sys, &p, 8);
    assert_eq!(log.lock().unwrap().len(), 1);
}

// kernel/time/timer.c trigger_dyntick_cpu / get_next_timer_interrupt / timer_clear_idle:
// a timer queued from another CPU as the first on a tickless idle CPU's base wakes that
// CPU (wake_up_nohz_cpu: a reschedule IPI); a later one, a deferrable one, a local one
// or one after timer_clear_idle does not.
#[test]
fn timer_queued_first_on_an_idle_cpu_wakes_it() {
    let (sys, p) = FakePlatform::system(2);
    let resched = |p: &FakePlatform| {
        p.ipis
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, i)| *c == CpuId(1) && *i == irqkit_core::Ipi::Reschedule)
            .count()
    };
    FakePlatform::enter_cpu(CpuId(1));
    assert_eq!(sys.timers_idle_enter(CpuId(1)), None);
    FakePlatform::enter_cpu(CpuId(0));
    let (_log, first) = recorder();
    first.add_on(&sys, 50, CpuId(1)).unwrap();
    assert_eq!(resched(&p), 1, "the first timer on an idle base kicks its CPU");
    let (_log, later) = recorder();
    later.add_on(&sys, 900, CpuId(1)).unwrap();
    let d = Timer::with_flags(TIMER_DEFERRABLE, |_, _, _| {});
    d.add_on(&sys, 2, CpuId(1)).unwrap();
    assert_eq!(resched(&p), 1, "a later or deferrable timer does not");
    FakePlatform::enter_cpu(CpuId(1));
    assert_eq!(sys.timers_idle_enter(CpuId(1)), Some(51));
    let (_log, local) = recorder();
    local.add(&sys, 3).unwrap();
    assert_eq!(resched(&p), 1, "a CPU queueing on its own base is awake");
    sys.timers_clear_idle(CpuId(1));
    FakePlatform::enter_cpu(CpuId(0));
    let (_log, busy) = recorder();
    busy.add_on(&sys, 1, CpuId(1)).unwrap();
    assert_eq!(resched(&p), 1, "a CPU with its tick running needs no kick");
}
