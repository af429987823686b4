//! `irqkit_core::Platform` for the bare-metal kernel, and the one `IrqSystem` it runs.
//!
//! - `current_cpu`: one `gs:[0]` load (the per-CPU area's CPU number).
//! - `now_ns`: the TSC, calibrated against the local APIC timer.
//! - `send_ipi`: a fixed IPI through the ICR (RES, CAL, IWI vectors as in Linux).
//! - `replay_irqs`: the second half of the lazy interrupt mask ([`crate::irq`]).
//! - Threads: not implemented yet; `spawn_thread` is refused with `Unsupported`, so the
//!   scheduler never has a second thread to `switch_to`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicPtr, Ordering};

use irqkit_core::cpu::CpuState;
use irqkit_core::platform::ThreadBody;
use irqkit_core::sched::Thread;
use irqkit_core::system::SystemConfig;
use irqkit_core::{CpuId, Ipi, IrqError, IrqSystem, Platform};

use crate::{arch, irq, lapic, percpu};

/// The kernel's machine interface.
pub struct KernelPlatform {
    nr_cpus: usize,
}

impl Platform for KernelPlatform {
    fn current_cpu(&self) -> Option<CpuId> {
        Some(CpuId(percpu::this_cpu() as u32))
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

    fn spawn_thread(&self, _thread: &Arc<Thread>, _body: ThreadBody) -> Result<(), IrqError> {
        Err(IrqError::Unsupported("kernel-x86 has no context switch yet"))
    }

    fn switch_to(&self, _cpu: CpuId, _prev: &Arc<Thread>, _next: &Arc<Thread>) {
        // Unreachable while `spawn_thread` refuses every thread: the scheduler has no
        // second thread to pick.
        panic!("kernel-x86: switch_to without a context switch implementation");
    }

    fn idle_wait(&self, cpu: CpuId) {
        let state = match system().cpu(cpu) {
            Ok(s) => s,
            Err(_) => return,
        };
        if state.irq_deferred() {
            return;
        }
        let was = arch::hw_irqs_enabled();
        // An interrupt during the halt is deferred by the lazy mask (the soft mask is
        // set here), which also leaves IF clear; otherwise restore IF as it was.
        arch::enable_and_halt();
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
    let sys = IrqSystem::new(SystemConfig { nr_cpus, hz }, platform)?;
    // The system lives for the rest of the machine's life: leak one reference.
    SYSTEM.store(Arc::into_raw(sys) as *mut IrqSystem, Ordering::Release);
    Ok(())
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
