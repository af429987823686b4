//! `Published<T>`: a value that hard-irq and NMI code reads without a lock or a
//! reference-count bump, replaced by task-context writers.
//!
//! The protocol is the one the NMI handler always used: a writer boxes the new value
//! and swaps the pointer in (`AcqRel`); a reader loads it (`Acquire`), which makes the
//! boxed value's initialisation visible. A replaced value is retired, not freed, until
//! the `Published` itself drops — and `get` borrows `&self`, so the borrow checker
//! proves no reader outlives the value. Replacements are rare (a vector gets a handler
//! when its line is mapped), so the retired list stays short.
//!
//! The device-vector handlers use it so the interrupt entry no longer takes a spinlock
//! and clones an `Arc` per interrupt; `loom_model` below checks the publication.

#[cfg(loom)]
use loom::sync::atomic::{AtomicPtr, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// A lock-free-readable slot holding an optional `T` (see the module docs).
pub(crate) struct Published<T> {
    cur: AtomicPtr<T>,
    /// Replaced values: owned boxes, freed at drop (a reader may still use one).
    retired: Mutex<Vec<*mut T>>,
}

// SAFETY: the raw pointers are owned boxes of `T`; values are shared with readers on
// any thread (`T: Sync`) and dropped on whichever thread drops the slot (`T: Send`).
unsafe impl<T: Send + Sync> Send for Published<T> {}
// SAFETY: as above; `retired` is only touched under its mutex.
unsafe impl<T: Send + Sync> Sync for Published<T> {}

impl<T> Published<T> {
    /// An empty slot.
    pub(crate) fn new() -> Self {
        Published { cur: AtomicPtr::new(std::ptr::null_mut()), retired: Mutex::new(Vec::new()) }
    }

    /// The current value, if any: one load, no lock, no reference count.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.cur.load(Ordering::Acquire);
        // SAFETY: `p` is null or came from `Box::into_raw` in `set`; the Acquire load
        // pairs with the writer's AcqRel swap, so the value is initialised; values are
        // freed only in `drop`, which cannot run while `&self` is borrowed.
        unsafe { p.as_ref() }
    }

    /// Replaces the value (task context; allocates). The old one is retired.
    pub(crate) fn set(&self, v: Option<T>) {
        let new = v.map_or(std::ptr::null_mut(), |v| Box::into_raw(Box::new(v)));
        let old = self.cur.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            self.retired.lock().unwrap_or_else(|e| e.into_inner()).push(old);
        }
    }
}

impl<T> Drop for Published<T> {
    fn drop(&mut self) {
        let cur = self.cur.swap(std::ptr::null_mut(), Ordering::AcqRel);
        let retired = self.retired.get_mut().unwrap_or_else(|e| e.into_inner());
        for p in retired.drain(..).chain(Some(cur)).filter(|p| !p.is_null()) {
            // SAFETY: each pointer came from `Box::into_raw` and is freed exactly once;
            // `&mut self` proves no reader borrows the slot any more.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    struct Counted(u32, Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn replaced_values_live_until_the_slot_drops() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let slot = Published::new();
        assert!(slot.get().is_none());
        slot.set(Some(Counted(1, dropped.clone())));
        let first = slot.get().unwrap();
        slot.set(Some(Counted(2, dropped.clone())));
        // The reader of the first value still sees it intact after the replacement.
        assert_eq!((first.0, slot.get().unwrap().0), (1, 2));
        slot.set(None);
        assert!(slot.get().is_none());
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        drop(slot);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn concurrent_readers_always_see_a_whole_value() {
        let slot = Arc::new(Published::new());
        slot.set(Some([7u64; 8]));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = slot.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let v = s.get().expect("never unset here");
                        assert!(v.iter().all(|x| *x == v[0]), "torn value");
                    }
                })
            })
            .collect();
        for i in 0..200u64 {
            slot.set(Some([i; 8]));
        }
        for r in readers {
            r.join().unwrap();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::atomic::AtomicU32;
    use loom::sync::Arc;

    fn value(v: u32) -> AtomicU32 {
        // Written after construction with a plain (Relaxed) store, as a handler's
        // captured state would be: only the publication's ordering makes it visible.
        let a = AtomicU32::new(0);
        a.store(v, Ordering::Relaxed);
        a
    }

    // A writer replaces the value while a reader (an interrupt on another CPU) reads
    // it: the reader gets the old or the new value, always fully initialised, and a
    // retired value stays readable after the swap.
    #[test]
    fn a_reader_sees_a_whole_old_or_new_value() {
        loom::model(|| {
            let slot = Arc::new(Published::<AtomicU32>::new());
            let s = slot.clone();
            let reader = loom::thread::spawn(move || {
                if let Some(v) = s.get() {
                    let first = v.load(Ordering::Relaxed);
                    assert!(first == 1 || first == 2, "saw an unpublished value {first}");
                    loom::thread::yield_now();
                    assert_eq!(v.load(Ordering::Relaxed), first, "value changed or freed");
                }
            });
            slot.set(Some(value(1)));
            slot.set(Some(value(2)));
            reader.join().unwrap();
            assert_eq!(slot.get().map(|v| v.load(Ordering::Relaxed)), Some(2));
        });
    }
}
