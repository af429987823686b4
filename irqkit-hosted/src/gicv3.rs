//! A GICv3 for the hosted machine: the register-accurate model from `irqkit-chips`
//! between devices and the virtual CPUs, its Linux-style driver and irq domain on top.
//!
//! A device line changes the model's state; when the model asserts a CPU's IRQ input,
//! that CPU takes the `GIC_IRQ_VECTOR` interrupt, whose handler is `gic_handle_irq`
//! (IAR1 → domain → flow → EOI through the model). A CPU input still asserted after the
//! EOI is taken again, as a level-sensitive CPU IRQ line would be.

use std::sync::Arc;

use irqkit_chips::gic::its_driver::ItsDriver;
use irqkit_chips::gic::its_msi::ItsMsiDomain;
use irqkit_chips::gic::v3_driver::{GicV3Driver, ModelSysRegs};
use irqkit_chips::gic::{GicV3, GicV3Config, ModelMemory};
use irqkit_chips::irqchip::gicv3::{GicV3Irq, ModelGicV3Ports, GIC_PPI, GIC_SPI};
use irqkit_chips::irqchip::its_msi::{ItsMsi, ModelItsPorts};
use irqkit_chips::mmio::Mmio;
use irqkit_core::{CpuId, HardIrq, IrqError, IrqSystem};

use crate::controller::{masked, output_to_vector, ControllerEntry};

use crate::shared::Shared;

/// The vector through which the GIC's per-CPU IRQ output reaches a CPU.
pub const GIC_IRQ_VECTOR: u8 = 0x30;

/// Linux's devicetree trigger flags for a GIC specifier's third cell.
pub const GIC_EDGE_RISING: u32 = 1;
/// Level-high trigger flag.
pub const GIC_LEVEL_HIGH: u32 = 4;

/// The machine's GICv3: model, driver and domain, and optionally the ITS with an MSI
/// domain on top (MSI → ITS → GIC).
pub struct HostGicV3 {
    model: Arc<GicV3>,
    irq: GicV3Irq<ModelGicV3Ports>,
    msi: Option<ItsMsi<ModelItsPorts>>,
}

// Machine-memory layout of the LPI tables and the ITS (physical addresses in the
// model's memory; the sizes are what 1024 LPIs and 64 CPUs need).
const PROP_PA: u64 = 0x10_0000;
const PEND_PA: u64 = 0x20_0000;
const QUEUE_PA: u64 = 0x80_0000;
const ITT_PA: u64 = 0x90_0000;
const ITS_PA: u64 = 0x0800_0000;
const NR_LPIS: u32 = 1024;

impl HostGicV3 {
    /// Builds the model for `nr_cpus`, runs the driver's init sequence (distributor,
    /// then every redistributor and CPU interface) and wires the CPU outputs.
    pub(crate) fn attach(
        sys: &Arc<IrqSystem>,
        shared: &Arc<Shared>,
        with_its: bool,
    ) -> Result<Arc<HostGicV3>, IrqError> {
        let n = sys.nr_cpus() as u32;
        let mem = Arc::new(ModelMemory::new());
        let cfg = GicV3Config { num_cpus: n, its: with_its, ..GicV3Config::default() };
        let model = Arc::new(GicV3::new(cfg, mem.clone())?);
        let drv = GicV3Driver::probe(&model.dist_view(0), false);
        drv.dist_init(&model.dist_view(0), 0)?;
        for cpu in 0..n {
            drv.redist_init(&model.redist_view(cpu), cpu)?;
            drv.cpu_init(&ModelSysRegs { gic: &model, cpu });
            if with_its {
                let pend = PEND_PA + cpu as u64 * 0x1_0000;
                drv.lpi_init(&model.redist_view(cpu), &*mem, cpu, PROP_PA, pend)?;
            }
        }
        let its = if with_its {
            let its = ItsDriver::init(&model.its_view(0), &*mem, ITS_PA, QUEUE_PA)?;
            for cpu in 0..n {
                its.mapc(&model.its_view(0), &*mem, cpu as u16, cpu)?;
                its.invall(&model.its_view(0), &*mem, cpu as u16)?;
            }
            Some(its)
        } else {
            None
        };
        let ports = ModelGicV3Ports { gic: model.clone(), platform: sys.platform_arc() };
        let irq = GicV3Irq::new(sys, ports, drv)?;
        let msi = match its {
            Some(its) => {
                let dom = ItsMsiDomain::new(NR_LPIS, PROP_PA, ITT_PA, 0x1_0000)?;
                let ports = ModelItsPorts { gic: model.clone() };
                Some(ItsMsi::new(sys, irq.domain(), ports, its, dom)?)
            }
            None => None,
        };
        // arm64's /proc/interrupts shows the trigger column (`Edge`/`Level`).
        sys.irq_set_proc_show_level(true);
        shared.arm64_rows.store(true, std::sync::atomic::Ordering::Relaxed);
        let gic = Arc::new(HostGicV3 { model, irq, msi });
        gic.model.set_notifier(output_to_vector(sys, shared, GIC_IRQ_VECTOR));
        Ok(gic)
    }

    /// Maps SPI `spi` (0-based, INTID 32 + spi) with devicetree trigger `flags` and
    /// returns its Linux irq number.
    pub fn map_spi(&self, sys: &IrqSystem, spi: u32, flags: u32) -> Result<u32, IrqError> {
        self.irq.map_fwspec(sys, &[GIC_SPI, spi, flags])
    }

    /// Maps PPI `ppi` (0-based, INTID 16 + ppi) as a per-CPU-devid line.
    pub fn map_ppi(&self, sys: &IrqSystem, ppi: u32, flags: u32) -> Result<u32, IrqError> {
        self.irq.map_fwspec(sys, &[GIC_PPI, ppi, flags])
    }

    /// Drives PPI `ppi` of `cpu` (a per-CPU device such as the timer).
    pub fn set_ppi(&self, cpu: CpuId, ppi: u32, level: bool) -> Result<(), IrqError> {
        masked(|| self.model.set_ppi_line(cpu.0, 16 + ppi, level))
    }

    /// A device pulses SPI `spi` (an edge), or sets a level line.
    pub fn set_spi(&self, spi: u32, level: bool) -> Result<(), IrqError> {
        masked(|| self.model.set_line(32 + spi, level))
    }

    /// Allocates `nvec` MSIs for PCI-style device `dev` through the ITS (MAPD, MAPTI,
    /// SYNC); returns the first Linux irq number. Needs the ITS.
    pub fn msi_alloc(&self, sys: &IrqSystem, dev: u32, nvec: u32) -> Result<u32, IrqError> {
        self.msi
            .as_ref()
            .ok_or(IrqError::Unsupported("GICv3 attached without ITS"))?
            .msi_alloc(sys, dev, nvec)
    }

    /// The device's posted write of the MSI message of `virq` into GITS_TRANSLATER:
    /// the ITS translates (DeviceID, EventID) into an LPI on the target redistributor.
    pub fn msi_write(&self, virq: u32) -> Result<(), IrqError> {
        let msi = self.msi.as_ref().ok_or(IrqError::Unsupported("GICv3 attached without ITS"))?;
        masked(|| {
            let (e, msg) = msi.msi_msg(virq)?;
            self.model.its_view(e.dev).write32((msg.address - ITS_PA) as usize, msg.data);
            Ok(())
        })
    }

    /// The model itself (register-level inspection in tests).
    pub fn model(&self) -> &Arc<GicV3> {
        &self.model
    }
}

impl ControllerEntry for HostGicV3 {
    fn entry(&self, sys: &IrqSystem, hard: &HardIrq) {
        let _ = self.irq.handle_irq(sys, hard);
    }
    fn asserted(&self, cpu: CpuId) -> bool {
        self.model.irq_asserted(cpu.0)
    }
}
