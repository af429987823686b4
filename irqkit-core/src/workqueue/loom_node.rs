//! loom model of the per-node slot protocol (`node_active.rs`, `pwq_node.rs`; Linux:
//! kernel/workqueue.c pwq_tryinc_nr_active / pwq_dec_nr_active, whose smp_mb pairing
//! this replaces): a completion reads `want_back` without the node lock, under its
//! pool lock only. A pwq on another pool that finds the node full goes pending,
//! sets the flag under the node lock, and after unlocking its pool reclaims unused
//! slots from every pool, one pool lock at a time. Either the completion sees the
//! flag and gives its slot back, or the reclaim finds the slot unused: the waiting
//! work always gets the slot, and the node never has more active than `max`.

use crate::sync::atomic::{AtomicBool, Ordering};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use loom::sync::Mutex;

/// A pwq, under its pool's lock.
#[derive(Default)]
struct Pwq {
    nr_active: u32,
    slots: u32,
    pending: bool,
    inactive: u32,
}

/// The node, under its lock; `want_back` beside it.
struct Node {
    max: u32,
    granted: u32,
    pending: VecDeque<usize>,
}

struct Model {
    pools: [Mutex<Pwq>; 2],
    node: Mutex<Node>,
    want_back: AtomicBool,
}

impl Model {
    /// `node_serve` for pool `me` (its lock held as `pwq`): activates while `me`
    /// heads the line and a slot is free. False if another pool is at the head.
    fn serve(&self, me: usize, pwq: &mut Pwq) -> bool {
        loop {
            let mut n = self.node.lock().unwrap();
            let Some(&head) = n.pending.front() else {
                self.want_back.store(n.granted > n.max, Ordering::Relaxed);
                return true;
            };
            if n.granted >= n.max {
                return true;
            }
            if head != me {
                return false;
            }
            n.pending.pop_front();
            if pwq.inactive == 0 {
                pwq.pending = false;
                continue;
            }
            n.granted += 1;
            pwq.slots += 1;
            pwq.nr_active += 1;
            pwq.inactive -= 1;
            assert!(n.granted <= n.max);
            if pwq.inactive == 0 {
                pwq.pending = false;
            } else {
                n.pending.push_back(me);
            }
        }
    }

    /// `node_kick`: optional reclaim, then serve the head pools in turn.
    fn kick(&self, reclaim: bool) {
        if reclaim {
            for p in self.pools.iter() {
                let mut pwq = p.lock().unwrap();
                let surplus = pwq.slots - pwq.nr_active;
                pwq.slots -= surplus;
                self.node.lock().unwrap().granted -= surplus;
            }
        }
        loop {
            let head = {
                let n = self.node.lock().unwrap();
                match n.pending.front() {
                    Some(&h) if n.granted < n.max => h,
                    _ => return,
                }
            };
            let mut pwq = self.pools[head].lock().unwrap();
            self.serve(head, &mut pwq);
        }
    }
}

// kernel/workqueue.c pwq_dec_nr_active vs pwq_tryinc_nr_active: a work queued on
// pool 1 while pool 0's only active work finishes gets the node's one slot.
#[test]
fn loom_node_slot_passes_to_the_pwq_waiting_on_another_pool() {
    loom::model(|| {
        let m = Arc::new(Model {
            pools: [
                Mutex::new(Pwq { nr_active: 1, slots: 1, ..Default::default() }),
                Mutex::new(Pwq::default()),
            ],
            node: Mutex::new(Node { max: 1, granted: 1, pending: VecDeque::new() }),
            want_back: AtomicBool::new(false),
        });
        let m2 = m.clone();
        // Pool 0's worker finishes its work (`pwq_finish` → `node_release`).
        let done = loom::thread::spawn(move || {
            let owed = {
                let mut pwq = m2.pools[0].lock().unwrap();
                pwq.nr_active -= 1;
                if m2.want_back.load(Ordering::Relaxed) {
                    let surplus = pwq.slots - pwq.nr_active;
                    pwq.slots -= surplus;
                    m2.node.lock().unwrap().granted -= surplus;
                    !m2.serve(0, &mut pwq)
                } else {
                    false
                }
            };
            if owed {
                m2.kick(false);
            }
        });
        // A producer queues on pool 1 (`insert_work` → `node_tryinc`).
        let owed = {
            let mut pwq = m.pools[1].lock().unwrap();
            let mut n = m.node.lock().unwrap();
            if n.granted < n.max {
                n.granted += 1;
                pwq.slots += 1;
                pwq.nr_active += 1;
                false
            } else {
                pwq.inactive += 1;
                pwq.pending = true;
                n.pending.push_back(1);
                m.want_back.store(true, Ordering::Relaxed);
                true
            }
        };
        if owed {
            m.kick(true);
        }
        done.join().unwrap();
        let p1 = m.pools[1].lock().unwrap();
        assert_eq!((p1.nr_active, p1.inactive), (1, 0), "the waiting work got the slot");
        assert!(m.node.lock().unwrap().granted <= 1);
    });
}
