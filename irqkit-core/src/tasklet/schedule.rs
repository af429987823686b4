//! Scheduling tasklets (`tasklet_schedule`, `tasklet_hi_schedule`).

use super::{sched_claim, Tasklet};
use crate::softirq::SoftirqVec;
use crate::{IrqError, IrqSystem};

impl Tasklet {
    /// `tasklet_schedule`: queues the tasklet on this CPU's list and raises
    /// TASKLET_SOFTIRQ. `Ok(false)` if it was already scheduled (it runs once for
    /// both). Lock-free and allocation-free: callable from task, softirq, hardirq and
    /// NMI context. Off the machine: `WrongContext`, state untouched.
    #[inline]
    pub fn schedule(&self, sys: &IrqSystem) -> Result<bool, IrqError> {
        self.schedule_on_list(sys, SoftirqVec::Tasklet)
    }

    /// `tasklet_hi_schedule`: as [`Tasklet::schedule`], on the HI list and HI_SOFTIRQ,
    /// which runs before every other vector.
    #[inline]
    pub fn hi_schedule(&self, sys: &IrqSystem) -> Result<bool, IrqError> {
        self.schedule_on_list(sys, SoftirqVec::Hi)
    }

    fn schedule_on_list(&self, sys: &IrqSystem, vec: SoftirqVec) -> Result<bool, IrqError> {
        // Pinned until the mask is up (and through its restore, which may replay).
        let _pin = sys.pin_cpu();
        let cpu = sys.raw_this_cpu().ok_or(IrqError::WrongContext("tasklet_schedule off-cpu"))?;
        if !sched_claim(&self.0.get().state) {
            return Ok(false);
        }
        if cpu.in_nmi() {
            // NMI: no interrupt can preempt us, and the mask must not be touched.
            // SAFETY: we set SCHED from clear, so the tasklet is on no list; we are
            // on this CPU.
            unsafe { sys.tasklets.cpus[cpu.id()].list(vec).push_nmi(self.0.as_ptr()) };
            sys.raise_from_nmi(cpu.id(), vec);
            return Ok(true);
        }
        let flags = sys.irq_save_on(cpu);
        // SAFETY: we set SCHED from clear, so the tasklet is on no list; this CPU's
        // interrupts are masked.
        unsafe { sys.tasklets.cpus[cpu.id()].list(vec).push_irqoff(self.0.as_ptr()) };
        sys.raise_on(cpu, vec);
        sys.irq_restore_on(cpu, flags);
        Ok(true)
    }
}

impl IrqSystem {
    /// `tasklet_schedule` in Linux's spelling.
    pub fn tasklet_schedule(&self, t: &Tasklet) -> Result<bool, IrqError> {
        t.schedule(self)
    }

    /// `tasklet_hi_schedule` in Linux's spelling.
    pub fn tasklet_hi_schedule(&self, t: &Tasklet) -> Result<bool, IrqError> {
        t.hi_schedule(self)
    }
}
