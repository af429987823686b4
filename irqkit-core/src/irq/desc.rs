//! `IrqDesc`: one Linux interrupt number's descriptor — chip binding, flow handler,
//! actions, depth, state bits and the spurious-detector counters.
//!
//! # Locking
//!
//! Everything that Linux protects with `desc->lock` lives in [`DescInner`] behind a
//! [`SpinLockIrq`]. The `IRQD_*` state word is an atomic outside the lock: it is only
//! *written* under the lock, but `synchronize_irq` and the hot path read bits such as
//! INPROGRESS without it, exactly as Linux reads `irqd_irq_inprogress()`.
//!
//! Descriptors are recycled, never returned to the allocator while the system lives,
//! so a `&IrqDesc` from [`super::IrqDescs::get`] stays valid (Linux frees them under
//! RCU instead); a recycled descriptor is reset to Linux's defaults.

use alloc::boxed::Box;
use alloc::sync::Arc;

use super::action::IrqAction;
use super::chip::IrqData;
use super::desc_mask::DescMask;
use super::desc_rare::DescRare;
use super::flags::{IrqSettings, IrqdState, IrqsState, Trigger};
use super::flow::FlowHandler;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::SpinLockIrq;

/// The actions of a line, in registration order. Replaced wholesale on request/free
/// so the flow handler can walk a snapshot without holding the lock.
pub type ActionList = Arc<[Arc<IrqAction>]>;

/// The lock-protected part of a descriptor (`struct irq_desc` fields under `desc->lock`).
///
/// Fields the hot path touches stay inline; rarely written ones live in one lazily
/// allocated box (`desc_rare.rs`), and the two affinity masks are one word each on
/// machines with up to 64 CPUs (`desc_mask.rs`), which keeps a mapped descriptor
/// small when tens of thousands of MSI/LPI lines exist.
pub struct DescInner {
    /// The chip binding, outermost hierarchy level first.
    pub data: IrqData,
    /// `IRQS_*` core state.
    pub istate: IrqsState,
    /// `IRQ_*` settings.
    pub settings: IrqSettings,
    /// Nested disable count; 0 means enabled.
    pub depth: u32,
    /// The flow handler.
    pub handler: FlowHandler,
    /// Registered actions (None: no action); written only through `set_actions`.
    pub(super) actions: Option<ActionList>,
    /// Flow handlers reading `actions` with the lock dropped (`action_list.rs`).
    pub(super) action_borrows: u32,
    /// True for a chained parent line (hidden from /proc and suspend).
    pub chained: bool,
    /// Spurious detector: interrupts counted since the first unhandled one.
    pub irq_count: u32,
    /// Spurious detector: jiffies of the last unhandled interrupt.
    pub last_unhandled: u64,
    /// Spurious detector: unhandled interrupts in the window.
    pub irqs_unhandled: u32,
    /// Threaded deferral snapshot; bit 31 marks "deferred".
    pub threads_handled_last: u32,
    /// Requested affinity.
    pub affinity: DescMask,
    /// Effective affinity (what the chip programmed).
    pub effective: DescMask,
    /// Rarely written fields, allocated on first write (`desc_rare.rs`).
    pub(super) rare: Option<Box<DescRare>>,
}

impl DescInner {
    pub(super) fn new(irq: u32) -> Self {
        DescInner {
            data: IrqData::new(irq),
            istate: IrqsState::empty(),
            settings: IrqSettings::empty(),
            depth: 1,
            handler: FlowHandler::Bad,
            actions: None,
            action_borrows: 0,
            chained: false,
            irq_count: 0,
            last_unhandled: 0,
            irqs_unhandled: 0,
            threads_handled_last: 0,
            affinity: DescMask::new(),
            effective: DescMask::new(),
            rare: None,
        }
    }

    /// True if the line has at least one action.
    #[inline]
    pub fn has_action(&self) -> bool {
        self.actions.as_ref().is_some_and(|a| !a.is_empty())
    }
}

/// An interrupt descriptor.
pub struct IrqDesc {
    irq: u32,
    state: AtomicU32,
    allocated: AtomicBool,
    /// Total count over all CPUs (`tot_count`).
    pub(crate) tot_count: AtomicU32,
    /// Bit per ONESHOT action whose thread has not finished yet (`threads_oneshot`).
    /// Set by the hard handler (serialised by INPROGRESS), cleared by threads.
    pub(crate) threads_oneshot: AtomicU64,
    /// Woken threads not yet finished (`threads_active`).
    pub(crate) threads_active: AtomicU32,
    /// Thread runs that returned exactly HANDLED (`threads_handled`).
    pub(crate) threads_handled: AtomicU32,
    /// The descriptor lock.
    pub(crate) inner: SpinLockIrq<DescInner>,
}

impl IrqDesc {
    pub(crate) fn new(irq: u32) -> Self {
        IrqDesc {
            irq,
            state: AtomicU32::new((IrqdState::IRQ_DISABLED | IrqdState::IRQ_MASKED).bits()),
            allocated: AtomicBool::new(false),
            tot_count: AtomicU32::new(0),
            threads_oneshot: AtomicU64::new(0),
            threads_active: AtomicU32::new(0),
            threads_handled: AtomicU32::new(0),
            inner: SpinLockIrq::new(DescInner::new(irq)),
        }
    }

    /// The Linux irq number.
    #[inline]
    pub fn irq(&self) -> u32 {
        self.irq
    }

    /// True while allocated (between `irq_alloc_descs` and `irq_free_descs`).
    #[inline]
    pub fn is_allocated(&self) -> bool {
        self.allocated.load(Ordering::Acquire)
    }

    pub(crate) fn set_allocated(&self, v: bool) {
        self.allocated.store(v, Ordering::Release);
    }

    /// `desc_set_defaults`: no chip, bad-irq handler, DISABLED|MASKED, depth 1, zeroes.
    pub(crate) fn reset(&self, sys: &crate::IrqSystem) {
        let mut g = self.inner.lock_irqsave(sys);
        let mut fresh = DescInner::new(self.irq);
        // A flow may still read the old action list (only after misuse: the line was
        // freed from its own handler); its lists must outlive the reset.
        g.carry_borrows_to(&mut fresh);
        *g = fresh;
        drop(g);
        self.state
            .store((IrqdState::IRQ_DISABLED | IrqdState::IRQ_MASKED).bits(), Ordering::Release);
        self.tot_count.store(0, Ordering::Relaxed);
        self.threads_active.store(0, Ordering::Relaxed);
        self.threads_oneshot.store(0, Ordering::Relaxed);
        self.threads_handled.store(0, Ordering::Relaxed);
    }

    // ---- IRQD_* accessors (written under the descriptor lock) ----

    /// The whole `IRQD_*` word.
    #[inline]
    pub fn irqd(&self) -> IrqdState {
        IrqdState::from_bits_retain(self.state.load(Ordering::Acquire))
    }
    /// Sets `bits` in the state word. The caller holds the descriptor lock, which
    /// serialises writers, so a load/store pair suffices (no locked RMW on the hot path).
    #[inline]
    pub(crate) fn irqd_set(&self, bits: IrqdState) {
        let v = self.state.load(Ordering::Relaxed);
        self.state.store(v | bits.bits(), Ordering::Release);
    }
    /// Clears `bits` in the state word (descriptor lock held, see [`Self::irqd_set`]).
    #[inline]
    pub(crate) fn irqd_clear(&self, bits: IrqdState) {
        let v = self.state.load(Ordering::Relaxed);
        self.state.store(v & !bits.bits(), Ordering::Release);
    }
    /// `irqd_irq_disabled`.
    #[inline]
    pub fn is_disabled(&self) -> bool {
        self.irqd().contains(IrqdState::IRQ_DISABLED)
    }
    /// `irqd_irq_masked`.
    #[inline]
    pub fn is_masked(&self) -> bool {
        self.irqd().contains(IrqdState::IRQ_MASKED)
    }
    /// `irqd_irq_inprogress`.
    #[inline]
    pub fn in_progress(&self) -> bool {
        self.irqd().contains(IrqdState::IRQ_INPROGRESS)
    }
    /// `irqd_is_started`.
    pub fn is_started(&self) -> bool {
        self.irqd().contains(IrqdState::IRQ_STARTED)
    }
    /// `irqd_is_activated`.
    pub fn is_activated(&self) -> bool {
        self.irqd().contains(IrqdState::ACTIVATED)
    }
    /// `irqd_affinity_is_managed`.
    pub fn is_managed(&self) -> bool {
        self.irqd().contains(IrqdState::AFFINITY_MANAGED)
    }
    /// `irqd_is_per_cpu`.
    pub fn is_per_cpu(&self) -> bool {
        self.irqd().contains(IrqdState::PER_CPU)
    }
    /// `irqd_is_level_type`.
    pub fn is_level(&self) -> bool {
        self.irqd().contains(IrqdState::LEVEL)
    }
    /// The trigger type in the state word.
    pub fn trigger(&self) -> Trigger {
        Trigger::from_bits_truncate(self.irqd().bits() & IrqdState::TRIGGER_MASK.bits())
    }
    /// Replaces the trigger bits of the state word.
    pub(crate) fn set_trigger_bits(&self, ty: Trigger) {
        self.irqd_clear(IrqdState::TRIGGER_MASK);
        self.irqd_set(IrqdState::from_bits_retain(ty.bits() & Trigger::SENSE_MASK.bits()));
    }
    /// Total interrupts handled on this line (`tot_count`).
    pub fn total_count(&self) -> u32 {
        self.tot_count.load(Ordering::Relaxed)
    }
    /// Threads woken and not yet finished.
    pub fn threads_active(&self) -> u32 {
        self.threads_active.load(Ordering::Acquire)
    }
}

impl IrqDesc {
    /// The ONESHOT bits of threads still running.
    pub fn threads_oneshot(&self) -> u64 {
        self.threads_oneshot.load(Ordering::Acquire)
    }
}
