//! Loom models of the generic layer's lock-free protocols: the irq-thread wake-up
//! (`__irq_wake_thread` vs `irq_thread`: RUNTHREAD coalescing and `threads_active`
//! accounting) and the uncounted action-list borrow of the flow handlers
//! (`action_list.rs`: a list is never freed while a flow reads it).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p irqkit-core --release --lib irq::loom`.
//! Invariants: `threads_active` never underflows, every wake-up that set RUNTHREAD is
//! consumed exactly once, and once all wake-ups are consumed the count is 0; every
//! list a flow borrowed is alive for the whole borrow, and none outlives the last one.

use alloc::string::String;
use alloc::sync::Arc;
use loom::sync::atomic::AtomicU32;
use loom::sync::atomic::Ordering::SeqCst;

use super::action::IrqAction;
use super::desc::{ActionList, DescInner};
use super::flags::Flags;
use super::handle::{thread_claim, thread_release, wake_claim};

#[test]
fn wake_thread_accounting_never_underflows_and_drains_to_zero() {
    loom::model(|| {
        let action = Arc::new(IrqAction::new(1, String::from("dev"), Flags::empty()));
        let active = Arc::new(AtomicU32::new(0));
        let claimed = Arc::new(AtomicU32::new(0));
        // Two hard interrupts (e.g. on two CPUs, or back to back) wake the thread.
        let wakers: alloc::vec::Vec<_> = (0..2)
            .map(|_| {
                let (a, act, c) = (action.clone(), active.clone(), claimed.clone());
                loom::thread::spawn(move || {
                    if wake_claim(&a, &act) {
                        c.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        // The irq thread consumes wake-ups concurrently (thread_release asserts no
        // underflow in debug builds; the model checks it explicitly too).
        let mut consumed = 0;
        for _ in 0..2 {
            if thread_claim(&action) {
                assert!(active.load(SeqCst) >= 1, "consumed a wake-up nobody accounted");
                thread_release(&active);
                consumed += 1;
            }
        }
        for w in wakers {
            w.join().unwrap();
        }
        // Drain whatever is still pending, as the thread's next loop would.
        while thread_claim(&action) {
            thread_release(&active);
            consumed += 1;
        }
        assert_eq!(consumed, claimed.load(SeqCst));
        assert_eq!(active.load(SeqCst), 0);
    });
}

fn list_of(names: &[&str]) -> ActionList {
    names.iter().map(|n| Arc::new(IrqAction::new(1, String::from(*n), Flags::SHARED))).collect()
}

/// One flow handler (handle_irq_event): borrow under the lock, read the list with the
/// lock dropped, end the borrow under the lock. Every list ever installed is known by a
/// `Weak`, so "alive" is checked without touching freed memory.
fn flow(desc: &loom::sync::Mutex<DescInner>, known: &[alloc::sync::Weak<[Arc<IrqAction>]>]) {
    let b = desc.lock().unwrap().borrow_actions();
    if let Some(b) = &b {
        // Identify the borrowed list among the live ones by its element buffer.
        let ptr = b.actions().as_ptr();
        let alive = || known.iter().any(|w| w.upgrade().is_some_and(|l| l.as_ptr() == ptr));
        assert!(alive(), "borrowed a list that is already freed");
        loom::thread::yield_now();
        assert!(alive(), "action list freed while a flow reads it");
        assert_eq!(b.actions()[0].name(), "a");
    }
    let mut g = desc.lock().unwrap();
    if let Some(b) = b {
        g.end_borrow(b);
    }
}

// kernel/irq/handle.c walks desc->action with desc->lock dropped; manage.c
// __free_irq unlinks under the lock and frees only after synchronize_hardirq. Here:
// two flows (two CPUs; INPROGRESS does not serialise them once request_irq cleared it)
// and a writer that replaces the list twice (request_irq, then free_irq).
#[test]
fn borrowed_action_list_is_never_freed_under_a_running_flow() {
    loom::model(|| {
        let l0 = list_of(&["a"]);
        let l1 = list_of(&["a", "b"]);
        let known = Arc::new([Arc::downgrade(&l0), Arc::downgrade(&l1)]);
        let mut inner = DescInner::new(1);
        inner.set_actions(Some(l0));
        let desc = Arc::new(loom::sync::Mutex::new(inner));
        let flows: alloc::vec::Vec<_> = (0..2)
            .map(|_| {
                let (d, k) = (desc.clone(), known.clone());
                loom::thread::spawn(move || flow(&d, &k[..]))
            })
            .collect();
        desc.lock().unwrap().set_actions(Some(l1));
        desc.lock().unwrap().set_actions(None);
        for f in flows {
            f.join().unwrap();
        }
        let g = desc.lock().unwrap();
        assert_eq!(g.action_borrows(), 0);
        // Nothing retired survives the last borrow: both lists are gone.
        assert!(known.iter().all(|w| w.strong_count() == 0), "a retired list leaked");
    });
}
