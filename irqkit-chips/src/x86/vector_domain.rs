//! Per-interrupt vector assignment of the x86 vector domain (arch/x86/kernel/apic/
//! vector.c, spec 8.2): assign a (CPU, vector), move it on an affinity change keeping
//! the old one as `prev` until the first interrupt arrives on the new CPU, then clean
//! the old vector up — retrying while it is still pending in the old CPU's IRR.

use irqkit_core::IrqError;

use super::matrix::VectorMatrix;
use super::vector::VectorTable;

/// The vector state of one interrupt (Linux's `apic_chip_data`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ApicIrq {
    /// Interrupt number the vector dispatches to.
    pub irq: u32,
    /// Current target CPU.
    pub cpu: u32,
    /// Current vector on that CPU.
    pub vector: u8,
    /// The previous (CPU, vector) while a move is in progress.
    pub prev: Option<(u32, u8)>,
    /// The first interrupt on the new vector arrived: `prev` may be cleaned up.
    pub cleanup_pending: bool,
}

fn pick(mask: u64, online: u64) -> Result<u64, IrqError> {
    if mask & online != 0 {
        Ok(mask & online)
    } else if online != 0 {
        Ok(online) // "irq %u: Affinity broken due to vector space exhaustion." path
    } else {
        Err(IrqError::InvalidArgument("no online CPU"))
    }
}

impl ApicIrq {
    /// Assigns a vector for `irq` on a CPU of `mask` (falling back to any online CPU)
    /// and installs it in that CPU's vector table.
    pub fn assign(
        matrix: &VectorMatrix,
        tables: &mut [VectorTable],
        irq: u32,
        mask: u64,
        online: u64,
    ) -> Result<Self, IrqError> {
        let (cpu, vector) = matrix.alloc(pick(mask, online)?, false)?;
        let t = tables.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
        t.set(vector, irq);
        Ok(ApicIrq { irq, cpu, vector, prev: None, cleanup_pending: false })
    }

    /// Whether a move has not been cleaned up yet.
    pub fn move_in_progress(&self) -> bool {
        self.prev.is_some()
    }

    /// Affinity change: a no-op if the current CPU is online and in `mask`; `Busy`
    /// while a previous move is still in progress — except a move back to the CPU the
    /// irq is leaving before any interrupt arrived on the new vector, which takes the
    /// old vector back and leaves the new one to be cleaned up (Linux answers EBUSY;
    /// the IO-APIC cannot tell, and the abandoned vector gets the same IRR check);
    /// otherwise a new vector, the old one kept as `prev` (or freed at once when its
    /// CPU is offline). Returns whether it moved.
    pub fn set_affinity(
        &mut self,
        matrix: &VectorMatrix,
        tables: &mut [VectorTable],
        mask: u64,
        online: u64,
    ) -> Result<bool, IrqError> {
        let bit = |c: u32| if c < 64 { 1u64 << c } else { 0 };
        if mask & online & bit(self.cpu) != 0 {
            return Ok(false);
        }
        if let Some((pc, pv)) = self.prev {
            if self.cleanup_pending || mask & online & bit(pc) == 0 {
                return Err(IrqError::Busy("vector move in progress"));
            }
            let abandoned = (self.cpu, self.vector);
            (self.cpu, self.vector) = (pc, pv);
            self.prev = Some(abandoned);
            self.cleanup_pending = true;
            return Ok(true);
        }
        let next = Self::assign(matrix, tables, self.irq, mask, online)?;
        let old = (self.cpu, self.vector);
        (self.cpu, self.vector) = (next.cpu, next.vector);
        if online & bit(old.0) == 0 {
            Self::release(matrix, tables, old);
        } else {
            self.prev = Some(old);
            self.cleanup_pending = false;
        }
        Ok(true)
    }

    /// irq_complete_move, from the ack path on `this_cpu`: the first interrupt on the
    /// new vector makes the old one eligible for cleanup. Returns true when the caller
    /// must schedule [`ApicIrq::cleanup`] on the old CPU.
    pub fn complete_move(&mut self, this_cpu: u32) -> bool {
        if self.prev.is_some() && this_cpu == self.cpu && !self.cleanup_pending {
            self.cleanup_pending = true;
            return true;
        }
        false
    }

    /// The cleanup timer on the old CPU: `Busy` ("Moved interrupt pending in old target
    /// APIC") while the old vector is still set in that CPU's IRR — retry later.
    pub fn cleanup(
        &mut self,
        matrix: &VectorMatrix,
        tables: &mut [VectorTable],
        old_vector_in_irr: bool,
    ) -> Result<(), IrqError> {
        let Some(old) = self.prev else { return Ok(()) };
        if !self.cleanup_pending {
            return Err(IrqError::Busy("no interrupt on the new vector yet"));
        }
        if old_vector_in_irr {
            return Err(IrqError::Busy("Moved interrupt pending in old target APIC"));
        }
        Self::release(matrix, tables, old);
        self.prev = None;
        self.cleanup_pending = false;
        Ok(())
    }

    fn release(matrix: &VectorMatrix, tables: &mut [VectorTable], (cpu, v): (u32, u8)) {
        if let Some(t) = tables.get_mut(cpu as usize) {
            t.clear(v);
        }
        let _ = matrix.free(cpu, v, false);
    }

    /// Frees the current and any previous vector (irq shutdown).
    pub fn free(self, matrix: &VectorMatrix, tables: &mut [VectorTable]) {
        Self::release(matrix, tables, (self.cpu, self.vector));
        if let Some(p) = self.prev {
            Self::release(matrix, tables, p);
        }
    }
}
