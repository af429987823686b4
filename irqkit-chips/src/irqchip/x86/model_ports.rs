//! [`X86Ports`] on the LAPIC and IO-APIC models (the hosted machine and the tests).

use alloc::sync::Arc;

use irqkit_core::Platform;

use super::X86Ports;
use crate::mmio::CpuView;
use crate::x86::ioapic::{IoApic, IoApicFrame};
use crate::x86::lapic_regs::LapicFrame;
use crate::x86::LapicSet;

/// [`X86Ports`] on the LAPIC and IO-APIC models.
pub struct ModelX86Ports {
    /// The local APICs.
    pub lapics: Arc<LapicSet>,
    /// The IO-APIC.
    pub ioapic: Arc<IoApic>,
    /// The machine (for `current_cpu`).
    pub platform: Arc<dyn Platform>,
}

impl X86Ports for ModelX86Ports {
    type Apic<'a> = CpuView<LapicFrame<'a>>;
    type Io<'a> = CpuView<IoApicFrame<'a>>;
    fn this_cpu(&self) -> u32 {
        self.platform.current_cpu().map_or(0, |c| c.0)
    }
    fn num_cpus(&self) -> u32 {
        self.lapics.num_cpus()
    }
    fn apic(&self) -> Self::Apic<'_> {
        self.lapics.mmio_view(self.this_cpu())
    }
    fn ioapic(&self) -> Self::Io<'_> {
        self.ioapic.mmio_view()
    }
    fn acknowledge(&self) -> Option<u8> {
        let cpu = self.this_cpu();
        if !self.lapics.irq_asserted(cpu) {
            return None;
        }
        self.lapics.acknowledge(cpu).ok()
    }
    fn vector_in_irr(&self, cpu: u32, vector: u8) -> bool {
        self.lapics.vector_state(cpu, vector).is_some_and(|(irr, _, _)| irr)
    }
}
