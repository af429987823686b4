//! `Machine`: a hosted irqkit machine — N virtual CPUs, a tick, kernel threads.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use irqkit_core::irq::FlowHandler;
use irqkit_core::sched::{KthreadSpec, Policy, Thread};
use irqkit_core::system::SystemConfig;
use irqkit_core::{CpuId, HardIrq, IrqError, IrqSystem, Nmi, Task};

use crate::platform::{adopt_idle, HostPlatform};
use crate::shared::{KthreadPanic, Shared, TickHook, VectorHandler};
use crate::stats::CpuStats;
use crate::vector_chip::{VectorChip, VectorLine};
use crate::{signals, thread_ctx, vectors};

/// The arm64 virtual timer's PPI (INTID 27), as on QEMU's virt machine.
const ARCH_TIMER_PPI: u32 = 11;

/// How long an idle kworker polls for new work before it sleeps. Parking and waking
/// one costs two host futex hand-offs (its vCPU's idle thread, then the worker),
/// several µs; polling, as crossbeam's and rayon's workers do before they park,
/// carries a stream of items without them. The poll yields the host CPU after a
/// few rounds (other runnable host threads, producers included, go first), and it
/// outlasts the vCPU's own idle poll (`idle_poll_ns`, 50 µs) so that work arriving
/// within it meets a worker that never slept. An idle machine pays it once after
/// each burst.
const WQ_IDLE_SPIN_NS: u64 = 60_000;

/// How to build a [`Machine`].
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// Virtual CPUs, 1..=256.
    pub nr_cpus: usize,
    /// Tick frequency (Hz); 0 disables the tick.
    pub hz: u32,
    /// Forced irq threading (Linux's `threadirqs` boot option).
    pub threadirqs: bool,
    /// How long (ns) a virtual CPU that has just switched to its idle thread polls
    /// for work before that thread sleeps in the host (Linux's `poll_idle`); 0
    /// sleeps at once. See [`DEFAULT_IDLE_POLL_NS`].
    pub idle_poll_ns: u64,
}

/// Default [`MachineConfig::idle_poll_ns`] (50 µs). Linux's cpuidle `poll_idle` and
/// the KVM guest's `haltpoll` (`guest_halt_poll_ns`, 200 µs, adaptive) poll before
/// halting because waking a halted (v)CPU costs more than a short poll. Here waking
/// an idle virtual CPU is a host futex wake-up of its idle thread and then of the
/// thread it switches to: 20-30 µs on a 2-core VM, where one poll-caught wake-up
/// costs about 3 µs. 50 µs covers the gaps where that matters and bounds what an
/// idle entry can burn. Only an entry right after a context switch polls (a tick
/// that finds the CPU idle does not), so an idle machine sleeps between ticks.
pub const DEFAULT_IDLE_POLL_NS: u64 = 50_000;

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            nr_cpus: 4,
            hz: 1000,
            threadirqs: false,
            idle_poll_ns: DEFAULT_IDLE_POLL_NS,
        }
    }
}

/// A running hosted machine. Dropping it stops every kernel thread, joins every OS
/// thread and restores the signal dispositions it changed.
pub struct Machine {
    pub(crate) sys: Arc<IrqSystem>,
    pub(crate) shared: Arc<Shared>,
    idle: Vec<JoinHandle<()>>,
    tick: Option<(Arc<Mutex<bool>>, JoinHandle<()>)>,
    down: bool,
    chip: Arc<VectorChip>,
    pub(crate) lines: Mutex<std::collections::HashMap<u32, Arc<VectorLine>>>,
    next_vector: Mutex<u8>,
    /// `cpu_hotplug_lock`: one CPU changes state at a time.
    pub(crate) hotplug: Mutex<()>,
}

impl Machine {
    /// Boots a machine: one idle thread per CPU, all CPUs online, the tick running.
    pub fn new(config: MachineConfig) -> Result<Machine, IrqError> {
        if config.nr_cpus == 0 || config.nr_cpus > irqkit_core::cpu::MAX_CPUS {
            return Err(IrqError::InvalidArgument("nr_cpus must be 1..=256"));
        }
        let hz = if config.hz == 0 { 100 } else { config.hz };
        signals::acquire();
        let shared = Arc::new(Shared::new(config.nr_cpus));
        let platform = Arc::new(HostPlatform::new(shared.clone(), config.idle_poll_ns));
        let sys = match IrqSystem::new(
            SystemConfig {
                nr_cpus: config.nr_cpus,
                hz,
                threadirqs: config.threadirqs,
                ..Default::default()
            },
            platform,
        ) {
            Ok(s) => s,
            Err(e) => {
                signals::release();
                return Err(e);
            }
        };
        let _ = shared.sys.set(Arc::downgrade(&sys));
        let chip = VectorChip::new(&sys, &shared);
        let mut m = Machine {
            sys,
            shared,
            idle: Vec::new(),
            tick: None,
            down: false,
            chip,
            lines: Mutex::new(std::collections::HashMap::new()),
            next_vector: Mutex::new(0x80),
            hotplug: Mutex::new(()),
        };
        let (tx, rx) = mpsc::channel();
        for c in 0..config.nr_cpus {
            let cpu = CpuId(c as u32);
            let idle = m.sys.init_idle(cpu)?;
            let (sys, shared, tx) = (m.sys.clone(), m.shared.clone(), tx.clone());
            let h = std::thread::Builder::new()
                .name(format!("swapper/{c}"))
                .stack_size(512 * 1024)
                .spawn(move || {
                    let _sig = signals::ThreadSignals::setup();
                    let host = adopt_idle(&shared, &idle);
                    thread_ctx::bind_machine(&sys, &shared, &host);
                    let hp: *const crate::platform::HostThread = &*host;
                    shared.cpus[c].holder.store(hp.cast_mut(), Ordering::SeqCst);
                    thread_ctx::acquire_cpu(&sys, cpu);
                    shared.cpus[c].occupied.store(true, Ordering::SeqCst);
                    sys.cpu(cpu).expect("cpu").set_online(true);
                    let _ = tx.send(());
                    sys.cpu_idle_loop(cpu);
                    thread_ctx::unbind_machine();
                })
                .map_err(|_| IrqError::NoSpace("cannot create OS thread"))?;
            m.idle.push(h);
        }
        for _ in 0..config.nr_cpus {
            let _ = rx.recv();
        }
        crate::irq_glue::HostIrqHooks::install(&m.sys, &m.shared);
        m.sys.start_ksoftirqd()?;
        // A panicking work item is contained and counted; its worker carries on.
        m.sys.set_work_guard(|f| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok());
        m.sys.wq_set_idle_spin_ns(WQ_IDLE_SPIN_NS);
        m.sys.workqueue_init()?;
        if config.hz != 0 {
            m.start_tick(config.hz);
        }
        Ok(m)
    }

    fn start_tick(&mut self, hz: u32) {
        let stop = Arc::new(Mutex::new(false));
        let (sys, shared, stop2) = (self.sys.clone(), self.shared.clone(), stop.clone());
        let period = Duration::from_nanos(1_000_000_000 / hz as u64);
        let h = std::thread::Builder::new()
            .name("tick".into())
            .spawn(move || {
                let mut next = Instant::now() + period;
                while !*stop2.lock().unwrap() {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next += period;
                    // Catch up without a burst if the host fell behind.
                    if next + period * 4 < Instant::now() {
                        next = Instant::now() + period;
                    }
                    let source =
                        shared.tick_source.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    for c in 0..sys.nr_cpus() {
                        let cpu = CpuId(c as u32);
                        match &source {
                            Some(f) => f(cpu),
                            None => {
                                let _ = shared.raise(&sys, cpu, vectors::LOCAL_TIMER_VECTOR);
                            }
                        }
                    }
                }
            })
            .expect("spawn tick thread");
        self.tick = Some((stop, h));
    }

    /// The interrupt system of this machine.
    pub fn sys(&self) -> &Arc<IrqSystem> {
        &self.sys
    }

    /// Number of virtual CPUs.
    pub fn nr_cpus(&self) -> usize {
        self.sys.nr_cpus()
    }

    fn check_cpu(&self, cpu: CpuId) -> Result<(), IrqError> {
        if !self.sys.cpu(cpu)?.online() {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        Ok(())
    }

    /// Runs `f` in task context on `cpu` (in a fresh kernel thread bound there) and
    /// returns its result. A panic in `f` is contained: `Err(Panicked)`, reported in
    /// [`Machine::panics`]. Must be called from outside the machine.
    pub fn run_on<R: Send + 'static>(
        &self,
        cpu: CpuId,
        f: impl FnOnce(&Task) -> R + Send + 'static,
    ) -> Result<R, IrqError> {
        self.run_on_with(KthreadSpec::bound(format!("run_on/{}", cpu.0), cpu), f)
    }

    /// [`Machine::run_on`] with an explicit thread spec (class, affinity, name).
    pub fn run_on_with<R: Send + 'static>(
        &self,
        spec: KthreadSpec,
        f: impl FnOnce(&Task) -> R + Send + 'static,
    ) -> Result<R, IrqError> {
        if thread_ctx::current_cpu().is_some() {
            return Err(IrqError::WrongContext("run_on from a machine thread would block a CPU"));
        }
        if let irqkit_core::sched::Affinity::Bound(cpu) = spec.affinity {
            self.check_cpu(cpu)?;
        }
        let (tx, rx) = mpsc::channel();
        let (shared, name) = (self.shared.clone(), spec.name.clone());
        self.sys.spawn_kthread(spec, move |task| {
            // Record a panic before answering, so the caller sees it in `panics()`.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(task))) {
                Ok(r) => drop(tx.send(Ok(r))),
                Err(p) => {
                    shared.record_panic(name, &*p);
                    drop(tx.send(Err(IrqError::Panicked)));
                }
            }
        })?;
        rx.recv().map_err(|_| IrqError::Panicked)?
    }

    /// Creates and starts a kernel thread. Its body should return once
    /// [`Thread::should_stop`] is true: the machine asks every thread to stop at drop.
    pub fn spawn(
        &self,
        spec: KthreadSpec,
        body: impl FnOnce(&Task) + Send + 'static,
    ) -> Result<Arc<Thread>, IrqError> {
        self.sys.spawn_kthread(spec, body)
    }

    /// Creates a device interrupt line: a Linux irq descriptor with `flow`, on the
    /// machine's vector controller (`HOST-APIC`), routed to CPU 0 until its affinity
    /// is set. Vectors 0x80.. are given out in order; returns the irq number.
    pub fn create_irq_line(&self, flow: FlowHandler) -> Result<u32, IrqError> {
        let vector = {
            let mut nv = self.next_vector.lock().unwrap_or_else(|e| e.into_inner());
            if *nv >= vectors::FIRST_SYSTEM_VECTOR {
                return Err(IrqError::NoSpace("no free device vector"));
            }
            *nv += 1;
            *nv - 1
        };
        let irq = self.sys.irq_alloc_descs(1, 1, false)?;
        let line = VectorLine::new(vector, CpuId(0));
        self.sys.irq_set_chip_and_handler(irq, self.chip.clone(), flow)?;
        self.sys.irq_set_chip_data(irq, line.clone())?;
        self.set_vector_handler(vector, move |sys, hard, _cpu| {
            let _ = sys.generic_handle_irq(irq, hard);
        })?;
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).insert(irq, line);
        Ok(irq)
    }

    /// A device asserts irq line `irq` (made by [`Machine::create_irq_line`]): the
    /// interrupt goes to the line's CPU, or is latched while the line is masked.
    pub fn raise_irq(&self, irq: u32) -> Result<(), IrqError> {
        let line = thread_ctx::with_irqs_masked(|| {
            self.lines.lock().unwrap_or_else(|e| e.into_inner()).get(&irq).cloned()
        })
        .ok_or(IrqError::NotFound("not a machine irq line"))?;
        self.chip.raise(&line)
    }

    /// The CPU irq line `irq` currently interrupts.
    pub fn irq_target(&self, irq: u32) -> Result<CpuId, IrqError> {
        let g = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&irq).map(|l| l.target()).ok_or(IrqError::NotFound("not a machine irq line"))
    }

    /// Puts a GICv3 (model + driver + irq domain) between devices and the CPUs: its
    /// per-CPU IRQ outputs arrive on vector `GIC_IRQ_VECTOR`. Map lines with
    /// [`crate::gicv3::HostGicV3::map_spi`] and drive them with `set_spi`.
    /// With `its`, an ITS and an MSI domain on top serve MSIs as LPIs.
    pub fn attach_gicv3(&self, its: bool) -> Result<Arc<crate::gicv3::HostGicV3>, IrqError> {
        let c = crate::gicv3::HostGicV3::attach(&self.sys, &self.shared, its)?;
        self.route_controller(&c, crate::gicv3::GIC_IRQ_VECTOR)?;
        Ok(c)
    }

    /// Moves the tick onto the GICv3's arch timer: PPI 11 (INTID 27, level), a
    /// per-CPU-devid line requested with `request_percpu_irq` as `arch_timer` and
    /// enabled on every CPU, as arm64 Linux does. The timer asserts the PPI; the
    /// handler runs the tick and lowers it.
    pub fn use_gic_arch_timer(
        &self,
        gic: &Arc<crate::gicv3::HostGicV3>,
    ) -> Result<irqkit_core::irq::Registration, IrqError> {
        let virq = gic.map_ppi(&self.sys, ARCH_TIMER_PPI, crate::gicv3::GIC_LEVEL_HIGH)?;
        let (ws, wg, wh) =
            (Arc::downgrade(&self.sys), Arc::downgrade(gic), Arc::downgrade(&self.shared));
        let reg = self.sys.request_percpu_irq(
            virq,
            move |hard| {
                if let (Some(sys), Some(g), Some(sh)) = (ws.upgrade(), wg.upgrade(), wh.upgrade()) {
                    if let Some(cpu) = sys.current_cpu() {
                        let _ = g.set_ppi(cpu, ARCH_TIMER_PPI, false);
                        sh.run_tick(&sys, hard, cpu);
                    }
                }
                irqkit_core::irq::IrqReturn::HANDLED
            },
            "arch_timer",
            None,
        )?;
        for c in 0..self.nr_cpus() {
            let sys = self.sys.clone();
            self.run_on(CpuId(c as u32), move |_| {
                sys.enable_percpu_irq(virq, irqkit_core::irq::Trigger::NONE)
            })??;
        }
        let g = Arc::downgrade(gic);
        *self.shared.tick_source.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(move |cpu| {
                if let Some(g) = g.upgrade() {
                    let _ = g.set_ppi(cpu, ARCH_TIMER_PPI, true);
                }
            }));
        Ok(reg)
    }

    /// Puts a GICv2 (model + driver + irq domain, at most 8 CPUs) between devices and
    /// the CPUs; its per-CPU IRQ outputs arrive on `GIC_IRQ_VECTOR`.
    pub fn attach_gicv2(&self) -> Result<Arc<crate::gicv2::HostGicV2>, IrqError> {
        let c = crate::gicv2::HostGicV2::attach(&self.sys, &self.shared)?;
        self.route_controller(&c, crate::gicv3::GIC_IRQ_VECTOR)?;
        Ok(c)
    }

    /// Puts an x86 interrupt system (local APICs, IO-APIC, vector / IO-APIC / PCI-MSI
    /// domains) between devices and the CPUs: LAPIC outputs arrive on
    /// `APIC_INPUT_VECTOR`. Map pins with [`crate::x86::HostX86::map_pin`].
    pub fn attach_x86(&self) -> Result<Arc<crate::x86::HostX86>, IrqError> {
        let c = crate::x86::HostX86::attach(&self.sys, &self.shared)?;
        self.route_controller(&c, crate::x86::APIC_INPUT_VECTOR)?;
        Ok(c)
    }

    /// Takes `vector` into the controller's arch entry on every CPU.
    fn route_controller<C: crate::controller::ControllerEntry>(
        &self,
        c: &Arc<C>,
        vector: u8,
    ) -> Result<(), IrqError> {
        let (c, shared) = (Arc::downgrade(c), Arc::downgrade(&self.shared));
        self.set_vector_handler(vector, move |sys, hard, cpu| {
            if let (Some(c), Some(sh)) = (c.upgrade(), shared.upgrade()) {
                crate::controller::handle(&*c, sys, &sh, hard, cpu, vector);
            }
        })
    }

    /// Raises device vector `vector` on `cpu`.
    pub fn raise(&self, cpu: CpuId, vector: u8) -> Result<(), IrqError> {
        if !vectors::is_device_vector(vector) {
            return Err(IrqError::InvalidArgument("not a device vector (0x20..0xeb)"));
        }
        self.shared.raise(&self.sys, cpu, vector)
    }

    /// Raises an NMI on `cpu`.
    pub fn raise_nmi(&self, cpu: CpuId) -> Result<(), IrqError> {
        self.shared.raise_nmi(&self.sys, cpu)
    }

    /// Sends an IPI to `cpu` (typed error if offline).
    pub fn send_ipi(&self, cpu: CpuId, ipi: irqkit_core::Ipi) -> Result<(), IrqError> {
        self.sys.platform().send_ipi(cpu, ipi)
    }

    /// Installs the handler of device vector `vector` (replacing any previous one).
    pub fn set_vector_handler(
        &self,
        vector: u8,
        handler: impl Fn(&IrqSystem, &HardIrq, CpuId) + Send + Sync + 'static,
    ) -> Result<(), IrqError> {
        if !vectors::is_device_vector(vector) {
            return Err(IrqError::InvalidArgument("not a device vector (0x20..0xeb)"));
        }
        let h: VectorHandler = Arc::new(handler);
        self.shared.handlers[vector as usize].set(Some(h));
        Ok(())
    }

    /// Installs the NMI handler. It runs even while the CPU's soft mask is set, so it
    /// must not allocate or take locks (queue irq_work instead).
    pub fn set_nmi_handler(
        &self,
        handler: impl Fn(&IrqSystem, &Nmi, CpuId) + Send + Sync + 'static,
    ) {
        self.shared.nmi_handler.set(Some(Box::new(handler)));
    }

    /// Adds a hook run on every tick of every CPU (hard-irq context).
    pub fn add_tick_hook(
        &self,
        hook: impl Fn(&IrqSystem, &HardIrq, CpuId) + Send + Sync + 'static,
    ) {
        let h: TickHook = Arc::new(hook);
        thread_ctx::with_irqs_masked(|| {
            let mut g = self.shared.tick_hooks.lock();
            let mut list = Vec::clone(&g);
            list.push(h);
            *g = Arc::new(list);
        });
    }

    /// Runs `f` on `cpu` in hard-irq context via the call-function IPI
    /// (`smp_call_function_single` without the wait).
    pub fn call_on(
        &self,
        cpu: CpuId,
        f: impl FnOnce(&IrqSystem, &HardIrq) + Send + 'static,
    ) -> Result<(), IrqError> {
        self.check_cpu(cpu)?;
        self.shared.call_on(&self.sys, cpu, Box::new(f))
    }

    /// Counters of `cpu`.
    pub fn stats(&self, cpu: CpuId) -> Result<CpuStats, IrqError> {
        let hc = self.shared.hc(cpu)?;
        let rq = self.sys.rq_stats(cpu).unwrap_or_default();
        Ok(CpuStats::read(hc, rq))
    }

    /// Kernel threads that panicked so far (name and message).
    pub fn panics(&self) -> Vec<KthreadPanic> {
        self.shared.panics.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops the machine (also done by drop): stops the tick, asks every kernel thread
    /// to stop and joins it, then stops the idle loops and restores signals. Returns
    /// the names of threads that did not stop within `grace` (they are left running).
    pub fn shutdown(&mut self, grace: Duration) -> Vec<String> {
        if self.down {
            return Vec::new();
        }
        self.down = true;
        if let Some((stop, h)) = self.tick.take() {
            *stop.lock().unwrap() = true;
            let _ = h.join();
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        let mut stuck = Vec::new();
        loop {
            for t in self.sys.threads() {
                if t.policy() != Policy::Idle {
                    self.sys.kthread_stop_nowait(&t);
                }
            }
            let joins: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.shared.joins.lock().unwrap_or_else(|e| e.into_inner()));
            if joins.is_empty() {
                break;
            }
            for j in joins {
                while !j.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if j.is_finished() {
                    let _ = j.join();
                } else {
                    stuck.push(j.thread().name().unwrap_or("?").to_string());
                    std::mem::forget(j);
                }
            }
            if !stuck.is_empty() {
                break;
            }
        }
        self.sys.sched.begin_shutdown();
        for c in 0..self.shared.cpus.len() as u32 {
            self.shared.wake_idle(CpuId(c));
            let _ = self.shared.raise(&self.sys, CpuId(c), vectors::RESCHEDULE_VECTOR);
        }
        // Bounded like the kernel threads: a CPU that never gets back to its idle loop
        // (an interrupt storm from a line a test left asserted) must not hang the
        // caller. Its idle thread is then left running, and so are the signal
        // handlers it may still need.
        for h in self.idle.drain(..) {
            let until = Instant::now().max(deadline) + Duration::from_secs(1);
            while !h.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                stuck.push(h.thread().name().unwrap_or("?").to_string());
                std::mem::forget(h);
            }
        }
        for c in self.sys.cpus() {
            c.set_online(false);
        }
        if stuck.is_empty() {
            signals::release();
        }
        stuck
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let stuck = self.shutdown(Duration::from_secs(10));
        if !stuck.is_empty() {
            eprintln!("irqkit: kernel threads did not stop at machine drop: {stuck:?}");
        }
    }
}
