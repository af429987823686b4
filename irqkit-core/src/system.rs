//! `IrqSystem`: the one value all interrupt state hangs off (no global singletons).

use alloc::sync::Arc;

use crate::cpu::{CpuId, CpuMask, CpuState, IrqFlags, PerCpu, MAX_CPUS};
use crate::platform::Platform;
use crate::sched::Scheduler;
use crate::IrqError;

/// Static configuration of an [`IrqSystem`].
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// Number of possible CPUs (1..=256).
    pub nr_cpus: usize,
    /// Tick frequency in Hz (jiffies per second).
    pub hz: u32,
    /// `threadirqs`: force-thread every handler that allows it.
    pub threadirqs: bool,
    /// `irqfixup` / `irqpoll` boot parameter.
    pub irqfixup: crate::irq::IrqFixup,
    /// `noirqdebug`: no spurious detection for newly requested lines.
    pub noirqdebug: bool,
    /// CPU topology for workqueue affinity scopes; `None`: one CPU per core, one
    /// LLC, one node.
    pub topology: Option<crate::workqueue::CpuTopology>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            nr_cpus: 4,
            hz: 1000,
            threadirqs: false,
            irqfixup: crate::irq::IrqFixup::Off,
            noirqdebug: false,
            topology: None,
        }
    }
}

/// A whole interrupt subsystem: per-CPU context state, the kernel-thread scheduler
/// and (in later layers) descriptors and bottom halves.
pub struct IrqSystem {
    platform: Arc<dyn Platform>,
    /// The platform's [`Platform::current_cpu_fn`], looked up once.
    cpu_fn: Option<fn() -> Option<CpuId>>,
    /// [`Platform::moves_irq_preempted`], where this build has the pins for it.
    moves_irq_preempted: bool,
    cpus: PerCpu<CpuState>,
    config: SystemConfig,
    /// The kernel-thread scheduler.
    pub sched: Scheduler,
    pub(crate) softirq: crate::softirq::Softirqs,
    pub(crate) tasklets: crate::tasklet::TaskletLists,
    pub(crate) irq_work: crate::irq_work::IrqWorkLists,
    pub(crate) timers: crate::timer::TimerBases,
    /// The generic IRQ layer: descriptors, domains, detector state.
    pub irq: crate::irq::IrqCore,
    pub(crate) wq: crate::workqueue::Workqueues,
}

impl IrqSystem {
    /// Builds a system for `config` on `platform`. CPUs start offline; the runtime
    /// brings them online.
    pub fn new(config: SystemConfig, platform: Arc<dyn Platform>) -> Result<Arc<Self>, IrqError> {
        if config.nr_cpus == 0 || config.nr_cpus > MAX_CPUS {
            return Err(IrqError::InvalidArgument("nr_cpus must be 1..=256"));
        }
        if config.hz == 0 || config.hz > 10_000 {
            return Err(IrqError::InvalidArgument("hz must be 1..=10000"));
        }
        let cpus = PerCpu::new(config.nr_cpus, CpuState::new);
        let sched = Scheduler::new(config.nr_cpus);
        let softirq = crate::softirq::Softirqs::new(config.nr_cpus, config.hz);
        let tasklets = crate::tasklet::TaskletLists::new(config.nr_cpus);
        let irq_work = crate::irq_work::IrqWorkLists::new(config.nr_cpus);
        let timers = crate::timer::TimerBases::new(config.nr_cpus);
        crate::tasklet::install_softirqs(&softirq);
        crate::timer::install_softirq(&softirq);
        let irq = crate::irq::IrqCore::new(&config);
        if let Some(t) = &config.topology {
            t.validate(config.nr_cpus)?;
        }
        let wq = crate::workqueue::Workqueues::new(&config);
        Ok(Arc::new(IrqSystem {
            cpu_fn: platform.current_cpu_fn(),
            moves_irq_preempted: crate::cpu::PIN_MARKS && platform.moves_irq_preempted(),
            platform,
            cpus,
            config,
            sched,
            softirq,
            tasklets,
            irq_work,
            timers,
            irq,
            wq,
        }))
    }

    /// True if a thread preempted at interrupt exit outside a per-CPU access may
    /// resume on another CPU (`cpu::pin`).
    #[inline]
    pub(crate) fn moves_irq_preempted(&self) -> bool {
        self.moves_irq_preempted
    }

    /// The platform this system runs on.
    #[inline]
    pub fn platform(&self) -> &dyn Platform {
        &*self.platform
    }

    /// The platform, shared (for drivers that must ask it which CPU they run on).
    pub fn platform_arc(&self) -> Arc<dyn Platform> {
        self.platform.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &SystemConfig {
        &self.config
    }

    /// Number of possible CPUs.
    #[inline]
    pub fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// The state of `cpu`, or `NotFound`.
    pub fn cpu(&self, cpu: CpuId) -> Result<&CpuState, IrqError> {
        self.cpus.get(cpu).ok_or(IrqError::NotFound("no such cpu"))
    }

    /// The state of the CPU the caller runs on. Call it with preemption or interrupts
    /// disabled (Linux's `smp_processor_id` rule): a preemptible caller may find
    /// itself on another CPU by the time it uses the state (debug builds check).
    ///
    /// # Panics
    ///
    /// On a thread outside the machine: per-CPU context calls there are a bug, as
    /// touching per-CPU data from no CPU is in a kernel.
    #[inline]
    #[track_caller]
    pub fn this_cpu(&self) -> &CpuState {
        match self.this_cpu_opt() {
            Some(cs) => cs,
            None => panic!("irqkit: per-CPU call from a thread that is not on a CPU"),
        }
    }

    /// The state of the CPU the caller runs on, or `None` off the machine. The same
    /// rule as [`IrqSystem::this_cpu`].
    #[inline]
    #[track_caller]
    pub fn this_cpu_opt(&self) -> Option<&CpuState> {
        let cs = self.raw_this_cpu()?;
        debug_assert!(
            self.this_cpu_allowed(cs),
            "irqkit: this_cpu() in preemptible code on cpu {} (use current_cpu() for a hint)",
            cs.id().0
        );
        Some(cs)
    }

    /// `raw_cpu_ptr`: the caller's CPU state without the preemption check, for a
    /// caller that pins the access itself or only reads a hint.
    #[inline]
    pub(crate) fn raw_this_cpu(&self) -> Option<&CpuState> {
        self.current_cpu().map(|c| &self.cpus[c])
    }

    /// [`IrqSystem::raw_this_cpu`] for a caller on the machine (the primitives below
    /// pin the access first).
    ///
    /// # Panics
    ///
    /// Off the machine, as [`IrqSystem::this_cpu`].
    #[inline]
    pub(crate) fn raw_cpu(&self) -> &CpuState {
        match self.raw_this_cpu() {
            Some(cs) => cs,
            None => panic!("irqkit: per-CPU call from a thread that is not on a CPU"),
        }
    }

    /// The id of the CPU the caller runs on, or `None` off the machine. From
    /// preemptible code it is a hint (`raw_smp_processor_id`): the caller may run
    /// elsewhere by the time it looks at the answer.
    #[inline]
    pub fn current_cpu(&self) -> Option<CpuId> {
        match self.cpu_fn {
            Some(f) => f(),
            None => self.platform.current_cpu(),
        }
    }

    /// Every CPU's state, in order.
    pub fn cpus(&self) -> impl Iterator<Item = &CpuState> {
        self.cpus.iter().map(|(_, c)| c)
    }

    /// The set of online CPUs.
    pub fn online_mask(&self) -> CpuMask {
        let mut m = CpuMask::new();
        for (id, c) in self.cpus.iter() {
            if c.online() {
                m.set(id);
            }
        }
        m
    }

    /// The lowest-numbered online CPU, if any (without building the whole mask).
    pub fn first_online(&self) -> Option<CpuId> {
        self.cpus.iter().find(|(_, c)| c.online()).map(|(id, _)| id)
    }

    /// Monotonic time in nanoseconds.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.platform.now_ns()
    }

    // ---- local interrupt mask (include/linux/irqflags.h) ----

    /// `local_irq_save`: masks interrupts on this CPU and returns the previous state.
    #[inline]
    pub fn local_irq_save(&self) -> IrqFlags {
        let _pin = self.pin_cpu();
        match self.raw_this_cpu() {
            Some(cpu) => cpu.irq_save_raw(),
            // Off the machine there is no CPU to mask; restoring these flags is a no-op.
            None => IrqFlags { was_disabled: true, cpu: crate::cpu::ANY_CPU },
        }
    }

    /// `local_irq_restore`: restores the state; interrupts that arrived while masked
    /// are delivered now, exactly once.
    #[inline]
    pub fn local_irq_restore(&self, flags: IrqFlags) {
        // Flags saved on one CPU and restored from another would rewrite that CPU's
        // mask under whoever runs there now: code that may migrate in between must
        // restore `flags.anywhere()`.
        debug_assert!(
            flags.cpu == crate::cpu::ANY_CPU || self.current_cpu() == Some(CpuId(flags.cpu)),
            "irq flags saved on cpu {} restored on {:?}",
            flags.cpu,
            self.current_cpu()
        );
        // Pinned through the replay too: it runs on the CPU just unmasked.
        let _pin = self.pin_cpu();
        let cpu = if flags.cpu != crate::cpu::ANY_CPU {
            self.cpus.get(CpuId(flags.cpu))
        } else {
            self.raw_this_cpu()
        };
        if let Some(cpu) = cpu {
            if cpu.irq_restore_raw(flags) {
                self.platform.replay_irqs(cpu);
            }
        }
    }

    /// `local_irq_disable`.
    #[inline]
    pub fn local_irq_disable(&self) {
        let _ = self.local_irq_save();
    }

    /// `local_irq_enable`: lifts the mask and delivers deferred interrupts.
    #[inline]
    pub fn local_irq_enable(&self) {
        self.local_irq_restore(IrqFlags::enabled());
    }

    /// `irqs_disabled()` on this CPU.
    #[inline]
    pub fn irqs_disabled(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().irqs_disabled()
    }

    // ---- preemption (include/linux/preempt.h) ----

    /// `preempt_disable`.
    #[inline]
    pub fn preempt_disable(&self) {
        let _pin = self.pin_cpu();
        self.raw_cpu().preempt_count_add(crate::cpu::preempt::PREEMPT_OFFSET);
    }

    /// `preempt_enable`: reschedules here if this was the outermost level and a
    /// reschedule is pending.
    #[inline]
    pub fn preempt_enable(&self) {
        let resched = {
            let _pin = self.pin_cpu();
            let cpu = self.raw_cpu();
            cpu.preempt_count_sub(crate::cpu::preempt::PREEMPT_OFFSET);
            cpu.preempt_count() == 0 && cpu.need_resched() && !cpu.irqs_disabled()
        };
        if resched {
            self.preempt_schedule();
        }
    }

    /// `preempt_enable_no_resched`.
    #[inline]
    pub fn preempt_enable_no_resched(&self) {
        let _pin = self.pin_cpu();
        self.raw_cpu().preempt_count_sub(crate::cpu::preempt::PREEMPT_OFFSET);
    }

    /// The current CPU's preempt count.
    #[inline]
    pub fn preempt_count(&self) -> u32 {
        let _pin = self.pin_cpu();
        self.raw_cpu().preempt_count()
    }

    /// `in_hardirq()`.
    pub fn in_hardirq(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().in_hardirq()
    }
    /// `in_softirq()` (serving or bh-disabled).
    pub fn in_softirq(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().in_softirq()
    }
    /// `in_serving_softirq()`.
    pub fn in_serving_softirq(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().in_serving_softirq()
    }
    /// `in_nmi()`.
    pub fn in_nmi(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().in_nmi()
    }
    /// `in_interrupt()`.
    pub fn in_interrupt(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().in_interrupt()
    }
    /// `in_task()`.
    pub fn in_task(&self) -> bool {
        let _pin = self.pin_cpu();
        self.raw_cpu().in_task()
    }

    /// `might_sleep`: an error unless the caller may sleep (task context, preemption
    /// and interrupts enabled).
    pub fn might_sleep(&self, what: &'static str) -> Result<(), IrqError> {
        let _pin = self.pin_cpu();
        let Some(cpu) = self.raw_this_cpu() else {
            return Err(IrqError::WrongContext(what));
        };
        if cpu.in_atomic() {
            return Err(IrqError::WrongContext(what));
        }
        Ok(())
    }
}
