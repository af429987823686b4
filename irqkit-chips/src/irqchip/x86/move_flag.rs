//! The lock-free "is this irq's vector moving?" test of the interrupt path
//! (arch/x86/kernel/apic/vector.c `irq_complete_move`, which reads
//! `apicd->move_in_progress` without the vector lock and returns when it is clear).
//!
//! Every device interrupt goes through `complete_move`, but a move is rare: without this
//! flag each interrupt would take the `apic` (vector map) lock that every CPU's
//! interrupts and every affinity change share. The per-irq state ([`ApicIrq`]) lives in
//! a map under that lock, so the flag lives beside it, in a fixed array of counters
//! indexed by `virq % N` (no allocation, no lookup): a counter is the number of irqs of
//! its bucket whose move is not cleaned up yet. Irqs below `N` (every irq of a small
//! machine) get an exact flag; two irqs sharing a bucket only send each other to the
//! locked path, which finds nothing to do — never the reverse.
//!
//! Protocol (all writes under the `apic` lock, see [`MoveFlags::track`]):
//! * a move's counter goes up *before* its new vector is installed in the vector table,
//!   so an interrupt that finds the new vector (through the `tables` lock, which orders
//!   it after the install) also sees the counter;
//! * it goes down (Release) once the move is cleaned up; the interrupt path's Acquire
//!   load that sees it down also sees the cleaned-up state, and a stale "up" only costs
//!   a trip through the lock.
//!
//! Linux clears `move_in_progress` as soon as the first interrupt on the new vector has
//! scheduled the cleanup; here the flag means `ApicIrq::move_in_progress` (the old vector
//! is not released yet), so under hardware ports the interrupts between that first one
//! and the old CPU's next `vector_cleanup` still take the lock. One rule for both port
//! kinds (the models release at once) keeps the invariant checkable in one place.
//!
//! [`ApicIrq`]: crate::x86::vector_domain::ApicIrq

use irqkit_core::sync::atomic::{AtomicU32, Ordering};

use crate::x86::vector_domain::ApicIrq;

/// Buckets of the bare-metal and model machines: irqs below 256 get an exact flag.
pub(crate) const MOVE_BUCKETS: usize = 256;

/// Per-irq "move in progress" counters, readable without the vector lock.
pub(crate) struct MoveFlags<const N: usize = MOVE_BUCKETS> {
    buckets: [AtomicU32; N],
}

impl<const N: usize> MoveFlags<N> {
    /// No irq moving.
    pub(crate) fn new() -> Self {
        MoveFlags { buckets: core::array::from_fn(|_| AtomicU32::new(0)) }
    }

    fn bucket(&self, virq: u32) -> &AtomicU32 {
        &self.buckets[virq as usize % N]
    }

    /// The interrupt path's test: false means no move of `virq` needs completing or
    /// cleaning up, so `complete_move` has nothing to do and may skip the lock.
    #[inline]
    pub(crate) fn may_be_moving(&self, virq: u32) -> bool {
        self.bucket(virq).load(Ordering::Acquire) != 0
    }

    /// Raises `virq`'s flag; caller holds the vector lock and has not yet installed the
    /// new vector.
    pub(crate) fn raise(&self, virq: u32) {
        self.bucket(virq).fetch_add(1, Ordering::Release);
    }

    /// Lowers `virq`'s flag after its move was cleaned up (or abandoned); caller holds
    /// the vector lock.
    pub(crate) fn lower(&self, virq: u32) {
        self.bucket(virq).fetch_sub(1, Ordering::Release);
    }

    /// Runs `f` on `a` (under the vector lock) and keeps the flag equal to
    /// `a.move_in_progress()`: raised before `f` when no move was in progress (so it is
    /// up before `f` can install a new vector), lowered after unless a move is now in
    /// progress.
    pub(crate) fn track<R>(&self, a: &mut ApicIrq, f: impl FnOnce(&mut ApicIrq) -> R) -> R {
        let was = a.move_in_progress();
        if !was {
            self.raise(a.irq);
        }
        let r = f(a);
        if !a.move_in_progress() {
            self.lower(a.irq);
        }
        r
    }

    /// Forgets `a`, which was just removed from the vector map (irq shutdown).
    pub(crate) fn forget(&self, a: &ApicIrq) {
        if a.move_in_progress() {
            self.lower(a.irq);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn apic(irq: u32) -> ApicIrq {
        ApicIrq { irq, cpu: 0, vector: 0x40, prev: None, cleanup_pending: false }
    }

    #[test]
    fn flag_follows_move_in_progress_through_track_and_forget() {
        let f = MoveFlags::<4>::new();
        let mut a = apic(1);
        f.track(&mut a, |_| {});
        assert!(!f.may_be_moving(1), "no move: the speculative raise is undone");
        f.track(&mut a, |a| a.prev = Some((1, 0x41)));
        assert!(f.may_be_moving(1));
        f.track(&mut a, |a| a.cleanup_pending = true);
        assert!(f.may_be_moving(1), "still moving: not raised twice, not lowered");
        f.track(&mut a, |a| a.prev = None);
        assert!(!f.may_be_moving(1));
        f.track(&mut a, |a| a.prev = Some((1, 0x41)));
        f.forget(&a);
        assert!(!f.may_be_moving(1) && !f.may_be_moving(5));
    }

    #[test]
    fn irqs_sharing_a_bucket_only_ever_err_towards_the_locked_path() {
        let f = MoveFlags::<4>::new();
        let (mut a, mut b) = (apic(1), apic(5));
        f.track(&mut a, |a| a.prev = Some((1, 0x41)));
        f.track(&mut b, |b| b.prev = Some((1, 0x42)));
        f.track(&mut a, |a| a.prev = None);
        assert!(f.may_be_moving(5), "irq 5 still moving");
        assert!(f.may_be_moving(1), "irq 1 shares the bucket: a harmless trip through the lock");
        f.track(&mut b, |b| b.prev = None);
        assert!(!f.may_be_moving(1) && !f.may_be_moving(5));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use irqkit_core::sync::atomic::AtomicBool;
    use loom::sync::{Arc, Mutex};

    /// A mover installs a new vector (flag, then the vector table under its lock) while
    /// the new CPU takes an interrupt (vector table under the lock, then the lock-free
    /// flag test); whoever finds the new vector must also find the flag up, and an
    /// interrupt that finds the flag down after cleanup must see the move cleaned up.
    #[test]
    fn loom_interrupt_that_sees_the_new_vector_sees_the_move() {
        loom::model(|| {
            let flags = Arc::new(MoveFlags::<2>::new());
            let apic = Arc::new(Mutex::new(ApicIrq {
                irq: 1,
                cpu: 0,
                vector: 0x40,
                prev: None,
                cleanup_pending: false,
            }));
            let table = Arc::new(Mutex::new(0x40u8)); // the vector the device hits
            let (f2, a2, t2) = (flags.clone(), apic.clone(), table.clone());
            let mover = loom::thread::spawn(move || {
                let mut a = a2.lock().unwrap();
                f2.track(&mut a, |a| {
                    a.prev = Some((a.cpu, a.vector));
                    a.vector = 0x41;
                    *t2.lock().unwrap() = 0x41;
                });
            });
            let seen = *table.lock().unwrap();
            let moving = flags.may_be_moving(1);
            if seen == 0x41 {
                assert!(moving, "new vector found without the move flag");
            }
            mover.join().unwrap();
            // Cleanup on another thread while this one takes an interrupt: seeing the
            // flag down means seeing what the cleanup did before lowering it.
            let released = Arc::new(AtomicBool::new(false));
            let (f3, a3, r3) = (flags.clone(), apic.clone(), released.clone());
            let cleaner = loom::thread::spawn(move || {
                let mut a = a3.lock().unwrap();
                f3.track(&mut a, |a| {
                    a.prev = None;
                    r3.store(true, Ordering::Relaxed);
                });
            });
            if !flags.may_be_moving(1) {
                assert!(released.load(Ordering::Relaxed), "flag down before the cleanup");
            }
            cleaner.join().unwrap();
            assert!(!flags.may_be_moving(1));
        });
    }
}
