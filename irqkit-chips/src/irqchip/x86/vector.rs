//! The x86 vector domain level ("APIC", arch/x86/kernel/apic/vector.c).

use alloc::sync::Arc;

use irqkit_core::irq::{
    ChipCallbacks, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, SetResult,
};
use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem};

use super::{X86Ports, X86Shared};
use crate::irqchip::irqs_off;
use crate::x86::apic_driver::LapicDriver;
use crate::x86::vector_domain::ApicIrq;

/// `lapic_controller`: the vector level ("APIC"): ack = local APIC EOI, affinity = a
/// new vector on another CPU.
pub struct VectorChip<P: X86Ports>(pub(super) Arc<X86Shared<P>>);

impl<P: X86Ports> IrqChip for VectorChip<P> {
    fn name(&self) -> &str {
        LapicDriver::CHIP_NAME
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::ACK | ChipCallbacks::SET_AFFINITY | ChipCallbacks::RETRIGGER
    }
    fn ack(&self, _d: &IrqData) {
        LapicDriver::eoi(&self.0.ports.apic());
    }
    /// `apic_retrigger_irq`: re-sends the interrupt as an IPI with its vector to its
    /// CPU. The IO-APIC and PCI-MSI levels reach it through the hierarchy
    /// (`irq_chip_retrigger_hierarchy`), so an edge that arrived while its line was
    /// disabled is replayed in hardware, not by the software resend.
    fn retrigger(&self, d: &IrqData) -> bool {
        self.0.retrigger(d.irq).is_ok()
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let (cpu, _) = self.0.move_vector(d.irq, mask)?;
        Ok((SetResult::Done, CpuMask::single(CpuId(cpu))))
    }
}

/// `x86_vector_domain_ops`: hwirq = virq; one vector per irq on the default CPUs.
pub struct VectorDomainOps<P: X86Ports>(pub(super) Arc<X86Shared<P>>);

impl<P: X86Ports> DomainOps for VectorDomainOps<P> {
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        _arg: &[u32],
    ) -> Result<(), IrqError> {
        let s = &self.0;
        for v in virq..virq + nr {
            let r = irqs_off(sys, || {
                let mut apic = s.lock_apic();
                let a = ApicIrq::assign(&s.matrix, &mut s.tables.lock(), v, !0, s.online())?;
                apic.insert(v, a);
                Ok(())
            });
            let r = r.and_then(|()| {
                let chip = Arc::new(VectorChip(s.clone()));
                sys.irq_domain_set_info(domain, v, v as u64, chip, None, FlowHandler::Edge, None)
            });
            if let Err(e) = r {
                self.free(sys, domain, virq, v + 1 - virq);
                return Err(e);
            }
        }
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, _domain: &IrqDomain, virq: u32, nr: u32) {
        let s = &self.0;
        irqs_off(sys, || {
            let mut apic = s.lock_apic();
            for v in virq..virq.saturating_add(nr) {
                if let Some(a) = apic.remove(&v) {
                    s.moves.forget(&a);
                    a.free(&s.matrix, &mut s.tables.lock());
                }
            }
        });
    }
}
