//! The pool lock with the incoming ring folded in, and `__queue_work`'s lock-free
//! fast path.
//!
//! Every taker of a pool's lock goes through [`Pool::lock`], which first moves the
//! items of the incoming ring onto the pool's lists exactly as a locked
//! `__queue_work` would have (`insert_work`: pwq max_active and inactive list, flush
//! colour count, the QUEUED bit, the kick). So every rule that lives under
//! `pool->lock` — cancel's `try_to_grab_pending`, flush colours, `assign_work`'s
//! non-reentrancy, drain, freeze, hotplug — sees a ring item as if it had been
//! queued the locked way just before the lock was taken.
//!
//! A producer may leave an item on the ring only if queueing it the locked way
//! would have woken no worker: then some worker will take the lock anyway (the
//! running one when its item ends or it sleeps, or the one already woken), and
//! that lock drains the ring. Otherwise the ring is closed. The guard decides at
//! every unlock, from the state the lock guards ([`PoolInner::fast_ok`]), and opens
//! or closes the ring to match. Closing marks the free slot at the ring's head
//! after a drain (`incoming.rs`); a producer that finds the mark is refused and
//! takes the lock, and one that had claimed that slot already finds the mark when
//! it publishes and takes the lock too. Both sides meet on one word, so no item
//! waits while a wake-up is owed, and neither side needs a fence (the loom models
//! in `loom_incoming.rs` check this). The one opening outside the lock is a
//! finishing worker's ([`Pool::open_ring_until_locked`]), and the lock it takes
//! next settles the state. The kick for items moved in is decided at the unlock,
//! from the state the hold leaves.

use alloc::vec::Vec;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use super::incoming::Push;
use super::node_active::node_kick;
use super::pool::{Item, Kick, Pool, PoolInner};
use crate::sync::atomic::SpinWait;
use crate::sync::SpinLockIrqGuard;
use crate::IrqSystem;

/// The guard of [`Pool::lock`]: the pool's state, plus whether items moved in from
/// the ring may owe a wake-up. That kick is decided at the unlock, from the state
/// the hold leaves: a worker that took the items itself meanwhile owes none.
pub(crate) struct PoolGuard<'a> {
    g: ManuallyDrop<SpinLockIrqGuard<'a, PoolInner>>,
    pool: &'a Pool,
    sys: &'a IrqSystem,
    owed: bool,
}

impl Pool {
    /// `raw_spin_lock_irq(&pool->lock)`, with the incoming ring moved in.
    pub(crate) fn lock<'a>(&'a self, sys: &'a IrqSystem) -> PoolGuard<'a> {
        let g = self.inner.lock_irqsave(sys);
        let mut pg = PoolGuard { g: ManuallyDrop::new(g), pool: self, sys, owed: false };
        pg.drain();
        pg
    }

    /// `__queue_work`'s fast path: hands `item` over through the ring if the
    /// locked path would wake no worker. Gives the item back if the caller must
    /// queue it under the lock. The caller owns PENDING.
    pub(crate) fn queue_lockless(&self, sys: &IrqSystem, item: Item) -> Result<(), Item> {
        // The QUEUED bit and the target pool, before the item is visible: cancel
        // then looks here, and its lock drains the ring (a claimed slot not yet
        // published makes it retry, as a queueing in flight does in Linux).
        item.work.set_pool(self.id, true);
        // Claim to publish with interrupts masked (queue_work_on has them masked;
        // the delayed-work paths may not): an interrupt queueing on this CPU could
        // otherwise wait in `drain_all` for a slot that only this CPU can publish.
        let flags = sys.local_irq_save();
        let pushed = self.incoming.push(item);
        sys.local_irq_restore(flags);
        match pushed {
            Push::Done => {}
            // A wake-up became due after the claim: drain and kick as the locked
            // path would.
            Push::Closed => drop(self.lock(sys)),
            Push::Refused(item) => return Err(item),
        }
        Ok(())
    }

    /// A worker whose item returned, just before it takes the lock to look for
    /// more: it is on its way to the worklist, so an item queued now owes no other
    /// worker a wake-up (a per-CPU pool counts such a worker in `nr_running`; an
    /// unbound pool, which counts no one, would wake an idle worker that finds
    /// nothing once this one took the item). Opening the ring outside the lock is
    /// safe only because the caller takes the lock next: that lock moves in
    /// whatever was put on the ring, and its unlock decides again (closed again:
    /// drain and kick, as for any hold).
    ///
    /// True if the ring was left open; the caller may then tell its next hold so
    /// ([`PoolInner::ring_opened`]).
    pub(crate) fn open_ring_until_locked(&self) -> bool {
        self.bh_worker.is_none() && self.incoming.open()
    }
}

impl PoolGuard<'_> {
    /// Moves published ring items onto the pool's lists (oldest first).
    fn drain(&mut self) {
        while let Some(item) = self.pool.incoming.pop() {
            debug_assert!(item.work.is_queued() && item.work.last_pool() == self.pool.id);
            self.owed |= self.g.insert_work_quiet(self.sys, item);
        }
    }

    /// `kick_pool` for the items the hold moved in, as the state stands at its end:
    /// one kick covers them all, as Linux's repeated kicks wake the same first idle
    /// worker.
    fn owed_kick(&mut self) -> Kick {
        if core::mem::take(&mut self.owed) {
            self.g.kick_deferred(self.sys)
        } else {
            Kick::None
        }
    }
}

impl PoolGuard<'_> {
    /// The locked `__queue_work`'s drain: also waits out producers between claiming
    /// a slot and publishing it (a few instructions, with interrupts masked), so an
    /// item queued under the lock never overtakes one its own producer, or another,
    /// put on the ring first — the FIFO the inactive list and activation order need.
    pub(crate) fn drain_all(&mut self) {
        let mut wait = SpinWait::new();
        loop {
            self.drain();
            if self.pool.incoming.is_empty() {
                return;
            }
            // A host may have descheduled that producer: yield after a while.
            wait.spin();
        }
    }
}

impl PoolInner {
    /// True if an item queued now would wake no worker, so the ring may be open
    /// (`kick_pool` would find `nr_running > 0`, no idle worker, or the top idle one
    /// already woken), and the pool is one that drains its ring (not BH, not
    /// disassociated).
    pub(crate) fn fast_ok(&self) -> bool {
        self.bh.is_none()
            && !self.disassociated
            && !(self.nr_running == 0
                && self.idle.last().is_some_and(|w| !w.is_woken() && !w.is_polling()))
    }

    /// A finishing worker opened the ring outside the lock after the unlock that
    /// counted `closes` closes; if no unlock closed it since, its next unlock need
    /// not look at the ring (a slot a producer is likely writing right then).
    /// Only a hint: a ring wrongly thought closed is opened at the next unlock
    /// that finds the pool needs no wake-up, and one wrongly thought open cannot
    /// result (this only clears the flag while the count says no close came since).
    pub(crate) fn ring_opened(&mut self, closes: u32) {
        if self.ring_closes == closes {
            self.ring_maybe_closed = false;
        }
    }
}

impl Deref for PoolGuard<'_> {
    type Target = PoolInner;
    fn deref(&self) -> &PoolInner {
        &self.g
    }
}

impl DerefMut for PoolGuard<'_> {
    fn deref_mut(&mut self) -> &mut PoolInner {
        &mut self.g
    }
}

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        // Before `fast_ok`: a claimed wake-up makes the pool need no other.
        let mut kick = self.owed_kick();
        if self.g.fast_ok() {
            if core::mem::take(&mut self.g.ring_maybe_closed) {
                self.pool.incoming.open();
            }
        } else {
            self.g.ring_maybe_closed = true;
            self.g.ring_closes = self.g.ring_closes.wrapping_add(1);
            // Each failed close found an item published at the head: move it in.
            while !self.pool.incoming.close() {
                self.drain();
            }
            if matches!(kick, Kick::None) {
                kick = self.owed_kick();
            }
        }
        // Node kicks this hold owes (an unbound workqueue at its node limit): they
        // lock other pools, so only after this one is unlocked (`node_active.rs`).
        let owed = if self.g.node_owed.is_empty() {
            Vec::new()
        } else {
            core::mem::take(&mut self.g.node_owed)
        };
        // SAFETY: dropped exactly once, here; `g` is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.g) };
        kick.wake(self.sys);
        for (node, reclaim) in owed {
            node_kick(self.sys, &node, reclaim);
        }
    }
}
