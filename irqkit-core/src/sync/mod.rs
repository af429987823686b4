//! Synchronisation for code that interrupts can reach: spinlocks and the atomics shim.
//!
//! Any lock that interrupt context may take must be taken with interrupts masked
//! ([`SpinLockIrq`]); otherwise an interrupt arriving on the holder's CPU would spin
//! forever on a lock its own CPU holds. [`RawSpinLock`] (a `lock_api` raw mutex) is the
//! building block for code that already runs with interrupts masked.
//!
//! Under `cfg(loom)`, [`atomic`] re-exports loom's atomics so the lock-free protocols of
//! the core can be model-checked.

pub mod atomic;
pub(crate) mod counted;
mod line_arc;
mod spinlock;

pub use line_arc::{LineArc, LINE};
pub use spinlock::{RawSpinLock, SpinLock, SpinLockGuard, SpinLockIrq, SpinLockIrqGuard};
