//! loom models of the incoming ring (`incoming.rs`, `pool_lock.rs`): racing producers
//! each hand their item over exactly once and in order, and an item left on the ring
//! lock-free is always moved in by someone once a wake-up becomes due (the flag
//! store then drain of the lock holder against the producer's publish then re-check),
//! also when a finishing worker turns the flag on outside the lock.

use super::incoming::{Incoming, Peek};
use crate::sync::atomic::{fence, AtomicBool, Ordering};
use alloc::sync::Arc;
use alloc::vec::Vec;
use loom::sync::Mutex;

/// The pool in the model: the lock guards the "worklist"; the ring and the flag sit
/// beside it as in `Pool`.
struct Pool {
    list: Mutex<Vec<u32>>,
    ring: Incoming<u32>,
    fast_ok: AtomicBool,
}

impl Pool {
    /// Two slots, owing no wake-up yet (`fast_ok`).
    fn new() -> Arc<Pool> {
        Arc::new(Pool {
            list: Mutex::new(Vec::new()),
            ring: Incoming::new(2),
            fast_ok: AtomicBool::new(true),
        })
    }
}

fn drain(pool: &Pool, list: &mut Vec<u32>) {
    while let Some(x) = pool.ring.pop() {
        list.push(x);
    }
}

/// `Pool::queue_lockless` followed by the locked fallback of `__queue_work`; true
/// if a lock it took moved an item in (that lock's unlock or insertion kicks).
fn queue(pool: &Pool, x: u32) -> bool {
    if pool.fast_ok.load(Ordering::Acquire) {
        match pool.ring.push(x) {
            Ok(()) => {
                fence(Ordering::SeqCst);
                if !pool.fast_ok.load(Ordering::Relaxed) {
                    let mut l = pool.list.lock().unwrap();
                    let before = l.len();
                    drain(pool, &mut l);
                    return l.len() > before;
                }
                return false;
            }
            Err(_) => {}
        }
    }
    let mut l = pool.list.lock().unwrap();
    // `drain_all`: wait out a claimed slot not yet published.
    drain(pool, &mut l);
    while !pool.ring.is_empty() {
        loom::thread::yield_now();
        drain(pool, &mut l);
    }
    l.push(x);
    true
}

// kernel/workqueue.c kick_pool: an item is never left where no worker will look
// once a wake-up is owed. Here a worker goes idle (the flag turns false) while a
// producer queues: after both, the item must be on the list.
#[test]
fn ring_item_is_never_stranded_when_a_wakeup_becomes_due() {
    loom::model(|| {
        let pool = Pool::new();
        let p2 = pool.clone();
        let producer = loom::thread::spawn(move || queue(&p2, 7));
        {
            // A worker going idle: lock (drains), then the guard's drop sees the
            // state turn "a kick would wake someone": store false, drain again.
            let mut l = pool.list.lock().unwrap();
            drain(&pool, &mut l);
            pool.fast_ok.store(false, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            drain(&pool, &mut l);
        }
        producer.join().unwrap();
        assert_eq!(*pool.list.lock().unwrap(), alloc::vec![7], "item stranded on the ring");
    });
}

// Two producers and a consumer under the lock: every item arrives exactly once and
// each producer's items keep their order (a claimed but unpublished slot stops the
// consumer instead of being skipped).
#[test]
fn ring_hands_each_item_over_once_in_order() {
    // Three threads and a retry loop: bound the preemptions to keep it to seconds.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let pool = Pool::new();
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
        drain(&pool, &mut pool.list.lock().unwrap());
        for h in hs {
            h.join().unwrap();
        }
        let mut l = pool.list.lock().unwrap();
        drain(&pool, &mut l);
        let pos = |x: u32| l.iter().position(|&y| y == x).expect("item lost");
        assert_eq!(l.len(), 4, "an item was handed over twice");
        assert!(pos(1) < pos(2) && pos(10) < pos(11), "a producer's order broke");
    });
}

// worker.rs `idle_spin`: an idle worker that polls counts as one on its way, so a
// producer leaves its item on the ring and wakes nobody. The poll ends either on
// seeing the ring (the worker takes the item in) or by stopping under the pool lock,
// whose unlock turns the flag off and drains; a producer that then finds the flag
// off takes the lock itself, which kicks the now sleeping worker. Either way the
// item reaches the worker: it never sleeps with the item unseen and unkicked.
#[test]
fn polling_worker_never_sleeps_past_a_ring_item() {
    loom::model(|| {
        let pool = Pool::new(); // fast_ok: the worker is polling
                                // Set under the lock when the worker stops polling to sleep; a locked
                                // queueing that then finds an item for it kicks it (`kick_deferred`).
        let sleeping = Arc::new(AtomicBool::new(false));
        let kicked = Arc::new(AtomicBool::new(false));
        let (p2, s2, k2) = (pool.clone(), sleeping.clone(), kicked.clone());
        let producer = loom::thread::spawn(move || {
            queue(&p2, 7);
            // Any lock this producer took after the worker went to sleep kicked it.
            let l = p2.list.lock().unwrap();
            if s2.load(Ordering::Relaxed) && !l.is_empty() {
                k2.store(true, Ordering::Relaxed);
            }
        });
        // One round of the poll: seeing the ring, the worker takes the lock (which
        // drains); finding nothing there (a slot claimed, not yet published), it
        // polls on, here straight to the poll's end.
        let mut saw = false;
        if pool.ring.peek(pool.ring.head()) == Peek::Published {
            let mut l = pool.list.lock().unwrap();
            drain(&pool, &mut l);
            saw = !l.is_empty();
        }
        if !saw {
            let mut l = pool.list.lock().unwrap();
            drain(&pool, &mut l);
            pool.fast_ok.store(false, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            drain(&pool, &mut l);
            // The unlock's kick goes to this worker if the drain found the item.
            saw = !l.is_empty();
            sleeping.store(!saw, Ordering::Relaxed);
        }
        producer.join().unwrap();
        assert!(
            saw || kicked.load(Ordering::Relaxed),
            "the worker slept with an item it neither saw nor was kicked for"
        );
    });
}

/// The guard's unlock (`PoolGuard::drop`) given what the state computes: open, or
/// close and drain (store, fence, drain, against the producer's publish, fence,
/// re-check).
fn unlock(pool: &Pool, l: &mut Vec<u32>, ok: bool) {
    if ok != pool.fast_ok.load(Ordering::Relaxed) {
        if ok {
            pool.fast_ok.store(true, Ordering::Release);
        } else {
            pool.fast_ok.store(false, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            drain(pool, l);
        }
    }
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
        let pool = Pool::new();
        pool.fast_ok.store(false, Ordering::Relaxed);
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
            let mut l = p3.list.lock().unwrap();
            drain(&p3, &mut l);
            unlock(&p3, &mut l, false);
            if !l.is_empty() {
                k3.store(true, Ordering::Relaxed);
            }
        });
        // The finishing worker: open, lock (drains), take what is there, and at the
        // unlock find a kick owed again (a sleeping idle worker).
        if !pool.fast_ok.load(Ordering::Relaxed) {
            pool.fast_ok.store(true, Ordering::Release);
        }
        let mut taken = Vec::new();
        {
            let mut l = pool.list.lock().unwrap();
            drain(&pool, &mut l);
            taken.append(&mut l);
            unlock(&pool, &mut l, false);
            if !l.is_empty() {
                kicked.store(true, Ordering::Relaxed);
            }
        }
        producer.join().unwrap();
        other.join().unwrap();
        let l = pool.list.lock().unwrap();
        assert!(pool.ring.is_empty(), "item stranded on the ring");
        assert!(
            taken == alloc::vec![7] || (*l == alloc::vec![7] && kicked.load(Ordering::Relaxed)),
            "item neither taken nor kicked for: taken {taken:?}, list {:?}",
            *l
        );
    });
}
