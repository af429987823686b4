//! A pool's incoming ring: a bounded lock-free multi-producer queue of items that
//! `__queue_work` hands over without taking the pool lock; whoever holds the lock
//! next moves them onto the pool's lists (`pool_lock.rs`).
//!
//! Producers claim a slot by advancing `tail` with a compare-exchange and publish
//! it by storing the slot's sequence number (Vyukov's bounded queue). There is one
//! consumer at a time — the pool lock's holder — so `head` needs no atomic update.
//! A slot claimed but not yet published stops the consumer there; its producer
//! publishes it next and then re-checks whether it may leave it (see `pool_lock.rs`).
//! Slots keep the item inline: queueing allocates nothing and the work item itself
//! stays at 64 bytes (an intrusive list would need a link in every work).
// Generic over the item so that the loom model can run it with plain integers.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::atomic::{AtomicUsize, Ordering};

/// Slots per unbound or per-CPU pool: a burst larger than this takes the locked path.
pub(crate) const INCOMING_SLOTS: usize = 64;

// One cache line per slot: an item never straddles two lines, and the consumer
// taking one slot never pulls away the line a producer is writing the next one in.
#[repr(align(64))]
struct Slot<T> {
    /// `pos` when free for the producer of position `pos`; `pos + 1` once that
    /// producer published its item; `pos + capacity` once the consumer took it.
    seq: AtomicUsize,
    item: UnsafeCell<MaybeUninit<T>>,
}

/// What [`Incoming::peek`] found at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peek {
    /// Not published yet (free, or claimed and being written).
    Empty,
    /// Published and not consumed: an item waits there.
    Published,
    /// Consumed: the consumer has moved past it.
    Consumed,
}

/// The ring (capacity a power of two; 0 for pools that never take the fast path).
pub(crate) struct Incoming<T> {
    slots: Box<[Slot<T>]>,
    /// Producer position. Each position on its own cache line: the consumer writes
    /// `head` once per item, and sharing a line with `tail` would make every
    /// producer's claim miss.
    tail: CachePadded<AtomicUsize>,
    /// Consumer position; read and written only under the pool lock.
    head: CachePadded<AtomicUsize>,
}

// SAFETY: an item slot is written only by the producer that claimed it (unique by
// the `tail` compare-exchange) before it publishes `seq`, and read only by the one
// consumer (the pool lock holder) after it saw that `seq`; items are `Send`.
unsafe impl<T: Send> Sync for Incoming<T> {}
// SAFETY: see above; moving the ring moves owned items.
unsafe impl<T: Send> Send for Incoming<T> {}

impl<T> Incoming<T> {
    /// A ring of `cap` slots (rounded up to a power of two; 0 stays 0).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = if cap == 0 { 0 } else { cap.next_power_of_two() };
        let slots: Vec<Slot<T>> = (0..cap)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                item: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Incoming {
            slots: slots.into_boxed_slice(),
            tail: CachePadded::new(AtomicUsize::new(0)),
            head: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Appends `item`; gives it back if the ring is full (or has no slots). The
    /// caller orders the publishing store before its next flag check with a fence.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let cap = self.slots.len();
        if cap == 0 {
            return Err(item);
        }
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & (cap - 1)];
            let seq = slot.seq.load(Ordering::Acquire);
            let dif = seq.wrapping_sub(pos) as isize;
            if dif == 0 {
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the compare-exchange made this producer the only
                        // owner of position `pos`, and the consumer freed the slot
                        // (`seq == pos`), so nobody else touches it until `seq` moves.
                        unsafe { (*slot.item.get()).write(item) };
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                return Err(item);
            } else {
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the oldest published item. Call only with the owning pool's lock held
    /// (the single consumer).
    pub(crate) fn pop(&self) -> Option<T> {
        let cap = self.slots.len();
        if cap == 0 {
            return None;
        }
        let pos = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[pos & (cap - 1)];
        if slot.seq.load(Ordering::Acquire) != pos.wrapping_add(1) {
            return None;
        }
        // SAFETY: `seq == pos + 1` means the producer of `pos` wrote the item and
        // published it (Acquire by the SeqCst load); only the lock holder consumes.
        let item = unsafe { (*slot.item.get()).assume_init_read() };
        slot.seq.store(pos.wrapping_add(cap), Ordering::Release);
        self.head.store(pos.wrapping_add(1), Ordering::Relaxed);
        Some(item)
    }

    /// The consumer's position, for a poll's cursor (a hint, read without the pool
    /// lock: it may be stale by a few items).
    pub(crate) fn head(&self) -> usize {
        self.head.load(Ordering::Relaxed)
    }

    /// What the slot of position `pos` holds: an idle worker's poll watches the slot
    /// it expects the next item in, the line the consumer fetches anyway to take the
    /// item, and re-reads `head` only once that slot was consumed. Neither the
    /// producers' `tail` nor the consumer's `head` is pulled away on every round.
    pub(crate) fn peek(&self, pos: usize) -> Peek {
        let cap = self.slots.len();
        if cap == 0 {
            return Peek::Empty;
        }
        let seq = self.slots[pos & (cap - 1)].seq.load(Ordering::Acquire);
        match seq.wrapping_sub(pos.wrapping_add(1)) as isize {
            0 => Peek::Published,
            d if d > 0 => Peek::Consumed,
            _ => Peek::Empty,
        }
    }

    /// True if no slot is claimed beyond what the consumer took (call under the
    /// pool lock): false while a producer is between claiming and publishing.
    pub(crate) fn is_empty(&self) -> bool {
        self.tail.load(Ordering::Acquire) == self.head.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Incoming<T> {
    fn drop(&mut self) {
        // `&mut self`: no producer or consumer is left; drop what was never moved.
        while self.pop().is_some() {}
    }
}
