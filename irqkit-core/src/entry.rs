//! Interrupt and NMI entry/exit accounting (`irq_enter`, `irq_exit`, `nmi_enter`).
//!
//! A runtime's arch entry brackets every hard interrupt with [`IrqSystem::irq_enter`]
//! and [`IrqSystem::irq_exit`], and every NMI with [`IrqSystem::nmi_enter`] and
//! [`IrqSystem::nmi_exit`]. After `irq_exit` it calls
//! [`IrqSystem::irq_exit_preempt`] to switch to a more urgent thread, as Linux does on
//! the return-from-interrupt path.

use crate::cpu::preempt::{HARDIRQ_OFFSET, NMI_MASK, NMI_OFFSET};
use crate::cpu::{HardIrq, Nmi};
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `irq_enter`: adds HARDIRQ_OFFSET on this CPU. Interrupts must be masked.
    #[inline]
    pub fn irq_enter(&self) -> HardIrq {
        let cpu = self.this_cpu();
        debug_assert!(cpu.irqs_disabled(), "irq_enter with interrupts enabled");
        cpu.preempt_count_add(HARDIRQ_OFFSET);
        HardIrq::entered()
    }

    /// `irq_exit`: drops HARDIRQ_OFFSET; then, unless still in interrupt context or
    /// inside a bh-disabled section, runs pending softirqs (interrupts enabled while
    /// they run, masked again on return).
    #[inline]
    pub fn irq_exit(&self, _token: HardIrq) {
        let cpu = self.this_cpu();
        cpu.preempt_count_sub(HARDIRQ_OFFSET);
        self.irq_exit_softirqs(cpu);
    }

    /// The return-from-interrupt preemption point: if a reschedule is pending and the
    /// interrupted context was preemptible, switch threads now. Interrupts stay masked.
    #[inline]
    pub fn irq_exit_preempt(&self) {
        let cpu = self.this_cpu();
        if cpu.need_resched() && cpu.preempt_count() == 0 {
            self.preempt_schedule_irq();
        }
    }

    /// `nmi_enter`: adds NMI_OFFSET + HARDIRQ_OFFSET. Refuses a 16th nesting level.
    #[inline]
    pub fn nmi_enter(&self) -> Result<Nmi, IrqError> {
        // An NMI may hit preemptible code, but it never switches: its CPU stays.
        let cpu = self.raw_cpu();
        if cpu.preempt_count() & NMI_MASK == NMI_MASK {
            return Err(IrqError::NoSpace("NMI nesting overflow"));
        }
        cpu.preempt_count_add(NMI_OFFSET + HARDIRQ_OFFSET);
        Ok(Nmi::entered())
    }

    /// `nmi_exit`.
    #[inline]
    pub fn nmi_exit(&self, _token: Nmi) {
        self.raw_cpu().preempt_count_sub(NMI_OFFSET + HARDIRQ_OFFSET);
    }
}
