//! The `Platform` trait: everything the core needs from the machine it runs on.
//!
//! The hosted runtime implements it with OS threads, futexes and real-time signals;
//! the bare-metal kernel with the local APIC and a real context switch. The core never
//! assumes which.

use alloc::boxed::Box;
use alloc::sync::Arc;

use crate::cpu::{CpuId, CpuState};
use crate::sched::Thread;
use crate::IrqError;

/// Inter-processor interrupts the core sends. Each is counted in its `/proc/interrupts`
/// arch row by the runtime (RES, CAL, IWI on x86; IPI0.. on arm64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipi {
    /// Ask the target CPU to reschedule (`scheduler_ipi`, RES).
    Reschedule,
    /// Run queued cross-CPU function calls (CAL).
    CallFunction,
    /// Self- or cross-CPU irq_work interrupt (`arch_irq_work_raise`, IWI).
    IrqWork,
}

/// The body a new kernel thread runs once the scheduler first switches to it.
pub type ThreadBody = Box<dyn FnOnce() + Send + 'static>;

/// What the core needs from a machine.
pub trait Platform: Send + Sync + 'static {
    /// The CPU the calling thread runs on, or `None` for a thread outside the machine
    /// (a test harness, a device model thread).
    fn current_cpu(&self) -> Option<CpuId>;

    /// The same answer as [`Platform::current_cpu`] from a plain function (a thread-
    /// local or per-CPU register read), if the platform has one. The core calls it on
    /// its hottest paths (bh-disable, tasklet and softirq raise), where going through
    /// the shared platform object costs more than the lookup itself.
    fn current_cpu_fn(&self) -> Option<fn() -> Option<CpuId>> {
        None
    }

    /// True if a thread preempted at interrupt exit outside a per-CPU access
    /// ([`crate::cpu::CpuPin`]) may resume on another CPU: the platform's own code
    /// that finds the CPU while preemptible takes pins too. Honoured only in builds
    /// with `std` (the pins are thread-locals). `false` (the default): such a
    /// thread always resumes on its CPU.
    fn moves_irq_preempted(&self) -> bool {
        false
    }

    /// Monotonic time in nanoseconds since the machine started.
    fn now_ns(&self) -> u64;

    /// Sends `ipi` to `cpu` (an idle CPU is woken). Fails for an offline CPU.
    fn send_ipi(&self, cpu: CpuId, ipi: Ipi) -> Result<(), IrqError>;

    /// Delivers the interrupts that arrived while `cpu`'s soft mask was set. Called by
    /// the core right after it clears the mask, on that CPU.
    fn replay_irqs(&self, cpu: &CpuState);

    /// Creates the execution context of a new kernel thread. `body` must run the first
    /// time the scheduler switches to `thread`; when it returns or unwinds, the platform
    /// runs `exit` on the same context (it switches away for good).
    fn spawn_thread(
        &self,
        thread: &Arc<Thread>,
        body: ThreadBody,
        exit: ThreadBody,
    ) -> Result<(), IrqError>;

    /// Switches `cpu` from `prev` to `next`, with interrupts masked. Returns on `prev`'s
    /// thread when some CPU switches back to it (or never, if `prev` is dead).
    fn switch_to(&self, cpu: CpuId, prev: &Arc<Thread>, next: &Arc<Thread>);

    /// Called by the idle thread with interrupts masked and nothing to run: wait until
    /// an interrupt or a reschedule request arrives. Returns with interrupts masked;
    /// the interrupt is delivered when the idle loop lifts the mask.
    fn idle_wait(&self, cpu: CpuId);
}
