//! Installing and raising softirq vectors (`open_softirq`, `raise_softirq*`).

use super::{SoftirqAction, SoftirqVec};
use crate::cpu::CpuState;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `open_softirq`: installs `action` for `vec`. A vector has one action for the life
    /// of the system; opening it again is `Busy` (Linux silently overwrote it).
    pub fn open_softirq(&self, vec: SoftirqVec, action: SoftirqAction) -> Result<(), IrqError> {
        self.softirq.actions[vec.nr()]
            .compare_exchange(None, Some(action))
            .map(|_| ())
            .map_err(|_| IrqError::Busy("softirq vector already opened"))
    }

    /// True if `vec` has an action.
    pub fn softirq_is_open(&self, vec: SoftirqVec) -> bool {
        self.softirq.action(vec.nr()).is_some()
    }

    /// `__raise_softirq_irqoff`: marks `vec` pending on this CPU and nothing else.
    /// Lock-free (one atomic OR), so safe from any context including NMI.
    #[inline]
    pub fn __raise_softirq_irqoff(&self, vec: SoftirqVec) -> Result<(), IrqError> {
        let cpu = self.this_cpu_opt().ok_or(IrqError::WrongContext("raise_softirq off-cpu"))?;
        let per = &self.softirq.cpus[cpu.id()];
        // A locked OR is safe against the plain updates of masked code on this CPU
        // (neither can split the other) — except from NMI, which has its own word.
        let word = if cpu.in_nmi() { &per.nmi_pending } else { &per.pending };
        word.fetch_or(1 << vec.nr(), Ordering::Relaxed);
        Ok(())
    }

    /// `raise_softirq_irqoff`: marks `vec` pending; outside interrupt context (where no
    /// `irq_exit` or `local_bh_enable` will come to run it) also wakes ksoftirqd.
    #[inline]
    pub fn raise_softirq_irqoff(&self, vec: SoftirqVec) -> Result<(), IrqError> {
        let cpu = self.this_cpu_opt().ok_or(IrqError::WrongContext("raise_softirq off-cpu"))?;
        self.raise_on(cpu, vec);
        Ok(())
    }

    /// `raise_softirq`: [`IrqSystem::raise_softirq_irqoff`] with interrupts masked around
    /// it. From NMI the mask is left alone (an NMI must not replay interrupts).
    #[inline]
    pub fn raise_softirq(&self, vec: SoftirqVec) -> Result<(), IrqError> {
        let _pin = self.pin_cpu();
        let cpu = self.raw_this_cpu().ok_or(IrqError::WrongContext("raise_softirq off-cpu"))?;
        if cpu.in_nmi() {
            self.raise_from_nmi(cpu.id(), vec);
            return Ok(());
        }
        let flags = self.irq_save_on(cpu);
        self.raise_on(cpu, vec);
        self.irq_restore_on(cpu, flags);
        Ok(())
    }

    /// Raise from NMI: no wake-up (not NMI-safe), but if no NMI raise was pending the
    /// CPU interrupts itself (the irq_work self-IPI), so an `irq_exit` runs the vector
    /// soon — Linux bounces NMI work through irq_work the same way.
    #[inline]
    pub(crate) fn raise_from_nmi(&self, cpu: crate::CpuId, vec: SoftirqVec) {
        if self.softirq.cpus[cpu].or_pending_nmi(1 << vec.nr()) {
            self.arch_irq_work_raise(cpu);
        }
    }

    /// The body of `raise_softirq_irqoff` for a CPU the caller runs on.
    #[inline]
    pub(crate) fn raise_on(&self, cpu: &CpuState, vec: SoftirqVec) {
        // Interrupts are masked here (callers: raise_softirq, irq-off callers).
        self.softirq.cpus[cpu.id()].or_pending_irqoff(1 << vec.nr());
        if !cpu.in_interrupt() {
            self.wakeup_softirqd(cpu.id());
        }
    }

    /// This CPU's pending mask (`local_softirq_pending`); 0 off the machine.
    #[inline]
    pub fn local_softirq_pending(&self) -> u32 {
        self.current_cpu().map_or(0, |c| {
            let per = &self.softirq.cpus[c];
            per.pending.load(Ordering::Relaxed) | per.nmi_pending.load(Ordering::Relaxed)
        })
    }
}
