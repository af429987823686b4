//! Timers: a hierarchical timer wheel per CPU, run from TIMER_SOFTIRQ (kernel/time/timer.c).
//!
//! # Model
//!
//! `jiffies` counts ticks since boot; the runtime's tick handler calls
//! [`IrqSystem::tick`] on every CPU, which advances it from the clock, raises
//! TIMER_SOFTIRQ when this CPU's wheel has a due bucket, and runs the scheduler tick
//! and lazy irq_work. A [`Timer`] lives on one CPU's base at a time ([`wheel`]);
//! `mod_timer` queues it on the calling CPU (unless its callback runs right now on its
//! old base — then it stays there, so a timer's callback never runs on two CPUs at
//! once). Deferrable timers sit on a second base per CPU that an idle CPU need not
//! wake for ([`IrqSystem::next_timer_expiry`] ignores it).
//!
//! A runtime that stops an idle CPU's tick (NO_HZ_IDLE) asks
//! [`IrqSystem::timers_idle_enter`] for the next expiry, which also marks the base idle
//! so a timer queued there from another CPU kicks it with a reschedule IPI; it brings
//! jiffies up to the clock with [`IrqSystem::update_jiffies`] on interrupt entry and on
//! leaving idle, and calls [`IrqSystem::timers_clear_idle`] when the tick runs again.
//!
//! Callbacks run in softirq context with the base unlocked, so they may re-arm or
//! delete their own timer. [`Timer::del_sync`] also waits for a running callback, so
//! it needs task context and does not compile from a timer callback:
//!
//! ```compile_fail
//! use irqkit_core::timer::Timer;
//! let t = Timer::new(|sys, me, ctx| {
//!     me.del_sync(sys, ctx).unwrap(); // error: expected `&Task`, found `&SoftIrq`
//! });
//! ```

mod api;
mod run;
mod sleep;
pub mod wheel;
pub use sleep::msleep;

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;

use crate::cpu::{PerCpu, SoftIrq};
use crate::softirq::{SoftirqVec, Softirqs};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::SpinLockIrq;
use crate::IrqSystem;
use wheel::{TimerBase, SLOT_NONE};

/// Flag: the timer does not need to wake an idle CPU (`TIMER_DEFERRABLE`).
pub const TIMER_DEFERRABLE: u32 = 1 << 0;
/// Flag: the timer stays on the CPU it was first queued on (`TIMER_PINNED`).
pub const TIMER_PINNED: u32 = 1 << 1;

const BASE_STD: usize = 0;
const BASE_DEF: usize = 1;
/// `timer->flags` CPU value while the timer moves between bases (`TIMER_MIGRATING`).
const CPU_MIGRATING: u32 = u32::MAX;

type TimerFn = dyn Fn(&IrqSystem, &Timer, &SoftIrq) + Send + Sync;

/// The shared part of a [`Timer`].
pub(crate) struct TimerInner {
    func: Box<TimerFn>,
    flags: u32,
    /// Absolute expiry in jiffies (`timer->expires`).
    expires: AtomicU64,
    /// The CPU whose base the timer belongs to, or [`CPU_MIGRATING`].
    cpu: AtomicU32,
    /// Bucket (or expiring list) and index there; changed only under the base lock.
    slot: AtomicU32,
    pos: AtomicU32,
}

/// A kernel timer (`struct timer_list`): cheap to clone; every clone is the same timer.
#[derive(Clone)]
pub struct Timer(pub(crate) Arc<TimerInner>);

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timer(expires {}, pending {})", self.expires(), self.pending())
    }
}

impl Timer {
    /// `timer_setup(timer, func, 0)`: an idle timer; `func` runs in softirq context.
    pub fn new(func: impl Fn(&IrqSystem, &Timer, &SoftIrq) + Send + Sync + 'static) -> Self {
        Self::with_flags(0, func)
    }

    /// `timer_setup` with [`TIMER_DEFERRABLE`] and/or [`TIMER_PINNED`].
    pub fn with_flags(
        flags: u32,
        func: impl Fn(&IrqSystem, &Timer, &SoftIrq) + Send + Sync + 'static,
    ) -> Self {
        Timer(Arc::new(TimerInner {
            func: Box::new(func),
            flags: flags & (TIMER_DEFERRABLE | TIMER_PINNED),
            expires: AtomicU64::new(0),
            cpu: AtomicU32::new(0),
            slot: AtomicU32::new(SLOT_NONE),
            pos: AtomicU32::new(0),
        }))
    }

    /// `timer_pending`: queued and not yet started (a racy snapshot, as in Linux).
    pub fn pending(&self) -> bool {
        self.0.slot.load(Ordering::Relaxed) != SLOT_NONE
    }

    /// The expiry of the last (re)arm, in jiffies.
    pub fn expires(&self) -> u64 {
        self.0.expires.load(Ordering::Relaxed)
    }

    /// True for a deferrable timer.
    pub fn is_deferrable(&self) -> bool {
        self.0.flags & TIMER_DEFERRABLE != 0
    }

    /// True if both handles name the same timer.
    pub fn ptr_eq(&self, other: &Timer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn base_index(&self) -> usize {
        if self.is_deferrable() {
            BASE_DEF
        } else {
            BASE_STD
        }
    }

    fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

/// One CPU's timer bases (`timer_bases[BASE_STD]`, `[BASE_DEF]`).
pub(crate) struct TimerCpu {
    bases: [SpinLockIrq<TimerBase>; 2],
    /// Each base's `next_expiry`, readable by the tick without the lock.
    next_hint: [AtomicU64; 2],
    /// The CPU stopped its tick in idle (`base->is_idle`): a timer queued first on its
    /// standard base from another CPU must wake it. Set under that base's lock
    /// together with reading its next expiry; cleared without it (a stale `true`
    /// costs one needless wake-up IPI).
    is_idle: AtomicBool,
}

/// The timer state of one [`IrqSystem`]: jiffies and the per-CPU wheels.
pub struct TimerBases {
    jiffies: AtomicU64,
    cpus: PerCpu<TimerCpu>,
}

impl TimerBases {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        TimerBases {
            jiffies: AtomicU64::new(0),
            cpus: PerCpu::new(nr_cpus, |_| TimerCpu {
                bases: [SpinLockIrq::new(TimerBase::new()), SpinLockIrq::new(TimerBase::new())],
                next_hint: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
                is_idle: AtomicBool::new(false),
            }),
        }
    }
}

/// Installs TIMER_SOFTIRQ's action (`init_timers`).
pub(crate) fn install_softirq(softirq: &Softirqs) {
    softirq.install(SoftirqVec::Timer, run::run_timer_softirq);
}

impl IrqSystem {
    /// `jiffies`: ticks since boot.
    #[inline]
    pub fn jiffies(&self) -> u64 {
        self.timers.jiffies.load(Ordering::Acquire)
    }

    /// `msecs_to_jiffies`: rounds up, so a timeout is never shorter than asked.
    pub fn msecs_to_jiffies(&self, ms: u64) -> u64 {
        let hz = self.config().hz as u64;
        ms.saturating_mul(hz).div_ceil(1000)
    }

    /// `jiffies_to_msecs`.
    pub fn jiffies_to_msecs(&self, j: u64) -> u64 {
        j.saturating_mul(1000) / self.config().hz as u64
    }
}
