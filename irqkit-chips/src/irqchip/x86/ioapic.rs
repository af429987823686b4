//! The IO-APIC domain level (arch/x86/kernel/apic/io_apic.c `ioapic_chip`,
//! `mp_irqdomain_ops`).

use alloc::sync::Arc;

use irqkit_core::irq::{
    ChipCallbacks, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, SetResult,
    Trigger as CoreTrigger,
};
use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem};

use super::{X86Irq, X86Ports, X86Shared};
use crate::irqchip::driver_trigger;
use crate::irqchip::irqs_off;
use crate::trigger::Trigger;
use crate::x86::apic_driver::{IoApicDriver, LapicDriver};

/// `ioapic_chip`: the IO-APIC level ("IO-APIC").
pub struct IoApicChip<P: X86Ports>(pub(super) Arc<X86Shared<P>>);

impl<P: X86Ports> IrqChip for IoApicChip<P> {
    fn name(&self) -> &str {
        IoApicDriver::CHIP_NAME
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK
            | ChipCallbacks::UNMASK
            | ChipCallbacks::ACK
            | ChipCallbacks::EOI
            | ChipCallbacks::SET_AFFINITY
    }
    fn mask(&self, d: &IrqData) {
        // Fails only for a pin beyond the IO-APIC, which the domain never maps.
        let _ = self.0.with_io(|io| self.0.io.mask(io, d.hwirq as u32));
    }
    fn unmask(&self, d: &IrqData) {
        let _ = self.0.with_io(|io| self.0.io.unmask(io, d.hwirq as u32));
    }
    fn ack(&self, _d: &IrqData) {
        // apic_ack_edge: edge pins need only the local APIC EOI.
        LapicDriver::eoi(&self.0.ports.apic());
    }
    fn eoi(&self, d: &IrqData) {
        // ioapic_ack_level: local APIC EOI (which clears remote IRR through the EOI
        // broadcast), or an explicit IO-APIC EOI if the vector arrived as edge.
        let Some((_, vector)) = self.0.target(d.irq) else { return };
        let p = &self.0.ports;
        let _ = self.0.with_io(|io| self.0.io.ack_level(io, &p.apic(), d.hwirq as u32, vector));
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let (cpu, vector) = self.0.move_vector(d.irq, mask)?;
        let dest = self.0.dest_id(cpu)?;
        // ioapic_configure_entry: new vector and destination in the RTE, the low word
        // (vector) last so the entry never names the new vector on the old CPU.
        let pin = d.hwirq as u32;
        self.0.with_io(|io| {
            let rte = self.0.io.read_rte(io, pin)?;
            let rte = (rte & !(0xFF | 0xFF << 56)) | vector as u64 | (dest as u64) << 56;
            self.0.io.write_rte(io, pin, rte)
        })?;
        Ok((SetResult::Done, CpuMask::single(CpuId(cpu))))
    }
}

/// `ioapic_domain_ops`: `<pin type>` specifiers (GSI pins of this IO-APIC).
pub struct IoApicDomainOps<P: X86Ports>(pub(super) Arc<X86Shared<P>>);

impl<P: X86Ports> IoApicDomainOps<P> {
    fn translate(&self, fwspec: &[u32]) -> Result<(u32, Trigger), IrqError> {
        let [pin, ty, ..] = *fwspec else {
            return Err(IrqError::InvalidArgument("IO-APIC specifier needs <pin type>"));
        };
        if pin >= self.0.io.pins() {
            return Err(IrqError::InvalidArgument("IO-APIC pin out of range"));
        }
        let t = driver_trigger(CoreTrigger::from_bits_truncate(ty))?;
        if t == Trigger::EdgeBoth {
            return Err(IrqError::InvalidArgument("IO-APIC: no both-edge trigger"));
        }
        Ok((pin, t))
    }
}

impl<P: X86Ports> DomainOps for IoApicDomainOps<P> {
    fn xlate(&self, _domain: &IrqDomain, fwspec: &[u32]) -> Result<(u64, CoreTrigger), IrqError> {
        let (pin, _) = self.translate(fwspec)?;
        Ok((pin as u64, CoreTrigger::from_bits_truncate(fwspec[1]) & CoreTrigger::SENSE_MASK))
    }
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        if nr != 1 {
            return Err(IrqError::InvalidArgument("one IO-APIC pin per allocation"));
        }
        let (pin, t) = self.translate(arg)?;
        sys.irq_domain_alloc_irqs_parent(domain, virq, 1, arg)?;
        let (flow, name) = if t.is_level() {
            (FlowHandler::FastEoi, "fasteoi")
        } else {
            (FlowHandler::Edge, "edge")
        };
        let chip = Arc::new(IoApicChip(self.0.clone()));
        sys.irq_domain_set_info(domain, virq, pin as u64, chip, None, flow, Some(name))?;
        irqs_off(sys, || self.0.pins.lock().insert(virq, (pin, t)));
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, domain: &IrqDomain, virq: u32, nr: u32) {
        irqs_off(sys, || self.0.pins.lock().remove(&virq));
        sys.irq_domain_free_irqs_parent(domain, virq, nr);
    }
    fn activate(&self, _domain: &IrqDomain, d: &IrqData) -> Result<(), IrqError> {
        // The RTE is written masked; unmask at startup enables it.
        let s = &self.0;
        let (pin, t) = *s.pins.lock().get(&d.irq).ok_or(IrqError::NotFound("IO-APIC pin"))?;
        let (cpu, vector) = s.target(d.irq).ok_or(IrqError::NotFound("irq has no vector"))?;
        let dest = s.dest_id(cpu)?;
        s.with_io(|io| s.io.setup_pin(io, pin, vector, dest, t))
    }
    fn deactivate(&self, _domain: &IrqDomain, d: &IrqData) {
        let _ = self.0.with_io(|io| self.0.io.mask(io, d.hwirq as u32));
    }
}

impl<P: X86Ports> X86Irq<P> {
    /// The redirection entry of IO-APIC `pin`, read under `ioapic_lock` (what
    /// `/sys/kernel/debug/irq/irqs/N` shows as the IO-APIC level's state).
    pub fn ioapic_rte(&self, sys: &IrqSystem, pin: u32) -> Result<u64, IrqError> {
        let s = &self.shared;
        irqs_off(sys, || s.with_io(|io| s.io.read_rte(io, pin)))
    }
}
