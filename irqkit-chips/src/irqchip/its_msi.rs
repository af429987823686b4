//! The MSI domain on top of the ITS level: MSI → ITS → GIC (Linux
//! irq-gic-v3-its-msi-parent.c `its_msi_prepare`, kernel/irq/msi.c).
//!
//! Allocating N vectors for a DeviceID runs `its_msi_prepare` (ITT + MAPD), then the
//! ITS level maps each vector to an LPI and asks the GIC domain for the LPI's level.
//! Unmask sets the LPI's Enable bit and issues INV + SYNC; affinity changes issue MOVI.
//! A DeviceID is prepared once: allocating again for it fails with `Busy`.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use irqkit_core::irq::{
    parent, ChipCallbacks, DomainOps, IrqChip, IrqData, IrqDomain, RevMap, SetResult,
};
use irqkit_core::sync::SpinLock;
use irqkit_core::{CpuMask, IrqError, IrqSystem};

use super::irqs_off;
use super::its_domain::ItsShared;
pub use super::its_domain::{ItsChip, ItsDomainOps, ItsEvent, ItsPorts, ModelItsPorts};
use crate::gic::its_driver::{ItsDriver, MsiMsg};
use crate::gic::its_msi::ItsMsiDomain;

/// The MSI level's chip ("ITS-MSI"): everything goes to the ITS level.
pub struct ItsMsiChip;

impl IrqChip for ItsMsiChip {
    fn name(&self) -> &str {
        ItsMsiDomain::CHIP_NAME
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK
            | ChipCallbacks::UNMASK
            | ChipCallbacks::EOI
            | ChipCallbacks::SET_AFFINITY
    }
    fn mask(&self, d: &IrqData) {
        parent::mask(d)
    }
    fn unmask(&self, d: &IrqData) {
        parent::unmask(d)
    }
    fn eoi(&self, d: &IrqData) {
        parent::eoi(d)
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let p = d.parent().ok_or(IrqError::NotFound("MSI level without a parent"))?;
        p.chip.set_affinity(p, mask, force)
    }
}

/// The MSI domain's ops: `its_msi_prepare` (ITT + MAPD), then the ITS level.
pub struct MsiDomainOps<I: ItsPorts>(Arc<ItsShared<I>>);

impl<I: ItsPorts> DomainOps for MsiDomainOps<I> {
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        let dev = *arg.first().ok_or(IrqError::InvalidArgument("MSI alloc needs a DeviceID"))?;
        let s = &self.0;
        let (its, mem) = (s.ports.its(), s.ports.mem());
        irqs_off(sys, || s.dom.prepare_device(&s.drv, &its, mem, dev, nr))?;
        for i in 0..nr {
            // pci_msi_domain_calc_hwirq: requester ID << 11 | vector index, so
            // /proc/interrupts shows what Linux shows (e.g. 32768 for 00:02.0 vector 0).
            let hwirq = (dev as u64) << 11 | i as u64;
            sys.irq_domain_set_hwirq_and_chip(domain, virq + i, hwirq, Arc::new(ItsMsiChip), None)?;
        }
        sys.irq_domain_alloc_irqs_parent(domain, virq, nr, arg)
    }
    fn free(&self, sys: &IrqSystem, domain: &IrqDomain, virq: u32, nr: u32) {
        sys.irq_domain_free_irqs_parent(domain, virq, nr);
    }
}

/// The ITS and MSI domains stacked on a GICv3 domain.
pub struct ItsMsi<I: ItsPorts> {
    shared: Arc<ItsShared<I>>,
    its_domain: Arc<IrqDomain>,
    msi_domain: Arc<IrqDomain>,
}

impl<I: ItsPorts> ItsMsi<I> {
    /// Stacks "ITS" under `gic_domain` and "ITS-MSI" on top, over an initialised ITS
    /// driver (collections mapped) and its LPI/ITT bookkeeping.
    pub fn new(
        sys: &IrqSystem,
        gic_domain: &Arc<IrqDomain>,
        ports: I,
        drv: ItsDriver,
        dom: ItsMsiDomain,
    ) -> Result<Self, IrqError> {
        let shared =
            Arc::new(ItsShared { ports, drv, dom, events: SpinLock::new(BTreeMap::new()) });
        let its_ops = Arc::new(ItsDomainOps(shared.clone()));
        let its_domain =
            sys.irq_domain_create("ITS", RevMap::Tree, its_ops, Some(gic_domain.clone()), None)?;
        let msi_ops = Arc::new(MsiDomainOps(shared.clone()));
        let msi_domain = sys.irq_domain_create(
            "ITS-MSI",
            RevMap::Tree,
            msi_ops,
            Some(its_domain.clone()),
            None,
        )?;
        Ok(ItsMsi { shared, its_domain, msi_domain })
    }

    /// The ITS level's domain.
    pub fn its_domain(&self) -> &Arc<IrqDomain> {
        &self.its_domain
    }

    /// The MSI domain devices allocate from.
    pub fn msi_domain(&self) -> &Arc<IrqDomain> {
        &self.msi_domain
    }

    /// `msi_domain_alloc_irqs`: `nvec` vectors for DeviceID `dev`; returns the first virq
    /// (EventID `i` is virq `first + i`).
    pub fn msi_alloc(&self, sys: &IrqSystem, dev: u32, nvec: u32) -> Result<u32, IrqError> {
        if nvec == 0 {
            return Err(IrqError::InvalidArgument("zero MSI vectors"));
        }
        sys.irq_domain_alloc_irqs(&self.msi_domain, nvec, &[dev])
    }

    /// `msi_domain_free_irqs`.
    pub fn msi_free(&self, sys: &IrqSystem, virq: u32, nvec: u32) -> Result<(), IrqError> {
        sys.irq_domain_free_irqs(virq, nvec)
    }

    /// The event behind `virq` and the message (doorbell, EventID) its device writes.
    pub fn msi_msg(&self, virq: u32) -> Result<(ItsEvent, MsiMsg), IrqError> {
        let e =
            *self.shared.events.lock().get(&virq).ok_or(IrqError::NotFound("not an ITS MSI"))?;
        Ok((e, self.shared.drv.msi_msg(e.event)))
    }
}
