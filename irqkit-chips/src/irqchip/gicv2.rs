//! The GICv2 as an irqkit-core chip and root domain (Linux drivers/irqchip/irq-gic.c:
//! `gic_chip`, `gic_irq_domain_ops`, `gic_handle_irq`), driven through [`GicV2Driver`].
//!
//! Same devicetree specifiers and flows as the GICv3 glue (`<type number flags>`,
//! fasteoi for SPIs, percpu_devid for SGIs/PPIs); routing is ITARGETSR.

use alloc::string::String;
use alloc::sync::Arc;

use irqkit_core::irq::{
    ChipCallbacks, ChipFlags, ChipState, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain,
    RevMap, SetResult, Trigger as CoreTrigger,
};
use irqkit_core::{CpuId, CpuMask, HardIrq, IrqError, IrqSystem};

use super::driver_trigger;
pub use super::gic_ports::{GicV2Ports, ModelGicV2Ports};
use super::gicv3::gic_translate;
use crate::gic::v2_driver::{ChipState as V2State, GicV2Driver};

/// `gic_chip` of a GICv2 ("GIC-0").
pub struct GicV2Chip<P: GicV2Ports> {
    ports: P,
    drv: GicV2Driver,
    name: String,
}

impl<P: GicV2Ports> GicV2Chip<P> {
    /// The driver instance.
    pub fn driver(&self) -> &GicV2Driver {
        &self.drv
    }
}

impl<P: GicV2Ports> IrqChip for GicV2Chip<P> {
    fn name(&self) -> &str {
        &self.name
    }
    fn flags(&self) -> ChipFlags {
        ChipFlags::SET_TYPE_MASKED | ChipFlags::SKIP_SET_WAKE | ChipFlags::MASK_ON_SUSPEND
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK
            | ChipCallbacks::UNMASK
            | ChipCallbacks::EOI
            | ChipCallbacks::SET_TYPE
            | ChipCallbacks::SET_AFFINITY
            | ChipCallbacks::RETRIGGER
    }
    fn mask(&self, d: &IrqData) {
        // Only an out-of-range hwirq fails, and the domain never maps one.
        let _ = self.drv.mask(&self.ports.dist(), d.hwirq as u32);
    }
    fn unmask(&self, d: &IrqData) {
        let _ = self.drv.unmask(&self.ports.dist(), d.hwirq as u32);
    }
    fn eoi(&self, d: &IrqData) {
        // For SPIs and PPIs the IAR value is the INTID (no source-CPU bits).
        self.drv.eoi(&self.ports.cpuif(), d.hwirq as u32);
    }
    fn set_type(&self, d: &IrqData, ty: CoreTrigger) -> Result<SetResult, IrqError> {
        self.drv.set_type(&self.ports.dist(), d.hwirq as u32, driver_trigger(ty)?)?;
        Ok(SetResult::Ok)
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let cpu = mask.first().ok_or(IrqError::InvalidArgument("empty affinity mask"))?;
        self.drv.set_affinity(&self.ports.dist(), d.hwirq as u32, cpu.0)?;
        Ok((SetResult::Done, CpuMask::single(cpu)))
    }
    fn retrigger(&self, d: &IrqData) -> bool {
        self.drv.retrigger(&self.ports.dist(), d.hwirq as u32).is_ok()
    }
    fn get_state(&self, d: &IrqData, which: ChipState) -> Result<bool, IrqError> {
        let w = match which {
            ChipState::Pending => V2State::Pending,
            ChipState::Active => V2State::Active,
            ChipState::Masked => V2State::Masked,
        };
        self.drv.irqchip_state(&self.ports.dist(), d.hwirq as u32, w)
    }
}

/// `gic_irq_domain_ops` of a GICv2 (plain domain: translate + map).
pub struct GicV2DomainOps<P: GicV2Ports>(Arc<GicV2Chip<P>>);

impl<P: GicV2Ports> DomainOps for GicV2DomainOps<P> {
    fn xlate(&self, _domain: &IrqDomain, fwspec: &[u32]) -> Result<(u64, CoreTrigger), IrqError> {
        let r = gic_translate(self.0.drv.nr_irqs(), fwspec)?;
        if r.0 >= self.0.drv.nr_irqs() as u64 {
            return Err(IrqError::InvalidArgument("GICv2 has no LPIs"));
        }
        Ok(r)
    }
    fn map(&self, sys: &IrqSystem, _d: &IrqDomain, virq: u32, hwirq: u64) -> Result<(), IrqError> {
        if hwirq >= self.0.drv.nr_irqs() as u64 {
            return Err(IrqError::InvalidArgument("hwirq beyond GICD_TYPER"));
        }
        if hwirq < 32 {
            sys.irq_set_percpu_devid(virq)?;
            return sys.irq_set_chip_and_handler(virq, self.0.clone(), FlowHandler::PerCpuDevid);
        }
        sys.irq_set_chip_and_handler(virq, self.0.clone(), FlowHandler::FastEoi)
    }
}

/// A GICv2 bound to an [`IrqSystem`]: its chip, its domain and the CPU entry.
pub struct GicV2Irq<P: GicV2Ports> {
    chip: Arc<GicV2Chip<P>>,
    domain: Arc<IrqDomain>,
}

impl<P: GicV2Ports> GicV2Irq<P> {
    /// Creates the linear domain of GIC number `n` whose driver already ran its
    /// distributor and CPU-interface init.
    pub fn new(sys: &IrqSystem, n: u32, ports: P, drv: GicV2Driver) -> Result<Self, IrqError> {
        let nr = drv.nr_irqs();
        let chip = Arc::new(GicV2Chip { ports, drv, name: GicV2Driver::chip_name(n) });
        let ops = Arc::new(GicV2DomainOps(chip.clone()));
        let domain = sys.irq_domain_create(&chip.name, RevMap::Linear(nr), ops, None, None)?;
        Ok(GicV2Irq { chip, domain })
    }

    /// The domain.
    pub fn domain(&self) -> &Arc<IrqDomain> {
        &self.domain
    }

    /// The chip.
    pub fn chip(&self) -> &Arc<GicV2Chip<P>> {
        &self.chip
    }

    /// Maps `<type number flags>` and programs the trigger into GICD_ICFGR.
    pub fn map_fwspec(&self, sys: &IrqSystem, fwspec: &[u32]) -> Result<u32, IrqError> {
        let virq = sys.irq_create_fwspec_mapping(&self.domain, fwspec)?;
        let (hwirq, ty) = gic_translate(self.chip.drv.nr_irqs(), fwspec)?;
        if !ty.is_empty() && hwirq >= 16 {
            sys.irq_set_irq_type(virq, ty)?;
        }
        Ok(virq)
    }

    /// `gic_handle_irq`: reads GICC_IAR until it is spurious, dispatching each INTID
    /// through the domain. Returns how many were taken; the first unmapped INTID is
    /// deactivated here and reported after the loop.
    pub fn handle_irq(&self, sys: &IrqSystem, ctx: &HardIrq) -> Result<u32, IrqError> {
        let cpuif = self.chip.ports.cpuif();
        let mut err = None;
        let n = self.chip.drv.handle_irq(&cpuif, |hwirq, iar| {
            if let Err(e) = sys.generic_handle_domain_irq(&self.domain, hwirq as u64, ctx) {
                self.chip.drv.eoi(&cpuif, iar);
                err.get_or_insert(e);
            }
        });
        err.map_or(Ok(n), Err)
    }

    /// The CPU the calling thread runs on, as the chip sees it.
    pub fn this_cpu(&self) -> CpuId {
        CpuId(self.chip.ports.this_cpu())
    }
}
