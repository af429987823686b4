//! Softirqs: the ten per-CPU deferred vectors, their handling loop, ksoftirqd and bh-disable.
//!
//! # Model (kernel/softirq.c)
//!
//! A hard-interrupt handler does the urgent part of its work and *raises* a softirq
//! vector: one bit in its CPU's pending mask ([`IrqSystem::raise_softirq`]). When the
//! outermost interrupt leaves ([`IrqSystem::irq_exit`]), and the CPU is neither nested
//! in another interrupt nor inside a bh-disabled section, the pending vectors run
//! with interrupts enabled, lowest vector first (`handle_softirqs`). A vector raised while
//! they run makes the loop restart — at most [`MAX_SOFTIRQ_RESTART`] passes and within
//! [`MAX_SOFTIRQ_TIME_NS`] — after which the rest is handed to the CPU's `ksoftirqd/N`
//! thread so a softirq flood cannot starve tasks.
//!
//! `local_bh_disable` adds `SOFTIRQ_DISABLE_OFFSET` to the preempt count; the
//! outermost `local_bh_enable` runs what became pending meanwhile, in task context.
//!
//! The pending mask is one atomic word per CPU: raising is a `fetch_or`, and the
//! handler takes the whole mask with a `swap`, so a raise from an NMI (or from a
//! signal that lands between two instructions of the handler) is never lost. That is
//! stronger than Linux, which requires interrupts off around a plain OR. A raise from
//! NMI that finds nothing else pending sends the irq_work self-interrupt, whose
//! `irq_exit` then runs the vector.
//!
//! Actions are plain `fn(&IrqSystem, &SoftIrq)` pointers: the handling loop loads one
//! word per vector and makes one indirect call, with no reference counting. State a
//! vector needs (tasklet lists, timer bases) hangs off the [`IrqSystem`] it receives.
//!
//! # What a runtime calls
//!
//! After boot: [`IrqSystem::start_ksoftirqd`] and
//! [`IrqSystem::start_irq_work_threads`]. From its timer interrupt on every CPU:
//! [`IrqSystem::tick`]. From its `Ipi::IrqWork` handler: [`IrqSystem::irq_work_run`].
//! Around every interrupt: `irq_enter`/`irq_exit` (softirqs run inside `irq_exit`).
//! Because `irq_work_queue` may be called from NMI, `Platform::send_ipi(self,
//! Ipi::IrqWork)` must be safe to call from NMI/signal context.
//!
//! ```
//! use irqkit_core::softirq::SoftirqVec;
//! use irqkit_core::testing::FakePlatform;
//! use irqkit_core::{IrqSystem, SoftIrq};
//!
//! fn net_rx(sys: &IrqSystem, _ctx: &SoftIrq) {
//!     assert!(sys.in_serving_softirq());
//! }
//! let (sys, _platform) = FakePlatform::system(1);
//! sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
//! let flags = sys.local_irq_save();
//! let hard = sys.irq_enter();
//! sys.raise_softirq(SoftirqVec::NetRx).unwrap(); // from the hard-irq handler
//! sys.irq_exit(hard); // runs NET_RX here
//! sys.local_irq_restore(flags);
//! assert_eq!(sys.softirq_count(0usize.into(), SoftirqVec::NetRx), 1);
//! ```

mod bh;
mod handle;
mod ksoftirqd;
mod proc;
mod raise;
mod vector;

pub use bh::SpinLockBhGuard;
pub use vector::{SoftirqVec, NR_SOFTIRQS};

use alloc::sync::Arc;
use crossbeam_utils::atomic::AtomicCell;

use crate::cpu::{PerCpu, SoftIrq};
use crate::sched::Thread;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::SpinLockIrq;
use crate::IrqSystem;

/// Passes of the handling loop before the rest goes to ksoftirqd (`MAX_SOFTIRQ_RESTART`).
/// Ten passes bound the time a softirq storm can keep an interrupted task off its CPU
/// while still absorbing the common case of one or two re-raises.
pub const MAX_SOFTIRQ_RESTART: u32 = 10;

/// Time budget of one handling loop (`MAX_SOFTIRQ_TIME` = 2 ms): past it, restarting
/// would add latency to the interrupted task, so ksoftirqd takes over. Measured in
/// jiffies, as Linux does (rounded up, at least one): reading `jiffies` is a load,
/// where the platform clock may be a system call or a `rdtsc` that traps.
pub const MAX_SOFTIRQ_TIME_NS: u64 = 2_000_000;

/// A softirq action (`open_softirq`'s handler): runs with interrupts enabled, serving
/// the softirq on the current CPU.
pub type SoftirqAction = fn(&IrqSystem, &SoftIrq);

/// Conditions Linux reports with `WARN`/`pr_err`; irqkit counts them per kind so tests
/// and views can see them (the call itself also returns a typed error where it can).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BhWarning {
    /// "huh, entered softirq ... exited with ..." — an action leaked preempt count.
    SoftirqPreemptLeak = 0,
    /// `local_bh_enable` from hard-interrupt context.
    BhEnableInHardirq = 1,
    /// `local_bh_enable` without a matching `local_bh_disable`.
    BhEnableUnbalanced = 2,
    /// A raised vector has no action installed.
    SoftirqNoAction = 3,
    /// `tasklet_enable` of a tasklet that is not disabled.
    TaskletEnableUnderflow = 4,
    /// "tasklet SCHED state not set" found while running the list.
    TaskletSchedNotSet = 5,
    /// "Attempt to kill tasklet from interrupt".
    TaskletKillFromInterrupt = 6,
    /// `irq_work_queue_on` to an offline CPU.
    IrqWorkOfflineCpu = 7,
    /// `irq_work_queue_on` to a remote CPU from NMI context.
    IrqWorkRemoteFromNmi = 8,
    /// `local_bh_enable` with interrupts disabled (pending work goes to ksoftirqd).
    BhEnableIrqsDisabled = 9,
}

const NR_WARNINGS: usize = 10;

/// One CPU's softirq state.
pub(crate) struct SoftirqCpu {
    /// Pending vectors (`local_softirq_pending`), one bit each. Written only by
    /// this CPU with interrupts masked (or by single RMWs), so — as Linux's
    /// `__this_cpu_or` — updates are a plain load and store, not a locked RMW.
    pub(crate) pending: AtomicU32,
    /// Vectors raised from NMI, which may land between that load and store; merged
    /// into `pending` by the handling loop.
    pub(crate) nmi_pending: AtomicU32,
    /// Per-vector run counts (`kstat_softirqs_cpu`), written only by this CPU.
    counts: [AtomicU64; NR_SOFTIRQS],
    /// Times ksoftirqd was asked to run (`wakeup_softirqd`).
    ksoftirqd_wakeups: AtomicU64,
    /// Passes that ended by handing work to ksoftirqd.
    handoffs: AtomicU64,
    /// This CPU's `ksoftirqd/N`, once started.
    ksoftirqd: SpinLockIrq<Option<Arc<Thread>>>,
    /// Set once `ksoftirqd` exists, readable without the lock on the irq_exit path.
    has_ksoftirqd: AtomicBool,
}

impl SoftirqCpu {
    /// True if any vector is pending, raised from NMI or not.
    #[inline]
    pub(crate) fn any_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed) | self.nmi_pending.load(Ordering::Relaxed) != 0
    }

    /// Marks `bit` pending. Caller: this CPU with interrupts masked, not in NMI.
    #[inline]
    pub(crate) fn or_pending_irqoff(&self, bit: u32) {
        self.pending.store(self.pending.load(Ordering::Relaxed) | bit, Ordering::Relaxed);
    }

    /// Marks `bit` pending from NMI; true if the CPU must interrupt itself: the NMI
    /// word was empty, so no earlier self-interrupt covers it. (Reading `pending`
    /// instead would race the plain take like a Dekker pair; the rare extra
    /// interrupt is cheaper than the fences that would need.)
    #[inline]
    pub(crate) fn or_pending_nmi(&self, bit: u32) -> bool {
        self.nmi_pending.fetch_or(bit, Ordering::Relaxed) == 0
    }

    /// Takes every pending vector. Caller: this CPU with interrupts masked.
    #[inline]
    pub(crate) fn take_pending_irqoff(&self) -> u32 {
        let mut p = self.pending.load(Ordering::Relaxed);
        self.pending.store(0, Ordering::Relaxed);
        if self.nmi_pending.load(Ordering::Relaxed) != 0 {
            // swap, not load+store: a raise from a later NMI is kept.
            p |= self.nmi_pending.swap(0, Ordering::Relaxed);
        }
        p
    }

    fn new() -> Self {
        SoftirqCpu {
            pending: AtomicU32::new(0),
            nmi_pending: AtomicU32::new(0),
            counts: core::array::from_fn(|_| AtomicU64::new(0)),
            ksoftirqd_wakeups: AtomicU64::new(0),
            handoffs: AtomicU64::new(0),
            ksoftirqd: SpinLockIrq::new(None),
            has_ksoftirqd: AtomicBool::new(false),
        }
    }
}

/// The softirq subsystem of one [`IrqSystem`].
pub struct Softirqs {
    actions: [AtomicCell<Option<SoftirqAction>>; NR_SOFTIRQS],
    pub(crate) cpus: PerCpu<SoftirqCpu>,
    warnings: [AtomicU64; NR_WARNINGS],
    /// `force_irqthreads` (the `threadirqs` boot option): irq_exit leaves softirqs to
    /// ksoftirqd where it exists.
    force_threads: AtomicBool,
    /// [`MAX_SOFTIRQ_TIME_NS`] in jiffies at the system's HZ.
    pub(crate) budget_jiffies: u64,
}

impl Softirqs {
    pub(crate) fn new(nr_cpus: usize, hz: u32) -> Self {
        Softirqs {
            budget_jiffies: (MAX_SOFTIRQ_TIME_NS * hz as u64).div_ceil(1_000_000_000).max(1),
            actions: core::array::from_fn(|_| AtomicCell::new(None)),
            cpus: PerCpu::new(nr_cpus, |_| SoftirqCpu::new()),
            warnings: core::array::from_fn(|_| AtomicU64::new(0)),
            force_threads: AtomicBool::new(false),
        }
    }

    /// Installs an action without the already-open check (system construction only).
    pub(crate) fn install(&self, vec: SoftirqVec, action: SoftirqAction) {
        self.actions[vec.nr()].store(Some(action));
    }

    #[inline]
    pub(crate) fn action(&self, nr: usize) -> Option<SoftirqAction> {
        self.actions[nr].load()
    }

    /// Records a warning of `kind`.
    pub(crate) fn warn(&self, kind: BhWarning) {
        self.warnings[kind as usize].fetch_add(1, Ordering::Relaxed);
    }
}

impl IrqSystem {
    /// Sets `force_irqthreads` (Linux's `threadirqs`): softirqs pending at irq_exit are
    /// then run by the CPU's ksoftirqd, once it exists, instead of inline.
    pub fn set_softirq_force_threading(&self, on: bool) {
        self.softirq.force_threads.store(on, Ordering::Relaxed);
    }

    /// `local_irq_save` for a CPU state the caller already holds (saves the lookup).
    #[inline]
    pub(crate) fn irq_save_on(&self, cpu: &crate::cpu::CpuState) -> crate::cpu::IrqFlags {
        debug_assert_eq!(self.current_cpu(), Some(cpu.id()), "irq_save_on another cpu");
        cpu.irq_save_raw()
    }

    /// `local_irq_restore` for a CPU state the caller already holds.
    #[inline]
    pub(crate) fn irq_restore_on(&self, cpu: &crate::cpu::CpuState, flags: crate::cpu::IrqFlags) {
        debug_assert_eq!(self.current_cpu(), Some(cpu.id()), "irq_restore_on another cpu");
        if cpu.irq_restore_raw(flags) {
            self.platform().replay_irqs(cpu);
        }
    }

    /// How many times the warning `kind` was raised on this system.
    pub fn bh_warnings(&self, kind: BhWarning) -> u64 {
        self.softirq.warnings[kind as usize].load(Ordering::Relaxed)
    }

    /// How many times `vec` ran on `cpu` (`kstat_softirqs_cpu`); 0 for a bad CPU.
    pub fn softirq_count(&self, cpu: crate::CpuId, vec: SoftirqVec) -> u64 {
        self.softirq.cpus.get(cpu).map_or(0, |c| c.counts[vec.nr()].load(Ordering::Relaxed))
    }

    /// How many times `cpu`'s ksoftirqd was asked to run; 0 for a bad CPU.
    pub fn ksoftirqd_wakeups(&self, cpu: crate::CpuId) -> u64 {
        self.softirq.cpus.get(cpu).map_or(0, |c| c.ksoftirqd_wakeups.load(Ordering::Relaxed))
    }

    /// How many handling loops on `cpu` stopped at the restart or time limit and left
    /// work to ksoftirqd; 0 for a bad CPU.
    pub fn softirq_handoffs(&self, cpu: crate::CpuId) -> u64 {
        self.softirq.cpus.get(cpu).map_or(0, |c| c.handoffs.load(Ordering::Relaxed))
    }
}
