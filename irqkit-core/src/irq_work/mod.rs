//! irq_work: run a callback in hard-interrupt context soon, queued from anywhere — NMI included.
//!
//! # Model (kernel/irq_work.c)
//!
//! An [`IrqWork`] carries a flags word: PENDING (queued), BUSY (claimed or running),
//! LAZY (no interrupt; wait for the next tick) and HARD_IRQ. Queueing *claims* the item
//! with one `fetch_or` of PENDING|BUSY: if PENDING was already set the item is queued
//! and the call returns false; an item whose callback is merely running (BUSY only)
//! can be claimed and queued again. A claimed item is pushed onto its CPU's lock-less
//! raised list (or lazy list) and, if that list was empty, the CPU interrupts itself
//! through the platform (`arch_irq_work_raise`, the `IWI` row). The runtime's IrqWork
//! interrupt handler calls [`IrqSystem::irq_work_run`]; the tick calls
//! [`IrqSystem::irq_work_tick`] for lazy work.
//!
//! Queueing neither locks nor allocates nor takes a reference: the list links the item
//! itself, and the item's user handles are counted in its flags word, so the last
//! handle dropped while the item is BUSY leaves it to the CPU that runs it
//! (`sync/counted.rs`). That makes queueing safe from an NMI that interrupted
//! the very CPU's list code, for two atomic read-modify-writes (claim, push).
//!
//! PREEMPT_RT runs items without HARD_IRQ in a per-CPU `irq_work/N` thread. irqkit
//! makes that a property of the item, visible in its callback's type: an item made
//! with [`IrqWork::new_threaded`] gets `&Task` and always runs in that thread (FIFO 1,
//! [`IrqSystem::start_irq_work_threads`]); the interrupt only wakes the thread. Items
//! made with [`IrqWork::new`] get `&HardIrq` and run in the interrupt, as HARD_IRQ
//! items do on RT and every item does without it.

pub(crate) mod llist;
#[cfg(all(test, loom))]
mod loom_model;
mod queue;
mod run;
mod thread;

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::ptr::{self, NonNull};

use crate::cpu::{HardIrq, PerCpu, Task};
use crate::sched::Thread;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use crate::sync::counted::{release_if_unowned, CountedNode, NodeRef};
use crate::sync::SpinLockIrq;
use crate::IrqSystem;
use llist::{Llist, LlistNode};

/// Queued, callback not yet started (`IRQ_WORK_PENDING`).
pub const IRQ_WORK_PENDING: u32 = 0x01;
/// Claimed or running (`IRQ_WORK_BUSY`).
pub const IRQ_WORK_BUSY: u32 = 0x02;
/// Do not interrupt; run from the next tick (`IRQ_WORK_LAZY`).
pub const IRQ_WORK_LAZY: u32 = 0x04;
/// Run in hard-interrupt context even on PREEMPT_RT (`IRQ_WORK_HARD_IRQ`).
pub const IRQ_WORK_HARD_IRQ: u32 = 0x08;
/// What a claim sets (`IRQ_WORK_CLAIMED` = PENDING | BUSY).
pub const IRQ_WORK_CLAIMED: u32 = IRQ_WORK_PENDING | IRQ_WORK_BUSY;

type HardFn = dyn Fn(&IrqSystem, &IrqWork, &HardIrq) + Send + Sync;
type ThreadFn = dyn Fn(&IrqSystem, &IrqWork, &Task) + Send + Sync;

/// Where an item's callback runs, and the token it gets there.
pub(crate) enum IrqWorkFn {
    /// In the irq_work interrupt (or the tick).
    Hard(Box<HardFn>),
    /// In the CPU's `irq_work/N` thread.
    Thread(Box<ThreadFn>),
}

/// The shared part of an [`IrqWork`]; it is what the per-CPU lists link.
pub(crate) struct IrqWorkInner {
    next: AtomicPtr<IrqWorkInner>,
    /// The flags in the low half, the number of [`IrqWork`] handles in the high half.
    flags: AtomicU64,
    func: IrqWorkFn,
}

// SAFETY: BUSY is set by the claim and cleared by `run_single`/teardown, all RMWs on
// `flags`; a BUSY item is on a list or in its runner's hands.
unsafe impl CountedNode for IrqWorkInner {
    const IN_FLIGHT: u64 = IRQ_WORK_BUSY as u64;
    const LISTED: u64 = IRQ_WORK_PENDING as u64;
    fn word(&self) -> &AtomicU64 {
        &self.flags
    }
}

// SAFETY: `next` is the item's own link word, used only by the lists.
unsafe impl LlistNode for IrqWorkInner {
    fn llist_next(&self) -> &AtomicPtr<Self> {
        &self.next
    }
}

/// An irq_work item (`struct irq_work`): cheap to clone, all clones are the same item.
/// Dropping the last clone of a queued or running item is safe: it still runs once,
/// and is freed after.
#[derive(Clone)]
pub struct IrqWork(NodeRef<IrqWorkInner>);

impl fmt::Debug for IrqWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IrqWork({:#x})", self.flags())
    }
}

impl IrqWork {
    /// `init_irq_work`: a new idle item running `func` in hard-interrupt context.
    pub fn new(func: impl Fn(&IrqSystem, &IrqWork, &HardIrq) + Send + Sync + 'static) -> Self {
        Self::with_flags(0, func)
    }

    /// A new idle item with [`IRQ_WORK_LAZY`] and/or [`IRQ_WORK_HARD_IRQ`] set
    /// (`IRQ_WORK_INIT_LAZY`, `IRQ_WORK_INIT_HARD`); other bits are ignored.
    pub fn with_flags(
        flags: u32,
        func: impl Fn(&IrqSystem, &IrqWork, &HardIrq) + Send + Sync + 'static,
    ) -> Self {
        Self::build(flags & (IRQ_WORK_LAZY | IRQ_WORK_HARD_IRQ), IrqWorkFn::Hard(Box::new(func)))
    }

    /// An idle item whose callback runs in task context, in the `irq_work/N` thread of
    /// the CPU it was queued on (PREEMPT_RT's treatment of non-HARD_IRQ items).
    pub fn new_threaded(
        func: impl Fn(&IrqSystem, &IrqWork, &Task) + Send + Sync + 'static,
    ) -> Self {
        Self::build(0, IrqWorkFn::Thread(Box::new(func)))
    }

    fn build(flags: u32, func: IrqWorkFn) -> Self {
        IrqWork(NodeRef::new(IrqWorkInner {
            next: AtomicPtr::new(ptr::null_mut()),
            flags: AtomicU64::new(flags as u64),
            func,
        }))
    }

    /// True for an item made with [`IrqWork::new_threaded`].
    pub fn is_threaded(&self) -> bool {
        matches!(self.0.get().func, IrqWorkFn::Thread(_))
    }

    /// The current flags word.
    #[inline]
    pub fn flags(&self) -> u32 {
        self.0.get().flags.load(Ordering::Acquire) as u32
    }

    /// `irq_work_is_pending`: queued and not yet started.
    pub fn is_pending(&self) -> bool {
        self.flags() & IRQ_WORK_PENDING != 0
    }

    /// `irq_work_is_busy`: claimed, queued or running.
    pub fn is_busy(&self) -> bool {
        self.flags() & IRQ_WORK_BUSY != 0
    }

    /// True if both handles name the same item.
    pub fn ptr_eq(&self, other: &IrqWork) -> bool {
        self.0.ptr_eq(&other.0)
    }
}

/// One CPU's irq_work lists.
pub(crate) struct IrqWorkCpu {
    /// Work that interrupts the CPU (`raised_list`).
    raised: Llist<IrqWorkInner>,
    /// Work that waits for the tick (`lazy_list`).
    lazy: Llist<IrqWorkInner>,
    /// Threaded work for `irq_work/N` (RT's use of `lazy_list`).
    threaded: Llist<IrqWorkInner>,
    /// This CPU's `irq_work/N`, once started.
    thread: SpinLockIrq<Option<Arc<Thread>>>,
    /// Times the interrupt or tick asked `irq_work/N` to run.
    thread_wakeups: AtomicU64,
}

/// The irq_work state of one [`IrqSystem`].
pub struct IrqWorkLists {
    cpus: PerCpu<IrqWorkCpu>,
    /// False once a self-interrupt could not be sent: the tick then runs raised work.
    arch_has_interrupt: AtomicBool,
}

impl IrqWorkLists {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        IrqWorkLists {
            cpus: PerCpu::new(nr_cpus, |_| IrqWorkCpu {
                raised: Llist::new(),
                lazy: Llist::new(),
                threaded: Llist::new(),
                thread: SpinLockIrq::new(None),
                thread_wakeups: AtomicU64::new(0),
            }),
            arch_has_interrupt: AtomicBool::new(true),
        }
    }
}

/// The claim protocol on a flags word: sets PENDING|BUSY; `None` if it was pending,
/// else the flags before the claim.
#[inline]
pub(crate) fn claim(flags: &AtomicU64) -> Option<u32> {
    let old = flags.fetch_or(IRQ_WORK_CLAIMED as u64, Ordering::AcqRel);
    (old & IRQ_WORK_PENDING as u64 == 0).then_some(old as u32)
}

/// Runs one claimed item's callback with Linux's flag protocol (`irq_work_single`):
/// clear PENDING (so it may be queued again from here on), call, then drop BUSY unless
/// someone claimed it meanwhile. Returns the word BUSY was cleared from, if it was.
#[inline]
pub(crate) fn run_single(flags: &AtomicU64, call: impl FnOnce()) -> Option<u64> {
    const PENDING: u64 = IRQ_WORK_PENDING as u64;
    // Linux uses a plain store here; an RMW costs the same as a SeqCst store on x86
    // and keeps the protocol within what the loom model can check. A listed item has
    // PENDING set and only its runner clears it, so subtracting clears it: one
    // `lock xadd`, where a fetch_and whose result is used is a cmpxchg loop.
    let mut cur = flags.fetch_sub(PENDING, Ordering::SeqCst) - PENDING;
    call();
    // Linux's single cmpxchg, retried only when just the handle count moved.
    loop {
        if cur & PENDING != 0 {
            return None; // claimed again meanwhile: it stays BUSY for that run
        }
        let busy_off = cur & !(IRQ_WORK_BUSY as u64);
        match flags.compare_exchange(cur, busy_off, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Some(cur),
            Err(now) => cur = now,
        }
    }
}

/// Runs the claimed item at `ptr` through `call` (which gets a borrowed handle) and
/// frees it if its last handle went away while it was queued or running.
#[inline]
pub(crate) fn run_claimed(ptr: NonNull<IrqWorkInner>, call: impl FnOnce(&IrqWork)) {
    // SAFETY: the caller hands over the claim, so the item is BUSY until run_single
    // clears it, and the borrowed handle does not outlive this call.
    let work = unsafe { NodeRef::borrowed(ptr) };
    let work = IrqWork(core::mem::ManuallyDrop::into_inner(work));
    let work = core::mem::ManuallyDrop::new(work);
    let flags = &work.0.get().flags;
    if let Some(old) = run_single(flags, || call(&work)) {
        // SAFETY: this cleared BUSY, the last in-flight bit; nothing below touches it.
        unsafe { release_if_unowned(ptr, old, IRQ_WORK_BUSY as u64) };
    }
}
