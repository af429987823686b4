//! A fake platform for unit tests of core logic: the calling thread plays CPU `n`.
//!
//! No threads are created and nothing switches: `spawn_thread` and `switch_to` are
//! refused. IPIs and replays are recorded so tests can assert on them.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use std::sync::Mutex;

use crate::cpu::{CpuId, CpuState};
use crate::platform::{Ipi, Platform, ThreadBody};
use crate::sched::Thread;
use crate::system::SystemConfig;
use crate::{IrqError, IrqSystem};

std::thread_local! {
    static CPU: Cell<Option<CpuId>> = const { Cell::new(None) };
}

/// A platform whose "current CPU" is whatever the test thread says it is.
#[derive(Default)]
pub struct FakePlatform {
    /// IPIs sent, in order.
    pub ipis: Mutex<Vec<(CpuId, Ipi)>>,
    /// Number of `replay_irqs` calls.
    pub replays: Mutex<usize>,
    /// The clock (ns), advanced by tests. Atomic so benches measure the code, not a lock.
    pub now: std::sync::atomic::AtomicU64,
}

impl FakePlatform {
    /// Builds a system of `nr_cpus` CPUs, all online, with the calling thread on CPU 0.
    pub fn system(nr_cpus: usize) -> (Arc<IrqSystem>, Arc<FakePlatform>) {
        let p = Arc::new(FakePlatform::default());
        let sys =
            IrqSystem::new(SystemConfig { nr_cpus, hz: 1000, ..Default::default() }, p.clone())
                .unwrap();
        for c in sys.cpus() {
            c.set_online(true);
        }
        FakePlatform::enter_cpu(CpuId(0));
        (sys, p)
    }

    /// Makes the calling thread act as `cpu` (or no CPU with `None`).
    pub fn enter_cpu(cpu: impl Into<Option<CpuId>>) {
        CPU.with(|c| c.set(cpu.into()));
    }
}

impl Platform for FakePlatform {
    fn current_cpu(&self) -> Option<CpuId> {
        CPU.with(|c| c.get())
    }
    fn current_cpu_fn(&self) -> Option<fn() -> Option<CpuId>> {
        Some(|| CPU.with(|c| c.get()))
    }
    fn now_ns(&self) -> u64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn send_ipi(&self, cpu: CpuId, ipi: Ipi) -> Result<(), IrqError> {
        self.ipis.lock().unwrap().push((cpu, ipi));
        Ok(())
    }
    fn replay_irqs(&self, cpu: &CpuState) {
        cpu.set_irq_deferred(false);
        *self.replays.lock().unwrap() += 1;
    }
    fn spawn_thread(
        &self,
        _t: &Arc<Thread>,
        _body: ThreadBody,
        _exit: ThreadBody,
    ) -> Result<(), IrqError> {
        Err(IrqError::Unsupported("FakePlatform runs no threads"))
    }
    fn switch_to(&self, _cpu: CpuId, _prev: &Arc<Thread>, _next: &Arc<Thread>) {
        panic!("FakePlatform cannot switch threads");
    }
    fn idle_wait(&self, _cpu: CpuId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::preempt::*;

    #[test]
    fn masked_interrupt_is_replayed_once_at_enable() {
        let (sys, p) = FakePlatform::system(2);
        let f = sys.local_irq_save();
        let inner = sys.local_irq_save();
        sys.this_cpu().set_irq_deferred(true);
        sys.local_irq_restore(inner);
        assert_eq!(*p.replays.lock().unwrap(), 0, "inner restore keeps the mask");
        sys.local_irq_restore(f);
        assert_eq!(*p.replays.lock().unwrap(), 1);
        sys.local_irq_enable();
        assert_eq!(*p.replays.lock().unwrap(), 1, "replayed exactly once");
    }

    #[test]
    fn preempt_count_tracks_irq_and_nmi_nesting() {
        let (sys, _p) = FakePlatform::system(1);
        sys.local_irq_disable();
        let h = sys.irq_enter();
        assert!(sys.in_hardirq() && !sys.in_nmi());
        let n = sys.nmi_enter().unwrap();
        assert!(sys.in_nmi() && sys.preempt_count() == 2 * HARDIRQ_OFFSET + NMI_OFFSET);
        sys.nmi_exit(n);
        sys.irq_exit(h);
        assert!(sys.in_task());
        sys.local_irq_enable();
    }

    #[test]
    fn nmi_nesting_overflow_is_a_typed_error() {
        let (sys, _p) = FakePlatform::system(1);
        let mut toks = Vec::new();
        for _ in 0..15 {
            toks.push(sys.nmi_enter().unwrap());
        }
        assert!(matches!(sys.nmi_enter(), Err(IrqError::NoSpace(_))));
        for t in toks {
            sys.nmi_exit(t);
        }
        assert_eq!(sys.preempt_count(), 0);
    }

    #[test]
    fn bad_cpu_counts_are_rejected() {
        let p: Arc<dyn Platform> = Arc::new(FakePlatform::default());
        assert!(IrqSystem::new(
            SystemConfig { nr_cpus: 0, hz: 1000, ..Default::default() },
            p.clone()
        )
        .is_err());
        assert!(IrqSystem::new(SystemConfig { nr_cpus: 257, hz: 1000, ..Default::default() }, p)
            .is_err());
    }
}
