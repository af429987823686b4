//! loom models of the incoming ring (`incoming.rs`, `pool_lock.rs`): racing producers
//! each hand their item over exactly once and in order, and an item left on the ring
//! lock-free is always moved in by someone once a wake-up becomes due (the lock
//! holder's close at the head against the producer's publishing exchange on the same
//! slot), also when a finishing worker opens the ring outside the lock.

use super::incoming::{Incoming, Peek, Push};
use crate::sync::atomic::{AtomicBool, Ordering};
use alloc::sync::Arc;
use alloc::vec::Vec;
use loom::sync::{Mutex, MutexGuard};

/// What the pool lock guards in the model: the "worklist", and whether the state it
/// leaves lets items onto the ring (`PoolInner::fast_ok`).
struct Inner {
    list: Vec<u32>,
    open: bool,
}

/// The pool in the model: the lock, and the ring beside it as in `Pool`.
struct Pool {
    inner: Mutex<Inner>,
    ring: Incoming<u32>,
}

impl Pool {
    /// Two slots, open (owing no wake-up yet) or closed.
    fn new(open: bool) -> Arc<Pool> {
        let ring = if open { Incoming::new(2) } else { Incoming::new_closed(2) };
        Arc::new(Pool { inner: Mutex::new(Inner { list: Vec::new(), open }), ring })
    }

    /// `Pool::lock`: the lock, with the ring moved in.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().unwrap();
        drain(self, &mut g.list);
        g
    }
}

fn drain(pool: &Pool, list: &mut Vec<u32>) {
    while let Some(x) = pool.ring.pop() {
        list.push(x);
    }
}

/// The guard's unlock (`PoolGuard::drop`): open or close the ring as the state says;
/// a close that finds an item published at the head moves it in and tries again.
fn unlock(pool: &Pool, mut g: MutexGuard<'_, Inner>) {
    if g.open {
        pool.ring.open();
    } else {
        while !pool.ring.close() {
            drain(pool, &mut g.list);
        }
    }
}

/// `Pool::queue_lockless` followed by the locked fallback of `__queue_work`; true
/// if a lock it took moved its item in (that lock's unlock or insertion kicks).
fn queue(pool: &Pool, x: u32) -> bool {
    match pool.ring.push(x) {
        Push::Done => false,
        Push::Closed => {
            let g = pool.lock();
            let moved = g.list.contains(&x);
            unlock(pool, g);
            moved
        }
        Push::Refused(x) => {
            let mut g = pool.lock();
            // `drain_all`: wait out a claimed slot not yet published.
            while !pool.ring.is_empty() {
                loom::thread::yield_now();
                drain(pool, &mut g.list);
            }
            g.list.push(x);
            unlock(pool, g);
            true
        }
    }
}

// kernel/workqueue.c kick_pool: an item is never left where no worker will look
// once a wake-up is owed. Here a worker goes idle (the ring closes) while a
// producer queues: after both, the item must be on the list and the ring closed.
#[test]
fn ring_item_is_never_stranded_when_a_wakeup_becomes_due() {
    loom::model(|| {
        let pool = Pool::new(true);
        let p2 = pool.clone();
        let producer = loom::thread::spawn(move || queue(&p2, 7));
        {
            // A worker going idle: lock (drains), and the state now says "a kick
            // would wake someone": the unlock closes the ring.
            let mut g = pool.lock();
            g.open = false;
            unlock(&pool, g);
        }
        producer.join().unwrap();
        assert_eq!(pool.inner.lock().unwrap().list, alloc::vec![7], "item stranded on the ring");
        assert!(pool.ring.is_closed(), "the ring was left open while a wake-up is owed");
    });
}

/// Two producers queue two items each while a lock holder unlocks once, leaving the
/// ring open or (`close`) closing it: every item arrives exactly once and each
/// producer's items keep their order (a claimed but unpublished slot stops the
/// consumer instead of being skipped); a closed ring ends up holding nothing.
fn two_producers_and_one_unlock(close: bool) {
    // Three threads and a retry loop: bound the preemptions to keep it to seconds.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(move || {
        let pool = Pool::new(true);
        let hs: Vec<_> = [(1u32, 2u32), (10, 11)]
            .into_iter()
            .map(|(a, b)| {
                let p = pool.clone();
                loom::thread::spawn(move || {
                    queue(&p, a);
                    queue(&p, b);
                })
            })
            .collect();
        let mut g = pool.lock();
        g.open = !close;
        unlock(&pool, g);
        for h in hs {
            h.join().unwrap();
        }
        assert!(!close || pool.ring.is_empty(), "an item stayed on the closed ring");
        let g = pool.lock();
        let pos = |x: u32| g.list.iter().position(|&y| y == x).expect("item lost");
        assert_eq!(g.list.len(), 4, "an item was handed over twice");
        assert!(pos(1) < pos(2) && pos(10) < pos(11), "a producer's order broke");
    });
}

#[test]
fn ring_hands_each_item_over_once_in_order() {
    two_producers_and_one_unlock(false);
}

// Closing while both producers are at work: whichever of push, publish and close
// come first, nothing stays on the ring and nothing is lost or reordered.
#[test]
fn closing_ring_hands_each_item_over_once_in_order() {
    two_producers_and_one_unlock(true);
}

// worker.rs `idle_spin`: an idle worker that polls counts as one on its way, so a
// producer leaves its item on the ring and wakes nobody. The poll ends either on
// seeing the ring (the worker takes the item in) or by stopping under the pool lock,
// whose unlock closes the ring; a producer that then finds it closed takes the lock
// itself, which kicks the now sleeping worker. Either way the item reaches the
// worker: it never sleeps with the item unseen and unkicked.
#[test]
fn polling_worker_never_sleeps_past_a_ring_item() {
    loom::model(|| {
        let pool = Pool::new(true); // open: the worker is polling
                                    // Set under the lock when the worker stops polling to sleep; a locked
                                    // queueing that then finds an item for it kicks it (`kick_deferred`).
        let sleeping = Arc::new(AtomicBool::new(false));
        let kicked = Arc::new(AtomicBool::new(false));
        let (p2, s2, k2) = (pool.clone(), sleeping.clone(), kicked.clone());
        let producer = loom::thread::spawn(move || {
            queue(&p2, 7);
            // Any lock this producer took after the worker went to sleep kicked it.
            let g = p2.lock();
            if s2.load(Ordering::Relaxed) && !g.list.is_empty() {
                k2.store(true, Ordering::Relaxed);
            }
            unlock(&p2, g);
        });
        // One round of the poll: seeing the ring, the worker takes the lock (which
        // drains); finding nothing there (a slot claimed, not yet published), it
        // polls on, here straight to the poll's end.
        let mut saw = false;
        if pool.ring.peek(pool.ring.head()) == Peek::Published {
            let g = pool.lock();
            saw = !g.list.is_empty();
            unlock(&pool, g);
        }
        if !saw {
            let mut g = pool.lock();
            g.open = false;
            // The unlock's close moves in what it finds at the head; its kick goes
            // to this worker if the list then holds the item.
            while !pool.ring.close() {
                drain(&pool, &mut g.list);
            }
            saw = !g.list.is_empty();
            sleeping.store(!saw, Ordering::Relaxed);
        }
        producer.join().unwrap();
        assert!(
            saw || kicked.load(Ordering::Relaxed),
            "the worker slept with an item it neither saw nor was kicked for"
        );
    });
}

// process.rs: a worker whose item returned opens the ring before it takes the lock
// (`Pool::open_ring_until_locked`), though a sleeping idle worker is owed a kick for
// any item queued (the ring was closed), while another lock holder may close it
// again. The item ends up taken by the finishing worker, or on the list with a kick
// issued (by a locked queueing or an unlock that found it): never on the ring.
#[test]
fn finishing_worker_opening_the_ring_strands_nothing() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let pool = Pool::new(false);
        let kicked = Arc::new(AtomicBool::new(false));
        let (p2, k2) = (pool.clone(), kicked.clone());
        let producer = loom::thread::spawn(move || {
            if queue(&p2, 7) {
                k2.store(true, Ordering::Relaxed);
            }
        });
        // Another holder (say a second worker going idle) whose unlock closes.
        let (p3, k3) = (pool.clone(), kicked.clone());
        let other = loom::thread::spawn(move || {
            let mut g = p3.lock();
            while !p3.ring.close() {
                drain(&p3, &mut g.list);
            }
            if !g.list.is_empty() {
                k3.store(true, Ordering::Relaxed);
            }
        });
        // The finishing worker: open, lock (drains), take what is there, and at the
        // unlock find a kick owed again (a sleeping idle worker).
        pool.ring.open();
        let mut taken = Vec::new();
        {
            let mut g = pool.lock();
            taken.append(&mut g.list);
            while !pool.ring.close() {
                drain(&pool, &mut g.list);
            }
            if !g.list.is_empty() {
                kicked.store(true, Ordering::Relaxed);
            }
        }
        producer.join().unwrap();
        other.join().unwrap();
        let g = pool.inner.lock().unwrap();
        assert!(pool.ring.is_empty(), "item stranded on the ring");
        assert!(
            taken == alloc::vec![7] || (g.list == alloc::vec![7] && kicked.load(Ordering::Relaxed)),
            "item neither taken nor kicked for: taken {taken:?}, list {:?}",
            g.list
        );
    });
}
