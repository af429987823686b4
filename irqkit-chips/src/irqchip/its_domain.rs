//! The ITS level of the MSI → ITS → GIC hierarchy (Linux
//! drivers/irqchip/irq-gic-v3-its.c `its_irq_chip`, `its_domain_ops`): one LPI per
//! (DeviceID, EventID), mapped with MAPTI + SYNC on CPU 0's collection, masked through
//! the LPI property table + INV, moved with MOVI, discarded on free.
//!
//! Difference from Linux: MAPTI happens at allocation rather than at activation (the
//! driver's `ItsMsiDomain::activate` allocates the LPI and maps it in one step).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use irqkit_core::irq::{
    parent, ChipCallbacks, DomainOps, IrqChip, IrqData, IrqDomain, SetResult,
    Trigger as CoreTrigger,
};
use irqkit_core::sync::SpinLock;
use irqkit_core::{CpuMask, IrqError, IrqSystem};

use super::gicv3::GIC_IRQ_TYPE_LPI;
use super::irqs_off;
use crate::gic::its::ItsFrame;
use crate::gic::its_driver::ItsDriver;
use crate::gic::its_msi::ItsMsiDomain;
use crate::gic::v3_driver::DmaMemory;
use crate::gic::{GicV3, ModelMemory};
use crate::mmio::{CpuView, Mmio};

/// How the ITS glue reaches the ITS frames and the memory its tables live in.
pub trait ItsPorts: Send + Sync + 'static {
    /// The ITS control frame.
    type Its<'a>: Mmio
    where
        Self: 'a;
    /// Memory of the command queue, ITTs and LPI tables.
    type Mem: DmaMemory;
    /// The ITS frame.
    fn its(&self) -> Self::Its<'_>;
    /// The memory.
    fn mem(&self) -> &Self::Mem;
}

/// [`ItsPorts`] on a [`GicV3`] model with an ITS.
pub struct ModelItsPorts {
    /// The model.
    pub gic: Arc<GicV3>,
}

impl ItsPorts for ModelItsPorts {
    type Its<'a> = CpuView<ItsFrame<'a>>;
    type Mem = ModelMemory;
    fn its(&self) -> Self::Its<'_> {
        self.gic.its_view(0)
    }
    fn mem(&self) -> &ModelMemory {
        self.gic.memory()
    }
}

/// One vector of one device: the ITS level's chip data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItsEvent {
    /// The DeviceID the bus stamps on the device's writes.
    pub dev: u32,
    /// The EventID (the MSI data).
    pub event: u32,
    /// The LPI INTID it is mapped to.
    pub lpi: u32,
}

pub(crate) struct ItsShared<I: ItsPorts> {
    pub(crate) ports: I,
    pub(crate) drv: ItsDriver,
    pub(crate) dom: ItsMsiDomain,
    /// virq → its event, for `free` and `msi_msg` (the core keeps `IrqData` private).
    /// Never taken in interrupt context: chip callbacks read their level's chip data.
    pub(crate) events: SpinLock<BTreeMap<u32, ItsEvent>>,
}

impl<I: ItsPorts> ItsShared<I> {
    fn set_enabled(&self, e: &ItsEvent, on: bool) -> Result<(), IrqError> {
        let (p, drv) = (&self.ports, &self.drv);
        self.dom.set_enabled(drv, &p.its(), p.mem(), e.dev, e.event, on)
    }
}

/// `its_irq_chip`: the ITS level (mask/unmask through the LPI property table).
pub struct ItsChip<I: ItsPorts>(pub(crate) Arc<ItsShared<I>>);

impl<I: ItsPorts> IrqChip for ItsChip<I> {
    fn name(&self) -> &str {
        "ITS"
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK
            | ChipCallbacks::UNMASK
            | ChipCallbacks::EOI
            | ChipCallbacks::SET_AFFINITY
    }
    fn mask(&self, d: &IrqData) {
        if let Some(e) = d.chip_data::<ItsEvent>() {
            // Fails only for an event that is not mapped, which this level never has.
            let _ = self.0.set_enabled(e, false);
        }
    }
    fn unmask(&self, d: &IrqData) {
        if let Some(e) = d.chip_data::<ItsEvent>() {
            let _ = self.0.set_enabled(e, true);
        }
    }
    fn eoi(&self, d: &IrqData) {
        parent::eoi(d)
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let e = d.chip_data::<ItsEvent>().ok_or(IrqError::NotFound("ITS event data"))?;
        let cpu = mask.first().ok_or(IrqError::InvalidArgument("empty affinity mask"))?;
        let (s, p) = (&self.0, &self.0.ports);
        s.dom.set_affinity(&s.drv, &p.its(), p.mem(), e.dev, e.event, cpu.0)?;
        Ok((SetResult::Done, CpuMask::single(cpu)))
    }
}

/// `its_domain_ops`: arg is `[DeviceID]`; virq `v + i` gets EventID `i`.
pub struct ItsDomainOps<I: ItsPorts>(pub(crate) Arc<ItsShared<I>>);

impl<I: ItsPorts> ItsDomainOps<I> {
    fn free_events(&self, sys: &IrqSystem, virq: u32, nr: u32) {
        let s = &self.0;
        for v in virq..virq.saturating_add(nr) {
            let e = s.events.lock().remove(&v);
            if let Some(e) = e {
                let (its, mem) = (s.ports.its(), s.ports.mem());
                let _ = irqs_off(sys, || s.dom.deactivate(&s.drv, &its, mem, e.dev, e.event));
            }
        }
    }
}

impl<I: ItsPorts> DomainOps for ItsDomainOps<I> {
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        let dev = *arg.first().ok_or(IrqError::InvalidArgument("ITS alloc needs a DeviceID"))?;
        let s = &self.0;
        for i in 0..nr {
            let r = (|| {
                let (its, mem) = (s.ports.its(), s.ports.mem());
                let (lpi, _) = irqs_off(sys, || s.dom.activate(&s.drv, &its, mem, dev, i, 0))?;
                let e = ItsEvent { dev, event: i, lpi };
                s.events.lock().insert(virq + i, e);
                let chip = Arc::new(ItsChip(s.clone()));
                sys.irq_domain_set_hwirq_and_chip(
                    domain,
                    virq + i,
                    lpi as u64,
                    chip,
                    Some(Arc::new(e)),
                )?;
                let spec = [GIC_IRQ_TYPE_LPI, lpi, CoreTrigger::EDGE_RISING.bits()];
                sys.irq_domain_alloc_irqs_parent(domain, virq + i, 1, &spec)
            })();
            if let Err(err) = r {
                self.free_events(sys, virq, i + 1);
                return Err(err);
            }
        }
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, domain: &IrqDomain, virq: u32, nr: u32) {
        self.free_events(sys, virq, nr);
        sys.irq_domain_free_irqs_parent(domain, virq, nr);
    }
}
