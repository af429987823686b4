//! Completing a vector move (arch/x86/kernel/apic/vector.c `irq_complete_move`,
//! `__vector_schedule_cleanup`, `__vector_cleanup`) and reserving system vectors.
//!
//! After an affinity change the old (CPU, vector) stays installed until the first
//! interrupt arrives on the new one; then it is released once it is no longer pending
//! in the old CPU's IRR. A model can look at any CPU's IRR, so the release happens at
//! once. On hardware a CPU sees only its own APIC: as in Linux, the old CPU does the
//! release itself, from [`X86Irq::vector_cleanup`] (the kernel calls it from that CPU's
//! tick; Linux uses a per-CPU timer).

use core::sync::atomic::Ordering;

use irqkit_core::{IrqError, IrqSystem};

use super::{X86Irq, X86Ports, X86Shared};
use crate::irqchip::irqs_off;
use crate::x86::vector::{is_exception, is_system, VectorSlot};

impl<P: X86Ports> X86Shared<P> {
    /// Marks `cpu` as holding an old vector to release.
    pub(crate) fn schedule_cleanup(&self, cpu: u32) {
        if cpu < 64 {
            self.cleanup_cpus.fetch_or(1 << cpu, Ordering::AcqRel);
        }
    }
}

impl<P: X86Ports> X86Irq<P> {
    /// `irq_complete_move` + vector cleanup once the first interrupt hit the new CPU.
    /// Called on every device interrupt, so the common case (no move of `virq` in
    /// progress) is one lock-free load; only a moving irq takes the vector lock.
    pub(super) fn complete_move(&self, virq: u32, cpu: u32) {
        let s = &self.shared;
        if !s.moves.may_be_moving(virq) {
            return;
        }
        let mut apic = s.lock_apic();
        let Some(a) = apic.get_mut(&virq) else { return };
        a.complete_move(cpu);
        let Some((old_cpu, old_vector)) = a.prev else { return };
        if !a.cleanup_pending {
            return;
        }
        if old_cpu == cpu || s.ports.remote_irr() {
            let in_irr = s.ports.vector_in_irr(old_cpu, old_vector);
            // Busy: still pending in the old APIC; the next interrupt retries.
            let _ = s.moves.track(a, |a| a.cleanup(&s.matrix, &mut s.tables.lock(), in_irr));
        } else {
            s.schedule_cleanup(old_cpu);
        }
    }

    /// True if `cpu` holds an old vector to release: it must keep its tick in idle
    /// (Linux: the pending cleanup timer keeps a NOHZ CPU from sleeping past it).
    pub fn cleanup_pending(&self, cpu: u32) -> bool {
        cpu < 64 && self.shared.cleanup_cpus.load(Ordering::Acquire) & (1 << cpu) != 0
    }

    /// The CPUs holding an old vector to release, as a bit mask (bit `c`: CPU `c`):
    /// one load, cheap enough for every device interrupt, so the kernel can wake a
    /// tickless CPU that got a cleanup to do.
    pub fn cleanup_pending_mask(&self) -> u64 {
        self.shared.cleanup_cpus.load(Ordering::Acquire)
    }

    /// `__vector_cleanup` on the calling CPU: releases the old vectors of moved irqs
    /// that left this CPU, unless still pending in its IRR (then it stays scheduled).
    /// Returns whether there was anything to look at; cheap when there was not.
    pub fn vector_cleanup(&self) -> bool {
        let s = &self.shared;
        let cpu = s.ports.this_cpu();
        if cpu >= 64 || s.cleanup_cpus.load(Ordering::Acquire) & (1 << cpu) == 0 {
            return false;
        }
        s.cleanup_cpus.fetch_and(!(1 << cpu), Ordering::AcqRel);
        let mut busy = false;
        let mut apic = s.lock_apic();
        for a in apic.values_mut() {
            match a.prev {
                Some((c, v)) if c == cpu && a.cleanup_pending => {
                    let in_irr = s.ports.vector_in_irr(c, v);
                    let tables = &s.tables;
                    let r = s.moves.track(a, |a| a.cleanup(&s.matrix, &mut tables.lock(), in_irr));
                    busy |= r.is_err();
                }
                _ => {}
            }
        }
        if busy {
            s.schedule_cleanup(cpu);
        }
        true
    }

    /// `irq_matrix_assign_system`: keeps `vector` out of the allocator on every CPU (a
    /// vector the kernel handles itself). Refused for exceptions and system vectors.
    pub fn reserve_system_vector(&self, sys: &IrqSystem, vector: u8) -> Result<(), IrqError> {
        if is_exception(vector) || is_system(vector) {
            return Err(IrqError::InvalidArgument("not an external vector"));
        }
        let s = &self.shared;
        irqs_off(sys, || {
            if s.tables.lock().iter().any(|t| t.get(vector) != VectorSlot::Unused) {
                return Err(IrqError::Busy("vector already assigned"));
            }
            s.matrix.assign_system(vector);
            Ok(())
        })
    }
}
