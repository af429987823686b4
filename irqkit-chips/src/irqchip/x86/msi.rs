//! The x86 PCI-MSI domain level (arch/x86/kernel/apic/msi.c `pci_msi_controller`).
//!
//! Each MSI's chip knows whether the device can mask it. A non-maskable one is
//! MOVE_DEFERRED: an affinity change waits for its next interrupt on the old CPU and is
//! applied there in two steps (`msi_affinity.rs`). Linux defers every non-remapped
//! PCI MSI; here a maskable one (MSI-X, MSI with per-vector masking) is moved at once,
//! since its direct update needs no old-CPU context, so the change shows without
//! waiting for an interrupt.

use alloc::sync::Arc;

use irqkit_core::irq::{
    ChipCallbacks, ChipFlags, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, SetResult,
};
use irqkit_core::{CpuMask, IrqError, IrqSystem};

use super::{X86Ports, X86Shared};
use crate::irqchip::irqs_off;
use crate::x86::msi::MsiMessage;

/// Whether a device can mask an MSI vector by itself (Linux's `msi_attrib.can_mask`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MsiMasking {
    /// MSI-X, or MSI with per-vector masking: the message is updated directly.
    Maskable,
    /// MSI without per-vector masking (QEMU's `edu`): moved in two steps on the old CPU.
    NoMask,
}

/// What the glue keeps per MSI: the message the device holds and whether it started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MsiEntry {
    pub(crate) msg: MsiMessage,
    pub(crate) started: bool,
}

/// `pci_msi_controller` on the vector domain ("PCI-MSI"): edge flow, ack at the APIC.
pub struct PciMsiChip<P: X86Ports> {
    shared: Arc<X86Shared<P>>,
    masking: MsiMasking,
}

impl<P: X86Ports> PciMsiChip<P> {
    fn set_started(&self, virq: u32, on: bool) {
        if let Some(e) = self.shared.msi.lock().get_mut(&virq) {
            e.started = on;
        }
    }
}

impl<P: X86Ports> IrqChip for PciMsiChip<P> {
    fn name(&self) -> &str {
        "PCI-MSI"
    }
    fn flags(&self) -> ChipFlags {
        match self.masking {
            MsiMasking::Maskable => ChipFlags::AFFINITY_PRE_STARTUP,
            MsiMasking::NoMask => ChipFlags::AFFINITY_PRE_STARTUP | ChipFlags::MOVE_DEFERRED,
        }
    }
    fn callbacks(&self) -> ChipCallbacks {
        // STARTUP/SHUTDOWN only track IRQD_IRQ_STARTED, which msi_set_affinity reads.
        ChipCallbacks::ACK
            | ChipCallbacks::SET_AFFINITY
            | ChipCallbacks::STARTUP
            | ChipCallbacks::SHUTDOWN
    }
    fn ack(&self, d: &IrqData) {
        if let Some(p) = d.parent() {
            p.chip.ack(p);
        }
    }
    fn startup(&self, d: &IrqData) {
        self.set_started(d.irq, true);
    }
    fn shutdown(&self, d: &IrqData) {
        self.set_started(d.irq, false);
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let maskable = self.masking == MsiMasking::Maskable;
        self.shared.msi_set_affinity(d, mask, force, maskable)
    }
}

/// The PCI-MSI domain's ops: arg is `[PCI requester ID]` or `[requester ID, 1]` for
/// MSIs the device cannot mask.
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
        let masking = match arg.get(1) {
            None | Some(0) => MsiMasking::Maskable,
            Some(1) => MsiMasking::NoMask,
            Some(_) => return Err(IrqError::InvalidArgument("MSI masking flag")),
        };
        sys.irq_domain_alloc_irqs_parent(domain, virq, nr, arg)?;
        for i in 0..nr {
            let v = virq + i;
            let r = (|| {
                let target = irqs_off(sys, || self.0.target(v));
                let (cpu, vector) = target.ok_or(IrqError::NotFound("no vector"))?;
                let msg = MsiMessage::compose(self.0.ports.apic_id(cpu), vector, false)?;
                let entry = MsiEntry { msg, started: false };
                irqs_off(sys, || self.0.msi.lock().insert(v, entry));
                let hwirq = (rid as u64) << 11 | i as u64;
                let chip = Arc::new(PciMsiChip { shared: self.0.clone(), masking });
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
        let e = *self.0.msi.lock().get(&d.irq).ok_or(IrqError::NotFound("not a PCI MSI"))?;
        self.0.ports.write_msi_msg(d.irq, &e.msg);
        Ok(())
    }
}
