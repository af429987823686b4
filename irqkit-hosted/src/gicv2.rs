//! A GICv2 for the hosted machine: the register-accurate model from `irqkit-chips`
//! between devices and the virtual CPUs, its Linux-style driver and irq domain on top.
//! Wired like the GICv3 ([`crate::gicv3`]): the model's per-CPU IRQ output arrives on
//! `GIC_IRQ_VECTOR`, whose handler is the GICv2 `gic_handle_irq` (IAR loop).

use std::sync::Arc;

use irqkit_chips::gic::v2_driver::GicV2Driver;
use irqkit_chips::gic::GicV2;
use irqkit_chips::irqchip::gic_ports::ModelGicV2Ports;
use irqkit_chips::irqchip::gicv2::GicV2Irq;
use irqkit_chips::irqchip::gicv3::GIC_SPI;
use irqkit_core::{CpuId, HardIrq, IrqError, IrqSystem};

use crate::controller::{masked, output_to_vector, ControllerEntry};

use crate::gicv3::GIC_IRQ_VECTOR;
use crate::shared::Shared;

/// Interrupt lines the modelled distributor implements (SGIs, PPIs and 96 SPIs).
const NR_IRQS: u32 = 128;

/// The machine's GICv2: model, driver and domain.
pub struct HostGicV2 {
    model: Arc<GicV2>,
    irq: GicV2Irq<ModelGicV2Ports>,
}

impl HostGicV2 {
    pub(crate) fn attach(
        sys: &Arc<IrqSystem>,
        shared: &Arc<Shared>,
    ) -> Result<Arc<Self>, IrqError> {
        let n = sys.nr_cpus() as u32;
        if n > 8 {
            return Err(IrqError::InvalidArgument("a GICv2 serves at most 8 CPUs"));
        }
        let model = Arc::new(GicV2::new(NR_IRQS, n)?);
        let drv = GicV2Driver::probe(&model.dist_view(0), false);
        let mask = drv.cpu_init(0, &model.dist_view(0), &model.cpuif_view(0))?;
        drv.dist_init(&model.dist_view(0), mask);
        for cpu in 1..n {
            drv.cpu_init(cpu, &model.dist_view(cpu), &model.cpuif_view(cpu))?;
        }
        let ports = ModelGicV2Ports { gic: model.clone(), platform: sys.platform_arc() };
        let irq = GicV2Irq::new(sys, 0, ports, drv)?;
        sys.irq_set_proc_show_level(true);
        shared.arm64_rows.store(true, std::sync::atomic::Ordering::Relaxed);
        let gic = Arc::new(HostGicV2 { model, irq });
        gic.model.set_notifier(output_to_vector(sys, shared, GIC_IRQ_VECTOR));
        Ok(gic)
    }

    /// Maps SPI `spi` with devicetree trigger `flags`; returns the Linux irq number.
    pub fn map_spi(&self, sys: &IrqSystem, spi: u32, flags: u32) -> Result<u32, IrqError> {
        self.irq.map_fwspec(sys, &[GIC_SPI, spi, flags])
    }

    /// A device drives SPI `spi`.
    pub fn set_spi(&self, spi: u32, level: bool) -> Result<(), IrqError> {
        masked(|| self.model.set_line(32 + spi, level))
    }
}

impl ControllerEntry for HostGicV2 {
    fn entry(&self, sys: &IrqSystem, hard: &HardIrq) {
        let _ = self.irq.handle_irq(sys, hard);
    }
    fn asserted(&self, cpu: CpuId) -> bool {
        self.model.irq_asserted(cpu.0)
    }
}
