//! `irqkit_core::Platform` for the bare-metal kernel, and the one `IrqSystem` it runs.
//!
//! - `current_cpu`: one `gs:[0]` load (the per-CPU area's CPU number).
//! - `now_ns`: the TSC, calibrated against the local APIC timer.
//! - `send_ipi`: a fixed IPI through the ICR (RES, CAL, IWI vectors as in Linux).
//! - `replay_irqs`: the second half of the lazy interrupt mask ([`crate::irq`]).
//! - `spawn_thread`/`switch_to`: a stack switch ([`crate::switch`]); leaving the idle
//!   thread restarts a stopped tick ([`crate::tick_sched`]).
//! - `idle_wait`: stops the tick if nothing needs it, then `sti; hlt`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicPtr, Ordering};

use irqkit_core::cpu::CpuState;
use irqkit_core::platform::ThreadBody;
use irqkit_core::sched::{Policy, Thread};
use irqkit_core::system::SystemConfig;
use irqkit_core::{CpuId, Ipi, IrqError, IrqSystem, Platform};

use crate::timer_trace::{self, Ev};
use crate::{arch, irq, lapic, percpu, switch, tick_sched};

/// The kernel's machine interface.
pub struct KernelPlatform {
    nr_cpus: usize,
}

impl Platform for KernelPlatform {
    fn current_cpu(&self) -> Option<CpuId> {
        Some(CpuId(percpu::this_cpu() as u32))
    }

    fn current_cpu_fn(&self) -> Option<fn() -> Option<CpuId>> {
        Some(|| Some(CpuId(percpu::this_cpu() as u32)))
    }

    fn now_ns(&self) -> u64 {
        lapic::now_ns()
    }

    fn send_ipi(&self, cpu: CpuId, ipi: Ipi) -> Result<(), IrqError> {
        if cpu.index() >= self.nr_cpus {
            return Err(IrqError::NotFound("no such cpu"));
        }
        let area = percpu::area(cpu.index());
        if !area.online.load(Ordering::Acquire) {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        let vector = match ipi {
            Ipi::Reschedule => lapic::RESCHEDULE_VECTOR,
            Ipi::CallFunction => lapic::CALL_FUNCTION_VECTOR,
            Ipi::IrqWork => lapic::IRQ_WORK_VECTOR,
        };
        lapic::send_ipi(area.apic_id.load(Ordering::Relaxed), vector);
        Ok(())
    }

    fn replay_irqs(&self, cpu: &CpuState) {
        irq::replay_deferred(cpu);
    }

    fn spawn_thread(
        &self,
        thread: &Arc<Thread>,
        body: ThreadBody,
        exit: ThreadBody,
    ) -> Result<(), IrqError> {
        switch::spawn(thread, body, exit);
        Ok(())
    }

    fn switch_to(&self, cpu: CpuId, prev: &Arc<Thread>, next: &Arc<Thread>) {
        if prev.policy() == Policy::Idle {
            // Leaving idle for a task: Linux's tick_nohz_idle_exit before schedule_idle.
            tick_sched::idle_exit(cpu.index());
        }
        switch::switch_to(prev, next);
    }

    fn idle_wait(&self, cpu: CpuId) {
        let state = match system().cpu(cpu) {
            Ok(s) => s,
            Err(_) => return,
        };
        // Mask IF before looking at the deferred flag: an interrupt deferred between
        // the check and the halt would otherwise leave this CPU halted with IF set and
        // the deferred vector in service (never EOIed), blocking its own wake-up.
        let was = arch::hw_irq_save();
        if state.irq_deferred() {
            // Deferral already cleared IF (`was` is false); it stays clear until replay.
            return;
        }
        // Stop the tick if nothing needs it (nothing runs here until the halt ends).
        tick_sched::idle_enter(cpu.index());
        // `sti; hlt` is atomic. An interrupt during the halt is deferred by the lazy
        // mask (the soft mask is set here), which returns with IF clear; otherwise
        // restore IF as it was.
        timer_trace::record(cpu.index(), Ev::Halt, 0);
        let t0 = arch::rdtsc();
        arch::enable_and_halt();
        percpu::area(cpu.index()).halted_tsc.fetch_add(arch::rdtsc() - t0, Ordering::Relaxed);
        timer_trace::record(cpu.index(), Ev::Wake, 0);
        if !state.irq_deferred() && !was {
            arch::hw_irq_save();
        }
    }
}

static SYSTEM: AtomicPtr<IrqSystem> = AtomicPtr::new(core::ptr::null_mut());

/// Builds the system for `nr_cpus` CPUs at `hz` and publishes it. Called once by the
/// bootstrap CPU before it enables interrupts.
pub fn init(nr_cpus: usize, hz: u32) -> Result<(), IrqError> {
    let platform: Arc<dyn Platform> = Arc::new(KernelPlatform { nr_cpus });
    let sys = IrqSystem::new(SystemConfig { nr_cpus, hz, ..Default::default() }, platform)?;
    // The system lives for the rest of the machine's life: leak one reference.
    SYSTEM.store(Arc::into_raw(sys) as *mut IrqSystem, Ordering::Release);
    Ok(())
}

/// A counted reference to the system (for `IrqSystem` methods taking `&Arc<Self>`).
pub fn system_arc() -> Arc<IrqSystem> {
    let p = SYSTEM.load(Ordering::Acquire);
    assert!(!p.is_null(), "kernel-x86: IrqSystem used before platform::init");
    // SAFETY: `p` came from `Arc::into_raw` and that reference is never released, so
    // adding one and materialising it is balanced by this Arc's drop.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

/// The system, once `init` ran.
pub fn try_system() -> Option<&'static IrqSystem> {
    let p = SYSTEM.load(Ordering::Acquire);
    // SAFETY: a non-null pointer came from `Arc::into_raw` of a never-dropped Arc.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The system. Interrupts are enabled only after `init`, so interrupt paths may use it.
pub fn system() -> &'static IrqSystem {
    match try_system() {
        Some(s) => s,
        None => panic!("kernel-x86: IrqSystem used before platform::init"),
    }
}

/// One round of the core's `cpu_idle_loop` for a boot context that is its CPU's idle
/// thread: run what is queued, else halt until an interrupt.
pub fn idle_once(sys: &IrqSystem, me: CpuId) {
    sys.local_irq_disable();
    if sys.nr_queued(me) > 0 || sys.this_cpu().need_resched() {
        sys.schedule_idle();
    } else {
        sys.platform().idle_wait(me);
    }
    sys.local_irq_enable();
}
