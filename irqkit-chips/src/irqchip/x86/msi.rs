//! The x86 PCI-MSI domain level (arch/x86/kernel/apic/msi.c `pci_msi_controller`).

use alloc::sync::Arc;

use irqkit_core::irq::{
    ChipCallbacks, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, SetResult,
};
use irqkit_core::{CpuMask, IrqError, IrqSystem};

use super::{X86Ports, X86Shared};
use crate::irqchip::irqs_off;
use crate::x86::msi::MsiMessage;

/// `pci_msi_controller` on the vector domain ("PCI-MSI"): edge flow, ack at the APIC.
pub struct PciMsiChip<P: X86Ports>(pub(super) Arc<X86Shared<P>>);

impl<P: X86Ports> IrqChip for PciMsiChip<P> {
    fn name(&self) -> &str {
        "PCI-MSI"
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::ACK | ChipCallbacks::SET_AFFINITY
    }
    fn ack(&self, d: &IrqData) {
        if let Some(p) = d.parent() {
            p.chip.ack(p);
        }
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let p = d.parent().ok_or(IrqError::NotFound("MSI level without a parent"))?;
        let r = p.chip.set_affinity(p, mask, force)?;
        // msi_domain_set_affinity: recompose and "write" the message for the device.
        let (cpu, vector) = self.0.target(d.irq).ok_or(IrqError::NotFound("irq has no vector"))?;
        let msg = MsiMessage::compose(self.0.ports.apic_id(cpu), vector, false)?;
        self.0.msi.lock().insert(d.irq, msg);
        self.0.ports.write_msi_msg(d.irq, &msg);
        Ok(r)
    }
}

/// The PCI-MSI domain's ops: arg is `[PCI requester ID]`.
pub struct PciMsiDomainOps<P: X86Ports>(pub(super) Arc<X86Shared<P>>);

impl<P: X86Ports> DomainOps for PciMsiDomainOps<P> {
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        let rid =
            *arg.first().ok_or(IrqError::InvalidArgument("MSI alloc needs a requester ID"))?;
        sys.irq_domain_alloc_irqs_parent(domain, virq, nr, arg)?;
        for i in 0..nr {
            let v = virq + i;
            let r = (|| {
                let target = irqs_off(sys, || self.0.target(v));
                let (cpu, vector) = target.ok_or(IrqError::NotFound("no vector"))?;
                let msg = MsiMessage::compose(self.0.ports.apic_id(cpu), vector, false)?;
                irqs_off(sys, || self.0.msi.lock().insert(v, msg));
                let hwirq = (rid as u64) << 11 | i as u64;
                let chip = Arc::new(PciMsiChip(self.0.clone()));
                sys.irq_domain_set_info(
                    domain,
                    v,
                    hwirq,
                    chip,
                    None,
                    FlowHandler::Edge,
                    Some("edge"),
                )
            })();
            if let Err(e) = r {
                self.free(sys, domain, virq, nr);
                return Err(e);
            }
        }
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, domain: &IrqDomain, virq: u32, nr: u32) {
        irqs_off(sys, || {
            let mut m = self.0.msi.lock();
            for v in virq..virq.saturating_add(nr) {
                m.remove(&v);
            }
        });
        sys.irq_domain_free_irqs_parent(domain, virq, nr);
    }
    fn activate(&self, _domain: &IrqDomain, d: &IrqData) -> Result<(), IrqError> {
        // msi_domain_activate: the device gets its message when the irq is started.
        let msg = *self.0.msi.lock().get(&d.irq).ok_or(IrqError::NotFound("not a PCI MSI"))?;
        self.0.ports.write_msi_msg(d.irq, &msg);
        Ok(())
    }
}
