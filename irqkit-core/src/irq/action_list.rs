//! The action list of a descriptor, and how a flow handler reads it with the lock
//! dropped without touching a reference count (the "RCU-free" read of `desc->action`).
//!
//! # Protocol
//!
//! Linux walks `desc->action` with the lock dropped; `free_irq` unlinks an action under
//! the lock and frees it only after `synchronize_hardirq`. Here the list is an
//! immutable `Arc<[..]>` replaced wholesale by writers. Cloning that `Arc` on every
//! interrupt cost two locked read-modify-writes; instead:
//!
//! - a flow takes an [`ActionBorrow`] under the descriptor lock: a pointer to the
//!   current list and `+1` on `action_borrows`, a plain counter the lock serialises;
//! - a writer replacing the list under the lock drops the old one only if
//!   `action_borrows` is 0; otherwise it moves it to `retired` (in [`super::desc_rare`]);
//! - the flow ends the borrow under the lock; the last one out drops the retired lists.
//!
//! So a list is never freed while a borrow that may point to it is open. The count is
//! separate from INPROGRESS on purpose: the first `request_irq` clears INPROGRESS as
//! Linux does, which would let a writer believe no flow runs. `loom.rs` models the
//! protocol with two flows and a writer.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::action::IrqAction;
use super::desc::{ActionList, DescInner};

/// An open, uncounted read of a descriptor's action list; end it with
/// [`DescInner::end_borrow`] under the same descriptor's lock.
///
/// # Invariants
///
/// `list` points into an `ActionList` that `owner`'s `actions` or `retired` keeps alive
/// while `owner.action_borrows` counts this borrow.
#[must_use = "a borrow that is never ended keeps replaced lists alive forever"]
pub(crate) struct ActionBorrow {
    list: NonNull<[Arc<IrqAction>]>,
    owner: *const DescInner,
    _not_send: PhantomData<*mut ()>,
}

impl ActionBorrow {
    /// The borrowed actions, in registration order.
    #[inline]
    pub(crate) fn actions(&self) -> &[Arc<IrqAction>] {
        // SAFETY: by the type invariant the list stays allocated until `end_borrow`
        // consumes `self`, which cannot happen while this shared borrow of `self`
        // lives; lists are never mutated in place (writers replace the `Arc`).
        unsafe { self.list.as_ref() }
    }
}

impl DescInner {
    /// The current action list, if the line has one.
    #[inline]
    pub fn actions(&self) -> Option<&ActionList> {
        self.actions.as_ref()
    }

    /// Replaces the action list. The old list is dropped now unless a flow handler may
    /// still be reading it, in which case the last such flow drops it.
    pub(crate) fn set_actions(&mut self, new: Option<ActionList>) {
        let old = core::mem::replace(&mut self.actions, new);
        if let Some(old) = old {
            if self.action_borrows > 0 {
                self.rare_mut().retired.push(old);
            }
        }
    }

    /// Opens an uncounted read of the current list (lock held); `None` without one.
    #[inline]
    pub(crate) fn borrow_actions(&mut self) -> Option<ActionBorrow> {
        let list = NonNull::from(&**self.actions.as_ref()?);
        // A u16 would do (one open borrow per CPU at most), u32 fills existing padding.
        self.action_borrows += 1;
        Some(ActionBorrow { list, owner: self as *const DescInner, _not_send: PhantomData })
    }

    /// Ends a borrow (lock held); the last open borrow frees the retired lists.
    #[inline]
    pub(crate) fn end_borrow(&mut self, b: ActionBorrow) {
        if !core::ptr::eq(b.owner, self) {
            // Another descriptor's borrow: ending it here would break both counts.
            // Keeping its lists alive forever is safe; the caller has a bug.
            debug_assert!(false, "ActionBorrow ended on the wrong descriptor");
            return;
        }
        self.action_borrows -= 1;
        if self.action_borrows == 0 {
            if let Some(r) = self.rare.as_mut() {
                if !r.retired.is_empty() {
                    retire_now(&mut r.retired);
                }
            }
        }
    }

    /// Flows currently reading the list without the lock.
    #[cfg(test)]
    pub(crate) fn action_borrows(&self) -> u32 {
        self.action_borrows
    }

    /// Moves the borrow bookkeeping (count and retired lists) to `fresh`, retiring the
    /// current list too if borrowed: used when a descriptor is reset under a flow.
    pub(crate) fn carry_borrows_to(&mut self, fresh: &mut DescInner) {
        self.set_actions(None);
        if self.action_borrows > 0 {
            fresh.action_borrows = self.action_borrows;
            if let Some(r) = self.rare.as_mut() {
                fresh.rare_mut().retired = core::mem::take(&mut r.retired);
            }
        }
    }
}

/// Drops retired lists (kept out of line: only a writer racing a flow gets here).
#[cold]
fn retire_now(retired: &mut Vec<ActionList>) {
    retired.clear();
}
