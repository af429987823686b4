//! The IO-APIC as an `irqkit_core::irq::IrqChip`, and the per-CPU vector → irq table.
//!
//! Each IO-APIC pin becomes a Linux irq (ISA irq N = pin N, as on a PC); as in Linux,
//! a level entry gets the `fasteoi` flow and an edge entry the `edge` flow.
//! `mask`/`unmask` flip the redirection entry's mask bit, `ack` (edge) and `eoi`
//! (level) are the local APIC EOI (which also clears a level entry's remote IRR by
//! broadcast), and `set_affinity` rewrites the entry's destination.
//!
//! An edge entry *drops* an edge that arrives while it is masked (82093AA datasheet;
//! QEMU does the same), so a ONESHOT line that must stay masked while its thread runs
//! has to be level triggered: QEMU's 16550 and i8042 drive their ISA lines as levels,
//! so COM1 and the keyboard are programmed level, active high. The vector stays the same on every
//! CPU; the target CPU's `vector_irq` slot is filled before the entry points at it, and
//! the old CPU's slot is left in place so an interrupt already in flight there still
//! finds its descriptor (Linux's deferred vector cleanup, without the cleanup IPI).

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::Ordering;

use irqkit_core::cpu::CpuMask;
use irqkit_core::irq::{
    ChipCallbacks, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, RevMap, SetResult,
};
use irqkit_core::{CpuId, IrqError, IrqSystem};

use crate::{ioapic, lapic, percpu};

/// `vector_irq` value of a vector no descriptor owns (Linux's `VECTOR_UNUSED`).
pub const VECTOR_UNUSED: u32 = u32::MAX;

/// Chip data of one IO-APIC pin.
pub struct IoApicLine {
    /// Redirection entry index.
    pub pin: u32,
    /// IDT vector the entry raises.
    pub vector: u8,
}

/// The IO-APIC controller (`ioapic_chip` in Linux).
pub struct IoApicChip;

fn line(d: &IrqData) -> Option<&IoApicLine> {
    d.chip_data.as_ref().and_then(|c| (&**c as &dyn Any).downcast_ref::<IoApicLine>())
}

/// The first online CPU of `mask` (an xAPIC physical destination names one CPU).
pub fn first_online(sys: &IrqSystem, mask: &CpuMask) -> Option<usize> {
    mask.iter()
        .map(|c| c.index())
        .find(|&c| c < sys.nr_cpus() && percpu::area(c).online.load(Ordering::Acquire))
}

/// Points `vector` on `cpu` at `irq`.
pub fn bind_vector(cpu: usize, vector: u8, irq: u32) {
    percpu::area(cpu).vector_irq[vector as usize].store(irq, Ordering::Release);
}

impl IrqChip for IoApicChip {
    fn name(&self) -> &str {
        "IO-APIC"
    }

    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK
            | ChipCallbacks::UNMASK
            | ChipCallbacks::ACK
            | ChipCallbacks::EOI
            | ChipCallbacks::SET_AFFINITY
    }

    fn mask(&self, d: &IrqData) {
        if let Some(l) = line(d) {
            ioapic::set_masked(l.pin, true);
        }
    }

    fn unmask(&self, d: &IrqData) {
        if let Some(l) = line(d) {
            ioapic::set_masked(l.pin, false);
        }
    }

    fn ack(&self, _d: &IrqData) {
        lapic::eoi();
    }

    fn eoi(&self, _d: &IrqData) {
        lapic::eoi();
    }

    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let sys = crate::platform::system();
        let cpu = first_online(sys, mask)
            .ok_or(IrqError::InvalidArgument("affinity mask has no online cpu"))?;
        if let Some(l) = line(d) {
            bind_vector(cpu, l.vector, d.irq);
            ioapic::set_destination(l.pin, percpu::area(cpu).apic_id.load(Ordering::Relaxed));
        }
        Ok((SetResult::Ok, CpuMask::single(CpuId(cpu as u32))))
    }
}

/// The IO-APIC's irq domain (hwirq = pin). Its `map` does nothing: the legacy pins are
/// associated with pre-allocated descriptors (irq = pin), as Linux's legacy IO-APIC
/// domain does, and [`setup_ioapic_irq`] binds chip and flow itself.
struct IoApicDomain;

impl DomainOps for IoApicDomain {}

/// Creates the IO-APIC's linear domain of `nr_pins` pins.
pub fn create_domain(sys: &IrqSystem, nr_pins: u32) -> Result<Arc<IrqDomain>, IrqError> {
    sys.irq_domain_create("IO-APIC", RevMap::Linear(nr_pins), Arc::new(IoApicDomain), None, None)
}

/// Makes IO-APIC `pin` Linux irq `pin` (ISA numbering) in `domain`, raising `vector`
/// on `cpu`, masked until a handler is requested. Returns the irq and its chip data.
pub fn setup_ioapic_irq(
    sys: &IrqSystem,
    domain: &Arc<IrqDomain>,
    pin: u32,
    vector: u8,
    cpu: usize,
    level: bool,
) -> Result<(u32, Arc<IoApicLine>), IrqError> {
    let irq = sys.irq_alloc_descs(pin, 1, true)?;
    let line = Arc::new(IoApicLine { pin, vector });
    let (flow, name) =
        if level { (FlowHandler::FastEoi, "fasteoi") } else { (FlowHandler::Edge, "edge") };
    sys.irq_set_chip_and_handler_name(irq, Arc::new(IoApicChip), flow, name)?;
    sys.irq_set_chip_data(irq, line.clone())?;
    sys.irq_domain_associate(domain, irq, pin as u64)?;
    bind_vector(cpu, vector, irq);
    let apic = percpu::area(cpu).apic_id.load(Ordering::Relaxed);
    ioapic::program(pin, vector, apic, level, true);
    Ok((irq, line))
}
