//! The GICv3 as an irqkit-core chip and root domain (Linux drivers/irqchip/irq-gic-v3.c:
//! `gic_chip`, `gic_irq_domain_ops`, `gic_handle_irq`), driven through [`GicV3Driver`].
//!
//! SPIs use the fasteoi flow, SGIs/PPIs percpu_devid, LPIs (allocated by the ITS level
//! of a hierarchy) fasteoi. Firmware specifiers are the devicetree's three cells
//! `<type number flags>`: type 0 SPI (hwirq = number + 32), type 1 PPI (number + 16).

use alloc::sync::Arc;

use irqkit_core::irq::{
    ChipCallbacks, ChipFlags, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, RevMap,
    SetResult, Trigger as CoreTrigger,
};
use irqkit_core::{CpuId, CpuMask, HardIrq, IrqError, IrqSystem};

use super::driver_trigger;
pub use super::gic_ports::{GicV3Ports, ModelGicV3Ports};
use crate::gic::lpi::FIRST_LPI;
use crate::gic::v3_driver::GicV3Driver;

/// Devicetree `GIC_SPI`.
pub const GIC_SPI: u32 = 0;
/// Devicetree `GIC_PPI`.
pub const GIC_PPI: u32 = 1;
/// Linux's `GIC_IRQ_TYPE_LPI`: the specifier type the ITS level passes to its parent.
pub const GIC_IRQ_TYPE_LPI: u32 = 0xa110_c8ed;

/// `gic_chip`: the GICv3's `IrqChip`.
pub struct GicV3Chip<P: GicV3Ports> {
    ports: P,
    drv: GicV3Driver,
}

impl<P: GicV3Ports> GicV3Chip<P> {
    /// The ports the chip uses.
    pub fn ports(&self) -> &P {
        &self.ports
    }
    /// The driver instance.
    pub fn driver(&self) -> &GicV3Driver {
        &self.drv
    }
}

impl<P: GicV3Ports> IrqChip for GicV3Chip<P> {
    fn name(&self) -> &str {
        GicV3Driver::CHIP_NAME
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
    }
    fn mask(&self, d: &IrqData) {
        // Only an out-of-range hwirq fails, and the domain never maps one.
        let p = &self.ports;
        let _ = self.drv.mask(&p.dist(), &p.redist(), d.hwirq as u32, p.this_cpu());
    }
    fn unmask(&self, d: &IrqData) {
        let p = &self.ports;
        let _ = self.drv.unmask(&p.dist(), &p.redist(), d.hwirq as u32, p.this_cpu());
    }
    fn eoi(&self, d: &IrqData) {
        self.drv.eoi(&self.ports.icc(), d.hwirq as u32);
    }
    fn set_type(&self, d: &IrqData, ty: CoreTrigger) -> Result<SetResult, IrqError> {
        let p = &self.ports;
        let t = driver_trigger(ty)?;
        self.drv.set_type(&p.dist(), &p.redist(), d.hwirq as u32, p.this_cpu(), t)?;
        Ok(SetResult::Ok)
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        // IROUTER names one CPU: the first of the mask (cpumask_any_and in Linux).
        let cpu = mask.first().ok_or(IrqError::InvalidArgument("empty affinity mask"))?;
        let p = &self.ports;
        self.drv.set_affinity(&p.dist(), d.hwirq as u32, cpu.0, p.num_cpus())?;
        Ok((SetResult::Done, CpuMask::single(cpu)))
    }
}

/// `gic_irq_domain_translate`: `<type number flags>` → (hwirq, trigger) for a GIC with
/// `nr_irqs` SGI+PPI+SPI INTIDs.
pub fn gic_translate(nr_irqs: u32, fwspec: &[u32]) -> Result<(u64, CoreTrigger), IrqError> {
    let [ty, num, flags, ..] = *fwspec else {
        return Err(IrqError::InvalidArgument("GIC specifier needs three cells"));
    };
    let hwirq = match ty {
        GIC_SPI => num.checked_add(32).filter(|h| *h < nr_irqs),
        GIC_PPI => (num < 16).then_some(num + 16),
        GIC_IRQ_TYPE_LPI => (num >= FIRST_LPI).then_some(num),
        _ => return Err(IrqError::InvalidArgument("unknown GIC specifier type")),
    };
    let hwirq = hwirq.ok_or(IrqError::InvalidArgument("GIC specifier number out of range"))?;
    Ok((hwirq as u64, CoreTrigger::from_bits_truncate(flags) & CoreTrigger::SENSE_MASK))
}

/// `gic_irq_domain_ops`: translate, map (plain) and alloc (hierarchy parent of the ITS).
pub struct GicV3DomainOps<P: GicV3Ports> {
    chip: Arc<GicV3Chip<P>>,
}

impl<P: GicV3Ports> GicV3DomainOps<P> {
    /// The flow of an INTID. Like Linux's GIC, no flow name is set, so
    /// `/proc/interrupts` reads "GICv3  27 Level  arch_timer".
    fn flow(hwirq: u64) -> FlowHandler {
        if hwirq < 32 {
            FlowHandler::PerCpuDevid
        } else {
            FlowHandler::FastEoi
        }
    }
}

impl<P: GicV3Ports> DomainOps for GicV3DomainOps<P> {
    fn xlate(&self, _domain: &IrqDomain, fwspec: &[u32]) -> Result<(u64, CoreTrigger), IrqError> {
        gic_translate(self.chip.drv.nr_irqs(), fwspec)
    }
    fn map(
        &self,
        sys: &IrqSystem,
        _domain: &IrqDomain,
        virq: u32,
        hwirq: u64,
    ) -> Result<(), IrqError> {
        if hwirq >= self.chip.drv.nr_irqs() as u64 {
            return Err(IrqError::InvalidArgument("hwirq beyond GICD_TYPER"));
        }
        let flow = Self::flow(hwirq);
        if hwirq < 32 {
            sys.irq_set_percpu_devid(virq)?;
        }
        sys.irq_set_chip_and_handler(virq, self.chip.clone(), flow)
    }
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        let (hwirq, _) = gic_translate(self.chip.drv.nr_irqs(), arg)?;
        for i in 0..nr {
            let hw = hwirq + i as u64;
            let flow = Self::flow(hw);
            let chip = self.chip.clone();
            sys.irq_domain_set_info(domain, virq + i, hw, chip, None, flow, None)?;
            if hw < 32 {
                sys.irq_set_percpu_devid(virq + i)?;
            }
        }
        Ok(())
    }
}

/// A GICv3 bound to an [`IrqSystem`]: its chip, its domain and the CPU entry.
pub struct GicV3Irq<P: GicV3Ports> {
    chip: Arc<GicV3Chip<P>>,
    domain: Arc<IrqDomain>,
}

impl<P: GicV3Ports> GicV3Irq<P> {
    /// Creates the root domain (linear over SGI+PPI+SPI; LPIs fall into its tree) for a
    /// GIC whose driver already ran its distributor, redistributor and CPU init.
    pub fn new(sys: &IrqSystem, ports: P, drv: GicV3Driver) -> Result<Self, IrqError> {
        let nr = drv.nr_irqs();
        let chip = Arc::new(GicV3Chip { ports, drv });
        let ops = Arc::new(GicV3DomainOps { chip: chip.clone() });
        let domain = sys.irq_domain_create("GICv3", RevMap::Linear(nr), ops, None, None)?;
        Ok(GicV3Irq { chip, domain })
    }

    /// The root irq domain.
    pub fn domain(&self) -> &Arc<IrqDomain> {
        &self.domain
    }

    /// The chip.
    pub fn chip(&self) -> &Arc<GicV3Chip<P>> {
        &self.chip
    }

    /// `irq_create_fwspec_mapping` on this domain (`<type number flags>`), then
    /// `irq_set_irq_type` so GICD_ICFGR holds the specifier's trigger (Linux does this
    /// inside `irq_create_fwspec_mapping`; irqkit-core only records the type).
    pub fn map_fwspec(&self, sys: &IrqSystem, fwspec: &[u32]) -> Result<u32, IrqError> {
        let virq = sys.irq_create_fwspec_mapping(&self.domain, fwspec)?;
        let (hwirq, ty) = gic_translate(self.chip.drv.nr_irqs(), fwspec)?;
        if !ty.is_empty() && hwirq >= 16 {
            sys.irq_set_irq_type(virq, ty)?;
        }
        Ok(virq)
    }

    /// Maps `fwspec` as the parent line of a chained controller and returns its chip
    /// level, for `chained_irq_enter/exit` (see [`super::gpio::GpioIrq::new`]).
    pub fn map_chained_parent(
        &self,
        sys: &IrqSystem,
        fwspec: &[u32],
    ) -> Result<(u32, IrqData), IrqError> {
        let virq = self.map_fwspec(sys, fwspec)?;
        let (hwirq, _) = gic_translate(self.chip.drv.nr_irqs(), fwspec)?;
        let mut d = IrqData::new(virq);
        d.hwirq = hwirq;
        d.chip = self.chip.clone();
        Ok((virq, d))
    }

    /// `gic_handle_irq`: one ICC_IAR1 read, `generic_handle_domain_irq`, and the EOI the
    /// flow handler issues. Returns the INTID taken, `None` if IAR was spurious. An
    /// INTID nobody mapped is deactivated here so the CPU interface is not wedged.
    pub fn handle_irq(&self, sys: &IrqSystem, ctx: &HardIrq) -> Result<Option<u32>, IrqError> {
        let icc = self.chip.ports.icc();
        let Some(intid) = self.chip.drv.handle_irq(&icc) else {
            return Ok(None);
        };
        match sys.generic_handle_domain_irq(&self.domain, intid as u64, ctx) {
            Ok(()) => Ok(Some(intid)),
            Err(e) => {
                self.chip.drv.eoi(&icc, intid);
                Err(e)
            }
        }
    }

    /// The CPU the calling thread runs on, as the chip sees it.
    pub fn this_cpu(&self) -> CpuId {
        CpuId(self.chip.ports.this_cpu())
    }
}
