//! Moving a PCI MSI to another CPU (arch/x86/kernel/apic/msi.c `msi_set_affinity`).
//!
//! A device's MSI address (destination APIC) and data (vector) are two separate
//! config-space writes. A device without per-vector masking can fire between them and
//! send the *new* vector to the *old* CPU (or the old vector to the new CPU, where
//! nothing is installed): the interrupt would be reported as "No irq handler" and lost.
//! So, as in Linux, such an MSI is moved only from interrupt context on its old CPU
//! (the chip is MOVE_DEFERRED: the core keeps the mask pending and
//! [`X86Irq::handle_vector`] applies it, Linux's `apic_ack_irq` → `irq_move_irq`), and
//! in two steps: first the new vector on the old CPU — whose slot for that vector is
//! marked [`VectorSlot::Retriggered`] if free, so a stray hit there is dropped silently —
//! then the new vector on the new CPU. If the device fired in between, the interrupt
//! sits in this CPU's IRR under the new vector; it is then re-sent to the new CPU as an
//! IPI, so it is delivered exactly once.
//!
//! A direct (one-step) update is enough when the MSI is maskable, the vector or the
//! destination APIC does not change, the old vector is MANAGED_IRQ_SHUTDOWN_VECTOR, or
//! the interrupt is not started yet.
//!
//! [`X86Irq::handle_vector`]: super::X86Irq::handle_vector
//! [`VectorSlot::Retriggered`]: crate::x86::vector::VectorSlot::Retriggered

use core::sync::atomic::{AtomicU32, Ordering};

use irqkit_core::irq::{IrqData, SetResult};
use irqkit_core::{CpuMask, IrqError};

use super::{X86Ports, X86Shared};
use crate::x86::msi::MsiMessage;
use crate::x86::vector::MANAGED_IRQ_SHUTDOWN_VECTOR;

/// How `msi_set_affinity` rewrites a device's message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MsiUpdate {
    /// One write of the final message.
    Direct,
    /// New vector on the old CPU, then the final message, then the IRR check.
    TwoStep,
}

/// The rule of `msi_set_affinity`: the two-step update only for a started,
/// non-maskable MSI whose vector *and* destination APIC change, and whose old vector
/// is a real one. `old`/`new` are (destination APIC ID, vector).
pub fn msi_update_kind(maskable: bool, started: bool, old: (u32, u8), new: (u32, u8)) -> MsiUpdate {
    if maskable
        || new.1 == old.1
        || old.1 == MANAGED_IRQ_SHUTDOWN_VECTOR
        || !started
        || new.0 == old.0
    {
        MsiUpdate::Direct
    } else {
        MsiUpdate::TwoStep
    }
}

/// Counters of the MSI moves a machine made (for tests and the bare-metal self-test).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MsiMoveStats {
    /// Direct (one-write) message updates after an affinity change.
    pub direct: u32,
    /// Two-step updates on the old CPU.
    pub two_step: u32,
    /// Interrupts found in the IRR after a two-step update and re-sent to the new CPU.
    pub retriggered: u32,
    /// Two-step updates asked for on a CPU that is not the old target (Linux's
    /// `WARN_ON_ONCE`); done directly instead.
    pub wrong_cpu: u32,
}

impl<P: X86Ports> X86Shared<P> {
    /// Gives the device behind `virq` message `msg` (`irq_msi_update_msg`).
    pub(crate) fn write_msi(&self, virq: u32, msg: MsiMessage) {
        if let Some(e) = self.msi.lock().get_mut(&virq) {
            e.msg = msg;
        }
        self.ports.write_msi_msg(virq, &msg);
    }

    fn compose_for(&self, cpu: u32, vector: u8) -> Result<MsiMessage, IrqError> {
        MsiMessage::compose(self.ports.apic_id(cpu), vector, false)
    }

    /// `msi_set_affinity` for the PCI-MSI level `d`.
    pub(crate) fn msi_set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        force: bool,
        maskable: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let p = d.parent().ok_or(IrqError::NotFound("MSI level without a parent"))?;
        let old = self.target(d.irq).ok_or(IrqError::NotFound("irq has no vector"))?;
        // The parent (vector domain) allocates the new target vector.
        let r = p.chip.set_affinity(p, mask, force)?;
        let new = self.target(d.irq).ok_or(IrqError::NotFound("irq has no vector"))?;
        let msg = self.compose_for(new.0, new.1)?;
        let started = self.msi.lock().get(&d.irq).is_some_and(|e| e.started);
        let (old_id, new_id) = (self.ports.apic_id(old.0), self.ports.apic_id(new.0));
        let kind = msi_update_kind(maskable, started, (old_id, old.1), (new_id, new.1));
        if kind == MsiUpdate::Direct {
            self.msi_stats.direct.fetch_add(1, Ordering::Relaxed);
            self.write_msi(d.irq, msg);
            return Ok(r);
        }
        let this_cpu = self.ports.this_cpu();
        if this_cpu != old.0 {
            // Paranoia, as Linux: only the old CPU can see the race in its own IRR.
            self.msi_stats.wrong_cpu.fetch_add(1, Ordering::Relaxed);
            self.write_msi(d.irq, msg);
            return Ok(r);
        }
        let step = self.compose_for(old.0, new.1)?;
        {
            // The vector lock (here: `apic` then `tables`): nobody may hand out or
            // clean up this CPU's slot for the new vector meanwhile.
            let _vector_lock = self.lock_apic();
            if let Some(t) = self.tables.lock().get_mut(this_cpu as usize) {
                t.mark_retriggered(new.1);
            }
            self.write_msi(d.irq, step);
            self.write_msi(d.irq, msg);
        }
        self.msi_stats.two_step.fetch_add(1, Ordering::Relaxed);
        // Interrupts are off on this CPU, so a device write that hit the intermediate
        // message is still in this APIC's IRR: send it on to where it belongs now.
        if self.ports.vector_in_irr(this_cpu, new.1) {
            self.msi_stats.retriggered.fetch_add(1, Ordering::Relaxed);
            self.retrigger(d.irq)?;
        }
        Ok(r)
    }

    /// `apic_retrigger_irq`: an IPI with the irq's vector to its CPU.
    pub(crate) fn retrigger(&self, virq: u32) -> Result<(), IrqError> {
        let (cpu, vector) = self.target(virq).ok_or(IrqError::NotFound("irq has no vector"))?;
        self.ports.send_vector_ipi(cpu, vector)
    }
}

/// The live counters behind [`MsiMoveStats`].
#[derive(Default)]
pub(crate) struct MsiStatCounters {
    direct: AtomicU32,
    two_step: AtomicU32,
    retriggered: AtomicU32,
    wrong_cpu: AtomicU32,
}

impl MsiStatCounters {
    pub(crate) fn snapshot(&self) -> MsiMoveStats {
        MsiMoveStats {
            direct: self.direct.load(Ordering::Relaxed),
            two_step: self.two_step.load(Ordering::Relaxed),
            retriggered: self.retriggered.load(Ordering::Relaxed),
            wrong_cpu: self.wrong_cpu.load(Ordering::Relaxed),
        }
    }
}
