//! A pool's incoming ring: a bounded lock-free multi-producer queue of items that
//! `__queue_work` hands over without taking the pool lock; whoever holds the lock
//! next moves them onto the pool's lists (`pool_lock.rs`).
//!
//! Producers claim a slot by advancing `tail` with a compare-exchange and publish
//! it by writing the slot's sequence number (Vyukov's bounded queue). There is one
//! consumer at a time — the pool lock's holder — so `head` needs no atomic update.
//! A slot claimed but not yet published stops the consumer there; its producer
//! publishes it next, and takes the lock itself if the ring closed meanwhile.
//! Slots keep the item inline: queueing allocates nothing and the work item itself
//! stays at 64 bytes (an intrusive list would need a link in every work).
//!
//! The ring can be *closed*: the pool lock's holder marks the free slot at `head`
//! (where, the ring being drained, the next producer will publish). A producer
//! that finds the mark is refused; one that claimed that slot before the mark
//! finds it when it publishes (an exchange on the same word) and takes the lock
//! itself. So opening and closing cost the consumer a write to a line it owns
//! already, and a producer reads no word it would not read anyway.
// Generic over the item so that the loom model can run it with plain integers.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::atomic::{AtomicUsize, Ordering};

/// The mark of a closed ring in a free slot's `seq` (`pos | CLOSED`). Positions stay
/// below it: at 10^9 items a second, 2^63 of them take 292 years.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Slots per unbound or per-CPU pool: a burst larger than this takes the locked path.
pub(crate) const INCOMING_SLOTS: usize = 64;

// One cache line pair per slot: an item never straddles two lines, and the
// consumer working on one slot never pulls away the line a producer is writing
// the next one in. A pair, not a line (as crossbeam's `CachePadded` on x86-64):
// the adjacent-line prefetcher fetches lines in 128-byte pairs, so a producer
// publishing in one slot would otherwise take the next slot's line shared from
// the worker that closes the ring there.
#[repr(align(128))]
struct Slot<T> {
    /// `pos` when free for the producer of position `pos` (`pos | CLOSED` while
    /// the ring is closed there); `pos + 1` once that producer published its item;
    /// `pos + capacity` once the consumer took it.
    seq: AtomicUsize,
    item: UnsafeCell<MaybeUninit<T>>,
}

/// What [`Incoming::push`] did with an item.
#[derive(Debug)]
pub(crate) enum Push<T> {
    /// Published.
    Done,
    /// Published, but the ring was closed at its slot after this producer claimed
    /// it: the caller takes the lock (which moves the item in and kicks).
    Closed,
    /// Not taken: the ring is closed, full or has no slots.
    Refused(T),
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

    /// A ring of `cap` slots, closed.
    pub(crate) fn new_closed(cap: usize) -> Self {
        let ring = Self::new(cap);
        ring.close();
        ring
    }

    /// Appends `item`, unless the ring is closed, full or has no slots.
    pub(crate) fn push(&self, item: T) -> Push<T> {
        let cap = self.slots.len();
        if cap == 0 {
            return Push::Refused(item);
        }
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & (cap - 1)];
            let seq = slot.seq.load(Ordering::Acquire);
            if seq & CLOSED != 0 {
                // Closed here; or, for a position a lap later, still waiting for the
                // item a producer claimed before the close (as full).
                return Push::Refused(item);
            }
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
                        // An exchange, not a store: a close that marked the slot
                        // after the claim must be seen, or the item would wait
                        // behind a ring nobody is bound to drain.
                        let was = slot.seq.swap(pos.wrapping_add(1), Ordering::AcqRel);
                        return if was & CLOSED != 0 { Push::Closed } else { Push::Done };
                    }
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                // Full: the slot holds an item of the last lap.
                return Push::Refused(item);
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
        if seq & CLOSED != 0 {
            return Peek::Empty;
        }
        match seq.wrapping_sub(pos.wrapping_add(1)) as isize {
            0 => Peek::Published,
            d if d > 0 => Peek::Consumed,
            _ => Peek::Empty,
        }
    }

    /// Closes the ring at `head` (call under the pool lock, after a drain): true
    /// once closed; false if an item was published there meanwhile, which the
    /// caller drains before it tries again. A producer that claimed the slot but
    /// has not published yet will find the mark ([`Push::Closed`]).
    pub(crate) fn close(&self) -> bool {
        let Some((pos, seq)) = self.head_seq() else { return true };
        // Look before the exchange: a closed ring stays as it is without taking
        // the line from the producers that read it.
        match seq.load(Ordering::Relaxed) {
            s if s == pos | CLOSED => true,
            s if s == pos => {
                seq.compare_exchange(pos, pos | CLOSED, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            }
            s => {
                // Published since the drain (nothing else can be at the head): the
                // caller's drain takes it, so its loop ends.
                debug_assert_eq!(s, pos.wrapping_add(1), "ring head holds a foreign value");
                false
            }
        }
    }

    /// Opens the ring if it is closed at `head`; true if no mark was left there.
    /// Under the pool lock; or just before taking it (a finishing worker), reading
    /// `head` unlocked: a mark that moved meanwhile stays, and the lock taken next
    /// settles the state.
    pub(crate) fn open(&self) -> bool {
        let Some((pos, seq)) = self.head_seq() else { return false };
        if seq.load(Ordering::Relaxed) == pos | CLOSED {
            seq.compare_exchange(pos | CLOSED, pos, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        } else {
            true
        }
    }

    /// True if the ring is closed at `head` (a hint without the pool lock).
    #[cfg(any(test, loom))]
    pub(crate) fn is_closed(&self) -> bool {
        self.head_seq().is_none_or(|(pos, seq)| seq.load(Ordering::Relaxed) == pos | CLOSED)
    }

    /// The consumer's position and the sequence word of its slot, where a close
    /// puts its mark (`None` for a ring without slots).
    fn head_seq(&self) -> Option<(usize, &AtomicUsize)> {
        let cap = self.slots.len();
        if cap == 0 {
            return None;
        }
        let pos = self.head.load(Ordering::Relaxed);
        Some((pos, &self.slots[pos & (cap - 1)].seq))
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
