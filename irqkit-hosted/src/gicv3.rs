//! A GICv3 for the hosted machine: the register-accurate model from `irqkit-chips`
//! between devices and the virtual CPUs, its Linux-style driver and irq domain on top.
//!
//! A device line changes the model's state; when the model asserts a CPU's IRQ input,
//! that CPU takes the `GIC_IRQ_VECTOR` interrupt, whose handler is `gic_handle_irq`
//! (IAR1 → domain → flow → EOI through the model). A CPU input still asserted after the
//! EOI is taken again, as a level-sensitive CPU IRQ line would be.

use std::sync::{Arc, Weak};

use irqkit_chips::gic::v3_driver::{GicV3Driver, ModelSysRegs};
use irqkit_chips::gic::{GicV3, GicV3Config, ModelMemory};
use irqkit_chips::irqchip::gicv3::{GicV3Irq, ModelGicV3Ports, GIC_SPI};
use irqkit_core::{CpuId, IrqError, IrqSystem};

use crate::shared::Shared;

/// The vector through which the GIC's per-CPU IRQ output reaches a CPU.
pub const GIC_IRQ_VECTOR: u8 = 0x30;

/// Linux's devicetree trigger flags for a GIC specifier's third cell.
pub const GIC_EDGE_RISING: u32 = 1;
/// Level-high trigger flag.
pub const GIC_LEVEL_HIGH: u32 = 4;

/// The machine's GICv3: model, driver and domain.
pub struct HostGicV3 {
    model: Arc<GicV3>,
    irq: GicV3Irq<ModelGicV3Ports>,
}

impl HostGicV3 {
    /// Builds the model for `nr_cpus`, runs the driver's init sequence (distributor,
    /// then every redistributor and CPU interface) and wires the CPU outputs.
    pub(crate) fn attach(
        sys: &Arc<IrqSystem>,
        shared: &Arc<Shared>,
    ) -> Result<Arc<HostGicV3>, IrqError> {
        let n = sys.nr_cpus() as u32;
        let cfg = GicV3Config { num_cpus: n, ..GicV3Config::default() };
        let model = Arc::new(GicV3::new(cfg, Arc::new(ModelMemory::new()))?);
        let drv = GicV3Driver::probe(&model.dist_view(0), false);
        drv.dist_init(&model.dist_view(0), 0)?;
        for cpu in 0..n {
            drv.redist_init(&model.redist_view(cpu), cpu)?;
            drv.cpu_init(&ModelSysRegs { gic: &model, cpu });
        }
        let ports = ModelGicV3Ports { gic: model.clone(), platform: sys.platform_arc() };
        let irq = GicV3Irq::new(sys, ports, drv)?;
        // arm64's /proc/interrupts shows the trigger column (`Edge`/`Level`).
        sys.irq_set_proc_show_level(true);
        let gic = Arc::new(HostGicV3 { model, irq });
        let (ws, wh) = (Arc::downgrade(sys), Arc::downgrade(shared));
        gic.model.set_notifier(Arc::new(move |cpu, lines| {
            if lines.irq {
                kick(&ws, &wh, cpu);
            }
        }));
        Ok(gic)
    }

    /// `gic_handle_irq` on the CPU that took `GIC_IRQ_VECTOR`; re-raises the vector if
    /// the CPU's IRQ input is still asserted afterwards.
    pub(crate) fn handle(
        &self,
        sys: &IrqSystem,
        shared: &Shared,
        hard: &irqkit_core::HardIrq,
        cpu: CpuId,
    ) {
        let _ = self.irq.handle_irq(sys, hard);
        if self.model.irq_asserted(cpu.0) {
            let _ = shared.raise(sys, cpu, GIC_IRQ_VECTOR);
        }
    }

    /// Maps SPI `spi` (0-based, INTID 32 + spi) with devicetree trigger `flags` and
    /// returns its Linux irq number.
    pub fn map_spi(&self, sys: &IrqSystem, spi: u32, flags: u32) -> Result<u32, IrqError> {
        self.irq.map_fwspec(sys, &[GIC_SPI, spi, flags])
    }

    /// A device pulses SPI `spi` (an edge), or sets a level line.
    pub fn set_spi(&self, spi: u32, level: bool) -> Result<(), IrqError> {
        self.model.set_line(32 + spi, level)
    }

    /// The model itself (register-level inspection in tests).
    pub fn model(&self) -> &Arc<GicV3> {
        &self.model
    }
}

fn kick(ws: &Weak<IrqSystem>, wh: &Weak<Shared>, cpu: u32) {
    if let (Some(sys), Some(shared)) = (ws.upgrade(), wh.upgrade()) {
        let _ = shared.raise(&sys, CpuId(cpu), GIC_IRQ_VECTOR);
    }
}
