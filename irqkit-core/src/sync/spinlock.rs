//! Spinlocks: a `lock_api` raw spinlock and an irq-saving lock whose guard restores flags.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::atomic::{Ordering, SpinWait};
use crate::cpu::IrqFlags;
use crate::IrqSystem;
// loom's atomics have no const constructor, which `RawMutex::INIT` needs; the lock
// itself is not what the loom models check, so it keeps core's atomic there.
use core::sync::atomic::AtomicBool;

/// A test-and-test-and-set spinlock implementing [`lock_api::RawMutex`].
pub struct RawSpinLock {
    locked: AtomicBool,
}

// SAFETY: `lock` only returns once it has swapped `locked` from false to true with
// Acquire, and `unlock` stores false with Release, so at most one holder exists and the
// holder's writes are visible to the next one.
unsafe impl lock_api::RawMutex for RawSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawSpinLock = RawSpinLock { locked: AtomicBool::new(false) };
    type GuardMarker = lock_api::GuardNoSend;

    #[inline]
    fn lock(&self) {
        let mut wait = SpinWait::new();
        while !self.try_lock() {
            while self.locked.load(Ordering::Relaxed) {
                wait.spin();
            }
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

/// A plain spinlock for code that already runs with interrupts masked.
pub type SpinLock<T> = lock_api::Mutex<RawSpinLock, T>;
/// The guard of a [`SpinLock`].
pub type SpinLockGuard<'a, T> = lock_api::MutexGuard<'a, RawSpinLock, T>;

/// A spinlock taken with the local interrupt mask set (`spin_lock_irqsave`).
///
/// The guard restores the saved flags on drop, replaying any interrupt that arrived
/// while the lock was held.
pub struct SpinLockIrq<T: ?Sized> {
    raw: RawSpinLock,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `raw`, as for any mutex.
unsafe impl<T: ?Sized + Send> Sync for SpinLockIrq<T> {}
// SAFETY: moving the lock moves the data; `T: Send` makes that sound.
unsafe impl<T: ?Sized + Send> Send for SpinLockIrq<T> {}

impl<T> SpinLockIrq<T> {
    /// A new unlocked lock holding `v`.
    pub fn new(v: T) -> Self {
        SpinLockIrq { raw: <RawSpinLock as lock_api::RawMutex>::INIT, data: UnsafeCell::new(v) }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> SpinLockIrq<T> {
    /// Masks local interrupts on `sys`'s current CPU, then takes the lock.
    #[inline]
    pub fn lock_irqsave<'a>(&'a self, sys: &'a IrqSystem) -> SpinLockIrqGuard<'a, T> {
        let flags = sys.local_irq_save();
        lock_api::RawMutex::lock(&self.raw);
        SpinLockIrqGuard { lock: self, sys, flags, _p: PhantomData }
    }

    /// Takes the lock in hard-irq context, where interrupts are already masked (the
    /// `&HardIrq` proves it): no mask save or restore, so no platform call — the
    /// `raw_spin_lock` that Linux's flow handlers use on the descriptor.
    #[inline]
    pub fn lock_hardirq<'a>(
        &'a self,
        sys: &'a IrqSystem,
        _ctx: &crate::cpu::HardIrq,
    ) -> SpinLockIrqGuard<'a, T> {
        lock_api::RawMutex::lock(&self.raw);
        SpinLockIrqGuard { lock: self, sys, flags: IrqFlags::untouched(), _p: PhantomData }
    }

    /// Mutable access without locking (the `&mut` proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// The guard of a [`SpinLockIrq`]; restores the saved interrupt flags on drop.
#[must_use = "the lock is released when the guard is dropped"]
pub struct SpinLockIrqGuard<'a, T: ?Sized> {
    lock: &'a SpinLockIrq<T>,
    sys: &'a IrqSystem,
    flags: IrqFlags,
    _p: PhantomData<*mut ()>,
}

impl<T: ?Sized> Deref for SpinLockIrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while `raw` is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for SpinLockIrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while `raw` is held, and `&mut self` is unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for SpinLockIrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard took the lock in `lock_irqsave`.
        unsafe { lock_api::RawMutex::unlock(&self.lock.raw) };
        if !self.flags.is_untouched() {
            self.sys.local_irq_restore(self.flags);
        }
    }
}
