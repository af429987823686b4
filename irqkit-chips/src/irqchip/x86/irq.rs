//! `common_interrupt` (arch/x86/kernel/irq.c `call_irq_handler`) and the vector
//! domain's part of the ack (vector.c `apic_ack_edge`: complete a finished move, apply
//! a pending one).
//!
//! A vector whose slot was shut down (released by a move) or marked retriggered (by a
//! two-step MSI move) is reset to unused and EOIed silently: such a stray interrupt is
//! expected and was not lost. Only a never-assigned vector is reported ("No irq
//! handler for vector").
//!
//! Linux applies a deferred affinity move inside the chip's ack, under the descriptor
//! lock the flow handler holds. irqkit's `irq_move_pending` takes that lock itself, so
//! the entry applies the move just before the flow runs: the same point of the same
//! interrupt (before the handler and the EOI), on the CPU that took it.

use irqkit_core::{HardIrq, IrqError, IrqSystem};

use super::{X86Irq, X86Ports};
use crate::x86::apic_driver::LapicDriver;
use crate::x86::vector::VectorSlot;

impl<P: X86Ports> X86Irq<P> {
    /// `common_interrupt` on the calling CPU: take the delivered vector, look it up in
    /// this CPU's vector table and run the irq's flow handler (which EOIs). Returns the
    /// vector, `None` if nothing was deliverable. An unassigned vector is EOIed here
    /// and reported ("No irq handler for vector").
    pub fn handle_irq(&self, sys: &IrqSystem, ctx: &HardIrq) -> Result<Option<u8>, IrqError> {
        let Some(vector) = self.shared.ports.acknowledge() else { return Ok(None) };
        self.handle_vector(sys, ctx, vector).map(|_| Some(vector))
    }

    /// `common_interrupt` for a vector the CPU has already taken (on hardware: the IDT
    /// entry it entered). Returns the irq that handled it, `None` for a stray interrupt
    /// on a shut-down or retriggered vector (EOIed, not an error).
    pub fn handle_vector(
        &self,
        sys: &IrqSystem,
        ctx: &HardIrq,
        vector: u8,
    ) -> Result<Option<u32>, IrqError> {
        let s = &self.shared;
        let cpu = s.ports.this_cpu();
        let slot = s.tables.lock().get_mut(cpu as usize).map(|t| t.lookup(vector));
        let virq = match slot {
            Some(VectorSlot::Irq(virq)) => virq,
            Some(VectorSlot::Shutdown | VectorSlot::Retriggered) => {
                LapicDriver::eoi(&s.ports.apic());
                return Ok(None);
            }
            _ => {
                LapicDriver::eoi(&s.ports.apic());
                return Err(IrqError::NotFound("No irq handler for vector"));
            }
        };
        // apic_ack_edge: irq_complete_move, then irq_move_irq (a MOVE_DEFERRED chip's
        // pending affinity). A failed move keeps the old target; nobody to report to.
        self.complete_move(virq, cpu);
        let _ = sys.irq_move_pending(virq);
        if let Err(e) = sys.generic_handle_irq(virq, ctx) {
            // No flow handler ran to EOI it (common_interrupt's `apic_eoi` on failure).
            LapicDriver::eoi(&s.ports.apic());
            return Err(e);
        }
        Ok(Some(virq))
    }
}
