//! One delegating [`X86Ports`] over the LAPIC/IO-APIC models for the x86 glue tests,
//! with the two things tests vary: whether a CPU can read other CPUs' IRRs, and what a
//! device does with the MSI message it is given.

use irqkit_chips::irqchip::x86::{ModelX86Ports, X86Ports};
use irqkit_chips::x86::msi::MsiMessage;

/// What a test adds to the model ports.
pub trait PortHooks: Send + Sync + 'static {
    /// Hardware-like: a CPU sees only its own APIC's IRR (`remote_irr() == false`), and
    /// reading another CPU's fails the test.
    const LOCAL_IRR_ONLY: bool = false;
    /// `pci_write_msi_msg` for `virq`; `model` lets a device deliver to the LAPICs.
    fn write_msi_msg(&self, _model: &ModelX86Ports, _virq: u32, _msg: &MsiMessage) {}
}

/// The model ports with a test's [`PortHooks`].
pub struct HookedPorts<H: PortHooks> {
    /// The LAPIC and IO-APIC models.
    pub model: ModelX86Ports,
    /// The test's hooks.
    pub hooks: H,
}

impl<H: PortHooks> X86Ports for HookedPorts<H> {
    type Apic<'a> = <ModelX86Ports as X86Ports>::Apic<'a>;
    type Io<'a> = <ModelX86Ports as X86Ports>::Io<'a>;
    fn this_cpu(&self) -> u32 {
        self.model.this_cpu()
    }
    fn num_cpus(&self) -> u32 {
        self.model.num_cpus()
    }
    fn apic(&self) -> Self::Apic<'_> {
        self.model.apic()
    }
    fn ioapic(&self) -> Self::Io<'_> {
        self.model.ioapic()
    }
    fn acknowledge(&self) -> Option<u8> {
        self.model.acknowledge()
    }
    fn vector_in_irr(&self, cpu: u32, vector: u8) -> bool {
        if H::LOCAL_IRR_ONLY {
            assert_eq!(cpu, self.this_cpu(), "a CPU can read only its own IRR");
        }
        self.model.vector_in_irr(cpu, vector)
    }
    fn remote_irr(&self) -> bool {
        !H::LOCAL_IRR_ONLY
    }
    fn write_msi_msg(&self, virq: u32, msg: &MsiMessage) {
        self.hooks.write_msi_msg(&self.model, virq, msg);
    }
}
