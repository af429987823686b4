//! Conformance tests of the lock-free queueing path (`pool_lock.rs`) on the fake
//! platform: an item still on a pool's incoming ring obeys every rule a locked
//! `__queue_work` gives it (kernel/workqueue.c: try_to_grab_pending, pwq_activate
//! order under max_active, flush colours). The fake platform runs no worker threads,
//! so its pools have no worker to kick and queueing there takes the ring.

use alloc::sync::Arc;

use super::pool::Pool;
use super::*;
use crate::cpu::CpuId;
use crate::testing::FakePlatform;

fn setup(max_active: i32) -> (Arc<IrqSystem>, Arc<FakePlatform>, Workqueue, Arc<Pool>) {
    let (sys, p) = FakePlatform::system(1);
    FakePlatform::enter_cpu(CpuId(0));
    // The pools are made before the first worker, whose thread the fake platform
    // refuses: what is left is pools with no worker at all, which owe no wake-up.
    assert!(sys.workqueue_init().is_err());
    let wq = sys.alloc_workqueue("ring", WQ_PERCPU, max_active).unwrap();
    let pool = wq.0.pools[0].clone();
    (sys, p, wq, pool)
}

/// A stand-in worker (the fake platform runs no threads) put on the pool's idle
/// list, asleep: a kick is owed to it, so the ring closes.
fn sleeping_idle_worker(sys: &IrqSystem, pool: &Arc<Pool>) -> Arc<super::worker::Worker> {
    let name = alloc::string::String::from("kworker/0:9");
    let w = super::worker::Worker::new_rescuer(pool, name, crate::sched::ThreadId(999));
    pool.lock(sys).idle.push(w.clone());
    assert!(pool.incoming.is_closed(), "a sleeping idle worker is owed a wake-up");
    w
}

/// The works on the pool's worklist, in order (raw lock: the ring is not drained).
fn worklist(pool: &Pool, sys: &IrqSystem) -> alloc::vec::Vec<usize> {
    pool.inner.lock_irqsave(sys).worklist.iter().map(|it| it.work.addr()).collect()
}

// The fast path is really taken here (else the tests below would test nothing): a
// pool that owes no wake-up takes items lock-free, and its next lock moves them in.
#[test]
fn queue_work_owing_no_wakeup_goes_to_the_incoming_ring() {
    let (sys, _p, wq, pool) = setup(0);
    let (a, b) = (Work::new(|_, _, _| {}), Work::new(|_, _, _| {}));
    assert!(sys.queue_work(&wq, &a).unwrap());
    assert!(sys.queue_work(&wq, &b).unwrap());
    assert!(!pool.incoming.is_empty(), "a and b should be on the ring");
    assert!(worklist(&pool, &sys).is_empty());
    // work_pending: PENDING is set as for any queued work; queueing again is refused.
    assert!(b.is_pending());
    assert!(!sys.queue_work(&wq, &b).unwrap());
    drop(pool.lock(&sys));
    assert_eq!(worklist(&pool, &sys), [a.addr(), b.addr()]);
}

// kernel/workqueue.c try_to_grab_pending: a work queued but not yet run is stolen and
// cancel_work returns true, also while it is still on the incoming ring; a second
// cancel finds it idle and returns false.
#[test]
fn cancel_work_of_an_item_on_the_incoming_ring_returns_true() {
    let (sys, _p, wq, pool) = setup(0);
    let (a, b) = (Work::new(|_, _, _| {}), Work::new(|_, _, _| {}));
    sys.queue_work(&wq, &a).unwrap();
    sys.queue_work(&wq, &b).unwrap();
    assert!(!pool.incoming.is_empty());
    assert!(sys.cancel_work(&b));
    assert!(!b.is_pending() && !b.is_queued());
    assert!(!sys.cancel_work(&b));
    assert_eq!(pool.lock(&sys).pwq_counts(wq.0.id), Some((1, 0)));
    assert_eq!(worklist(&pool, &sys), [a.addr()]);
    // It can be queued again afterwards.
    assert!(sys.queue_work(&wq, &b).unwrap());
    assert!(sys.cancel_work(&a) && sys.cancel_work(&b));
    assert!(wq.0.idle(&sys));
}

// kernel/workqueue.c __queue_work + pwq_dec_nr_in_flight/pwq_activate: with
// max_active 1, items handed over lock-free wait on the inactive list and are
// activated in queueing order.
#[test]
fn ring_items_respect_max_active_and_activation_order() {
    let (sys, _p, wq, pool) = setup(1);
    let w: alloc::vec::Vec<Work> = (0..3).map(|_| Work::new(|_, _, _| {})).collect();
    for x in &w {
        sys.queue_work(&wq, x).unwrap();
    }
    assert_eq!(pool.lock(&sys).pwq_counts(wq.0.id), Some((1, 2)));
    assert!(sys.cancel_work(&w[0]));
    assert_eq!(worklist(&pool, &sys), [w[1].addr()], "the oldest inactive activates first");
    assert!(sys.cancel_work(&w[1]));
    assert_eq!(worklist(&pool, &sys), [w[2].addr()]);
    assert!(sys.cancel_work(&w[2]));
}

// kernel/workqueue.c flush_workqueue_prep_pwqs: a flush waits for every colour
// opened before it, including items still on the incoming ring.
#[test]
fn flush_colour_counts_items_still_on_the_ring() {
    let (sys, _p, wq, pool) = setup(0);
    let (a, b) = (Work::new(|_, _, _| {}), Work::new(|_, _, _| {}));
    sys.queue_work(&wq, &a).unwrap();
    sys.queue_work(&wq, &b).unwrap();
    assert!(!pool.incoming.is_empty());
    let color = wq.0.flush_color.fetch_add(1, crate::sync::atomic::Ordering::SeqCst);
    assert!(sys.cancel_work(&a));
    assert!(!wq.0.flushed_upto(&sys, color), "b (on the ring) is in flight");
    assert!(sys.cancel_work(&b));
    assert!(wq.0.flushed_upto(&sys, color));
}

// __queue_work's FIFO: once a wake-up is owed again the locked path is taken, and an
// item it queues never overtakes one already on the ring.
#[test]
fn locked_queueing_never_overtakes_a_ring_item() {
    let (sys, _p, wq, pool) = setup(0);
    // One more than the ring holds: the last is refused and takes the lock.
    let n = super::incoming::INCOMING_SLOTS + 1;
    let w: alloc::vec::Vec<Work> = (0..n).map(|_| Work::new(|_, _, _| {})).collect();
    for x in &w[..n - 1] {
        sys.queue_work(&wq, x).unwrap();
    }
    assert!(worklist(&pool, &sys).is_empty(), "all on the ring");
    sys.queue_work(&wq, &w[n - 1]).unwrap();
    let order: alloc::vec::Vec<usize> = w.iter().map(|x| x.addr()).collect();
    assert_eq!(worklist(&pool, &sys), order);
    for x in &w {
        assert!(sys.cancel_work(x));
    }
}

// destroy_workqueue (kernel/workqueue.c): once drained, the workqueue's pwqs let go
// of it, so it is freed when its last handle goes. Items hold no count on it (see
// `WqRef`): the pwqs are what kept it alive, and they must not keep it forever.
#[test]
fn destroyed_workqueue_is_freed_once_its_handles_drop() {
    let (sys, _p, wq, pool) = setup(0);
    let a = Work::new(|_, _, _| {});
    sys.queue_work(&wq, &a).unwrap();
    assert!(sys.cancel_work(&a));
    assert!(pool.lock(&sys).pwqs.contains_key(&wq.0.id), "linked at alloc_workqueue");
    let task = crate::cpu::Task::entered();
    sys.destroy_workqueue(&task, &wq).unwrap();
    assert!(!pool.lock(&sys).pwqs.contains_key(&wq.0.id), "unlinked after the drain");
    let weak = Arc::downgrade(&wq.0);
    drop(wq);
    assert!(weak.upgrade().is_none(), "nothing else holds a destroyed workqueue");
}

// __queue_work racing destroy_workqueue (which Linux forbids): an item that reaches
// the ring after the pwq went is dropped, its work left idle and counted done (so a
// flush of it returns), and logged; nothing touches the workqueue it names.
#[test]
fn item_queued_past_destroy_is_dropped_and_its_work_left_idle() {
    let (sys, _p, wq, pool) = setup(0);
    let task = crate::cpu::Task::entered();
    sys.destroy_workqueue(&task, &wq).unwrap();
    let a = Work::new(|_, _, _| {});
    // What a producer that read the state before DESTROYING would do.
    assert!(a.try_claim_pending());
    a.0.nr_queued.fetch_add(1, crate::sync::atomic::Ordering::SeqCst);
    pool.incoming.open();
    let item = super::pool::Item::new(a.clone(), &wq.0, wq.0.flush_get());
    assert!(pool.queue_lockless(&sys, item).is_ok(), "took the ring");
    drop(pool.lock(&sys));
    assert!(!a.is_pending() && !a.is_queued());
    assert_eq!(sys.flush_work(&task, &a), Ok(false), "nothing left to wait for");
    let log = sys.wq.log.lock_irqsave(&sys).clone();
    assert!(log.iter().any(|l| l.contains("queued on a destroyed workqueue")), "{log:?}");
}

// kick_pool on an idle worker that polls before it sleeps (worker.rs `idle_spin`,
// Linux's TIF_POLLING_NRFLAG idea): a producer owes it no wake-up, so it takes the
// ring; a locked queueing only marks it woken. A sleeping idle worker is claimed
// and owed a wake-up as before.
#[test]
fn polling_idle_worker_is_owed_no_wakeup() {
    use crate::sync::atomic::Ordering::SeqCst;
    let (sys, _p, wq, pool) = setup(0);
    let w = sleeping_idle_worker(&sys, &pool);
    let a = Work::new(|_, _, _| {});
    sys.queue_work(&wq, &a).unwrap();
    assert!(w.is_woken() && pool.incoming.is_empty(), "locked path, worker claimed");
    assert!(sys.cancel_work(&a));
    {
        let g = pool.lock(&sys);
        w.woken.store(false, SeqCst);
        w.polling.store(true, SeqCst);
        drop(g);
    }
    assert!(!pool.incoming.is_closed(), "a polling worker is on its way");
    sys.queue_work(&wq, &a).unwrap();
    assert!(!pool.incoming.is_empty() && !w.is_woken(), "ring, no wake-up");
    // A queueing that takes the lock finds the polling worker: woken, no Wake.
    let g = pool.lock(&sys);
    assert!(matches!(g.kick_deferred(&sys), super::pool::Kick::Done));
    assert!(w.is_woken());
    drop(g);
    assert!(sys.cancel_work(&a));
}

// worker.rs `idle_spin` polls one slot with `peek`: empty until its item is
// published, published until the consumer takes it, consumed after (also once the
// ring has wrapped and the slot holds a later position's item).
#[test]
fn ring_peek_tells_empty_published_and_consumed_apart() {
    use super::incoming::{Incoming, Peek, Push};
    let ring = Incoming::<u32>::new(2);
    assert_eq!(ring.peek(ring.head()), Peek::Empty);
    for round in 0..3u32 {
        let pos = ring.head();
        assert!(matches!(ring.push(round), Push::Done));
        assert_eq!(ring.peek(pos + 1), Peek::Empty, "round {round}: next slot not yet");
        assert!(matches!(ring.push(round + 10), Push::Done));
        assert!(matches!(ring.push(99), Push::Refused(99)), "a full ring gives it back");
        assert_eq!(ring.peek(pos), Peek::Published);
        assert_eq!(ring.pop(), Some(round));
        assert_eq!(ring.peek(pos), Peek::Consumed);
        assert_eq!(ring.peek(pos + 1), Peek::Published);
        assert_eq!(ring.pop(), Some(round + 10));
        assert_eq!(ring.peek(pos + 1), Peek::Consumed);
        assert_eq!(ring.peek(ring.head()), Peek::Empty, "round {round}: nothing left");
        assert!(matches!(ring.push(7), Push::Done));
        assert_eq!(ring.peek(pos), Peek::Consumed, "its slot now holds a later item");
        assert_eq!(ring.pop(), Some(7));
    }
}

// pool_lock.rs: a ring closed at its head refuses producers (they take the lock)
// and shows pollers nothing; it closes only once drained up to the head, and opens
// again where it closed.
#[test]
fn closed_ring_refuses_items_until_opened() {
    use super::incoming::{Incoming, Peek, Push};
    let ring = Incoming::<u32>::new_closed(2);
    assert!(ring.is_closed());
    assert!(matches!(ring.push(1), Push::Refused(1)), "closed: the item comes back");
    assert_eq!(ring.peek(ring.head()), Peek::Empty, "the mark is no item");
    ring.open();
    assert!(!ring.is_closed());
    assert!(matches!(ring.push(1), Push::Done));
    assert!(!ring.close(), "an item waits at the head: drain first");
    assert!(!ring.is_closed());
    assert_eq!(ring.pop(), Some(1));
    assert!(ring.close() && ring.close(), "drained: closes, and stays closed");
    assert!(matches!(ring.push(2), Push::Refused(2)));
    assert_eq!(ring.pop(), None);
    ring.open();
    assert!(matches!(ring.push(2), Push::Done));
    assert!(matches!(ring.push(3), Push::Done));
    assert_eq!((ring.pop(), ring.pop()), (Some(2), Some(3)), "nothing lost, in order");
}

// kernel/workqueue.c kick_pool / need_more_worker: an idle worker is woken only if
// work waits that no running worker will take. A worker whose item returned opens
// the ring before it takes the lock (`Pool::open_ring_until_locked`), though a
// sleeping idle worker would be owed a kick for anything queued. What it moves in
// and takes itself owes that worker nothing: the kick is decided at the unlock.
#[test]
fn ring_item_taken_by_the_finishing_worker_wakes_no_idle_worker() {
    let (sys, _p, wq, pool) = setup(0);
    let idle = sleeping_idle_worker(&sys, &pool);
    let a = Work::new(|_, _, _| {});
    pool.open_ring_until_locked();
    sys.queue_work(&wq, &a).unwrap();
    assert!(!pool.incoming.is_empty(), "the finishing worker let it onto the ring");
    let mut g = pool.lock(&sys);
    // The finishing worker takes it for itself (`assign_work`).
    let taken = g.worklist.pop_front().expect("moved in by the lock");
    assert!(taken.work.ptr_eq(&a));
    drop(g);
    assert!(!idle.is_woken(), "nothing waits: no wake-up");
    assert!(pool.incoming.is_closed(), "the unlock closes the ring again");
    // Hand it back as queued, and let the next lock find it waiting instead.
    pool.inner.lock_irqsave(&sys).worklist.push_back(taken);
    assert!(sys.cancel_work(&a));
    pool.open_ring_until_locked();
    sys.queue_work(&wq, &a).unwrap();
    drop(pool.lock(&sys));
    assert!(idle.is_woken(), "an item left waiting kicks the idle worker at the unlock");
    assert!(sys.cancel_work(&a));
}
