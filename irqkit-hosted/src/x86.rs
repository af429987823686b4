//! An x86 interrupt system for the hosted machine: the local APIC and IO-APIC models
//! from `irqkit-chips` between devices and the virtual CPUs, with Linux's vector,
//! IO-APIC and PCI-MSI domains on top.
//!
//! A device pin or MSI write lands in a local APIC's IRR; when a LAPIC asserts its
//! CPU's interrupt input, that CPU takes `APIC_INPUT_VECTOR`, whose handler is
//! `common_interrupt` (acknowledge the LAPIC → vector → descriptor → flow → EOI). An
//! input still asserted afterwards is taken again, as the CPU's INTR line would be.

use std::sync::Arc;

use irqkit_chips::irqchip::x86::{ModelX86Ports, X86Irq};
use irqkit_chips::x86::apic_driver::LapicDriver;
use irqkit_chips::x86::ioapic::IoApic;
use irqkit_chips::x86::lapic_set::LapicSet;
use irqkit_core::{CpuId, HardIrq, IrqError, IrqSystem};

use crate::controller::{masked, output_to_vector, ControllerEntry};

use crate::shared::Shared;

/// The hosted vector through which a local APIC's interrupt output reaches its CPU.
pub const APIC_INPUT_VECTOR: u8 = 0x31;

/// IO-APIC pin trigger: edge, active high (Linux's `IRQ_TYPE_EDGE_RISING`).
pub const PIN_EDGE: u32 = 1;
/// IO-APIC pin trigger: level, active high.
pub const PIN_LEVEL: u32 = 4;

/// The machine's x86 interrupt system.
pub struct HostX86 {
    lapics: Arc<LapicSet>,
    ioapic: Arc<IoApic>,
    irq: X86Irq<ModelX86Ports>,
}

impl HostX86 {
    pub(crate) fn attach(
        sys: &Arc<IrqSystem>,
        shared: &Arc<Shared>,
    ) -> Result<Arc<Self>, IrqError> {
        let n = sys.nr_cpus() as u32;
        let lapics = Arc::new(LapicSet::new(n)?);
        for cpu in 0..n {
            LapicDriver::setup(&lapics.mmio_view(cpu));
        }
        let ioapic = IoApic::new(0, 24, lapics.clone())?;
        let ports = ModelX86Ports {
            lapics: lapics.clone(),
            ioapic: ioapic.clone(),
            platform: sys.platform_arc(),
        };
        let irq = X86Irq::new(sys, ports)?;
        let x86 = Arc::new(HostX86 { lapics, ioapic, irq });
        x86.lapics.set_notifier(output_to_vector(sys, shared, APIC_INPUT_VECTOR));
        Ok(x86)
    }

    /// Maps IO-APIC `pin` with trigger `PIN_EDGE` or `PIN_LEVEL`; returns the irq.
    pub fn map_pin(&self, sys: &IrqSystem, pin: u32, trigger: u32) -> Result<u32, IrqError> {
        self.irq.map_pin(sys, &[pin, trigger])
    }

    /// A device drives IO-APIC `pin`.
    pub fn set_pin(&self, pin: u32, level: bool) -> Result<(), IrqError> {
        masked(|| self.ioapic.set_line(pin, level))
    }

    /// Allocates `nvec` PCI MSI vectors for requester ID `rid`; returns the first irq.
    pub fn msi_alloc(&self, sys: &IrqSystem, rid: u32, nvec: u32) -> Result<u32, IrqError> {
        self.irq.msi_alloc(sys, rid, nvec)
    }

    /// The device's MSI write for `virq`: the message goes to the LAPIC it names.
    pub fn msi_write(&self, sys: &IrqSystem, virq: u32) -> Result<(), IrqError> {
        masked(|| {
            let msg = self.irq.msi_msg(sys, virq)?;
            self.lapics.deliver_msi(&msg).map(|_| ())
        })
    }
}

impl ControllerEntry for HostX86 {
    fn entry(&self, sys: &IrqSystem, hard: &HardIrq) {
        let _ = self.irq.handle_irq(sys, hard);
    }
    fn asserted(&self, cpu: CpuId) -> bool {
        self.lapics.irq_asserted(cpu.0)
    }
}
