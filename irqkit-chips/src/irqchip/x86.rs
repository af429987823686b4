//! x86 interrupt domains: the vector domain (root), an IO-APIC domain and a PCI-MSI
//! domain on top of it, and the `common_interrupt` entry (Linux
//! arch/x86/kernel/apic/vector.c, io_apic.c, msi.c; arch/x86/kernel/irq.c).
//!
//! The vector domain gives every irq a (CPU, vector) from the [`VectorMatrix`] and
//! installs it in that CPU's vector table. The IO-APIC level programs the pin's
//! redirection entry at activation (edge flow for edge pins, fasteoi with
//! `ioapic_ack_level` for level pins); the PCI-MSI level composes the message from the
//! vector and the target APIC ID. Differences from Linux: the old vector of a moved
//! irq is cleaned up by the new CPU right after the first interrupt arrives there
//! (Linux defers it to a timer on the old CPU), and APIC ID = CPU number.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use irqkit_core::irq::{
    ChipCallbacks, DomainOps, FlowHandler, IrqChip, IrqData, IrqDomain, RevMap, SetResult,
    Trigger as CoreTrigger,
};
use irqkit_core::sync::SpinLock;
use irqkit_core::{CpuId, CpuMask, HardIrq, IrqError, IrqSystem, Platform};

use super::driver_trigger;
use crate::mmio::{CpuView, Mmio};
use crate::trigger::Trigger;
use crate::x86::apic_driver::{IoApicDriver, LapicDriver};
use crate::x86::ioapic::{IoApic, IoApicFrame};
use crate::x86::lapic_regs::LapicFrame;
use crate::x86::msi::MsiMessage;
use crate::x86::vector::{VectorSlot, VectorTable};
use crate::x86::vector_domain::ApicIrq;
use crate::x86::{LapicSet, VectorMatrix};

/// How the glue reaches the calling CPU's local APIC and the IO-APIC.
pub trait X86Ports: Send + Sync + 'static {
    /// The calling CPU's local APIC.
    type Apic<'a>: Mmio
    where
        Self: 'a;
    /// The IO-APIC.
    type Io<'a>: Mmio
    where
        Self: 'a;
    /// The calling CPU (= its APIC ID).
    fn this_cpu(&self) -> u32;
    /// Number of CPUs.
    fn num_cpus(&self) -> u32;
    /// The calling CPU's local APIC.
    fn apic(&self) -> Self::Apic<'_>;
    /// The IO-APIC.
    fn ioapic(&self) -> Self::Io<'_>;
    /// The CPU taking the interrupt: the vector its local APIC delivers (on hardware
    /// the IDT entry that was entered), `None` if nothing is deliverable.
    fn acknowledge(&self) -> Option<u8>;
    /// Whether `vector` is still requested in `cpu`'s IRR (vector cleanup check).
    fn vector_in_irr(&self, cpu: u32, vector: u8) -> bool;
}

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

struct X86Shared<P: X86Ports> {
    ports: P,
    matrix: VectorMatrix,
    io: IoApicDriver,
    /// Lock order: `apic` before `tables`. Task-context users mask interrupts first.
    apic: SpinLock<BTreeMap<u32, ApicIrq>>,
    tables: SpinLock<Vec<VectorTable>>,
    pins: SpinLock<BTreeMap<u32, (u32, Trigger)>>,
    msi: SpinLock<BTreeMap<u32, MsiMessage>>,
}

impl<P: X86Ports> X86Shared<P> {
    fn online(&self) -> u64 {
        let n = self.ports.num_cpus().min(64);
        if n == 64 {
            !0
        } else {
            (1u64 << n) - 1
        }
    }

    fn target(&self, virq: u32) -> Option<(u32, u8)> {
        self.apic.lock().get(&virq).map(|a| (a.cpu, a.vector))
    }

    /// Moves `virq`'s vector to a CPU of `mask`; returns the new target.
    fn move_vector(&self, virq: u32, mask: &CpuMask) -> Result<(u32, u8), IrqError> {
        let bits = mask.iter().filter(|c| c.0 < 64).fold(0u64, |m, c| m | 1 << c.0);
        let mut apic = self.apic.lock();
        let a = apic.get_mut(&virq).ok_or(IrqError::NotFound("irq has no vector"))?;
        a.set_affinity(&self.matrix, &mut self.tables.lock(), bits, self.online())?;
        Ok((a.cpu, a.vector))
    }
}

fn irqs_off<R>(sys: &IrqSystem, f: impl FnOnce() -> R) -> R {
    let flags = sys.local_irq_save();
    let r = f();
    sys.local_irq_restore(flags);
    r
}

/// `lapic_controller`: the vector level ("APIC"): ack = local APIC EOI, affinity = a
/// new vector on another CPU.
pub struct VectorChip<P: X86Ports>(Arc<X86Shared<P>>);

impl<P: X86Ports> IrqChip for VectorChip<P> {
    fn name(&self) -> &str {
        LapicDriver::CHIP_NAME
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::ACK | ChipCallbacks::SET_AFFINITY
    }
    fn ack(&self, _d: &IrqData) {
        LapicDriver::eoi(&self.0.ports.apic());
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let (cpu, _) = self.0.move_vector(d.irq, mask)?;
        Ok((SetResult::Done, CpuMask::single(CpuId(cpu))))
    }
}

/// `x86_vector_domain_ops`: hwirq = virq; one vector per irq on the default CPUs.
pub struct VectorDomainOps<P: X86Ports>(Arc<X86Shared<P>>);

impl<P: X86Ports> DomainOps for VectorDomainOps<P> {
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        _arg: &[u32],
    ) -> Result<(), IrqError> {
        let s = &self.0;
        for v in virq..virq + nr {
            let r = irqs_off(sys, || {
                let mut apic = s.apic.lock();
                let a = ApicIrq::assign(&s.matrix, &mut s.tables.lock(), v, !0, s.online())?;
                apic.insert(v, a);
                Ok(())
            });
            let r = r.and_then(|()| {
                let chip = Arc::new(VectorChip(s.clone()));
                sys.irq_domain_set_info(domain, v, v as u64, chip, None, FlowHandler::Edge, None)
            });
            if let Err(e) = r {
                self.free(sys, domain, virq, v + 1 - virq);
                return Err(e);
            }
        }
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, _domain: &IrqDomain, virq: u32, nr: u32) {
        let s = &self.0;
        irqs_off(sys, || {
            let mut apic = s.apic.lock();
            for v in virq..virq.saturating_add(nr) {
                if let Some(a) = apic.remove(&v) {
                    a.free(&s.matrix, &mut s.tables.lock());
                }
            }
        });
    }
}

/// `ioapic_chip`: the IO-APIC level ("IO-APIC").
pub struct IoApicChip<P: X86Ports>(Arc<X86Shared<P>>);

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
        let _ = self.0.io.mask(&self.0.ports.ioapic(), d.hwirq as u32);
    }
    fn unmask(&self, d: &IrqData) {
        let _ = self.0.io.unmask(&self.0.ports.ioapic(), d.hwirq as u32);
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
        let _ = self.0.io.ack_level(&p.ioapic(), &p.apic(), d.hwirq as u32, vector);
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let (cpu, vector) = self.0.move_vector(d.irq, mask)?;
        // ioapic_configure_entry: new vector and destination in the RTE.
        let (io, pin) = (self.0.ports.ioapic(), d.hwirq as u32);
        let rte = self.0.io.read_rte(&io, pin)?;
        let rte = (rte & !(0xFF | 0xFF << 56)) | vector as u64 | (cpu as u64) << 56;
        self.0.io.write_rte(&io, pin, rte)?;
        Ok((SetResult::Done, CpuMask::single(CpuId(cpu))))
    }
}

/// `ioapic_domain_ops`: `<pin type>` specifiers (GSI pins of this IO-APIC).
pub struct IoApicDomainOps<P: X86Ports>(Arc<X86Shared<P>>);

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
        let dest = u8::try_from(cpu).map_err(|_| IrqError::InvalidArgument("APIC ID > 255"))?;
        s.io.setup_pin(&s.ports.ioapic(), pin, vector, dest, t)
    }
    fn deactivate(&self, _domain: &IrqDomain, d: &IrqData) {
        let _ = self.0.io.mask(&self.0.ports.ioapic(), d.hwirq as u32);
    }
}

/// `pci_msi_controller` on the vector domain ("PCI-MSI"): edge flow, ack at the APIC.
pub struct PciMsiChip<P: X86Ports>(Arc<X86Shared<P>>);

impl<P: X86Ports> IrqChip for PciMsiChip<P> {
    fn name(&self) -> &str {
        "PCI-MSI"
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::ACK | ChipCallbacks::SET_AFFINITY
    }
    fn ack(&self, d: &IrqData) {
        if let Some(p) = d.parent() {
            p.chip.ack(p);
        }
    }
    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let p = d.parent().ok_or(IrqError::NotFound("MSI level without a parent"))?;
        let r = p.chip.set_affinity(p, mask, force)?;
        // msi_domain_set_affinity: recompose and "write" the message for the device.
        let (cpu, vector) = self.0.target(d.irq).ok_or(IrqError::NotFound("irq has no vector"))?;
        self.0.msi.lock().insert(d.irq, MsiMessage::compose(cpu, vector, false)?);
        Ok(r)
    }
}

/// The PCI-MSI domain's ops: arg is `[PCI requester ID]`.
pub struct PciMsiDomainOps<P: X86Ports>(Arc<X86Shared<P>>);

impl<P: X86Ports> DomainOps for PciMsiDomainOps<P> {
    fn alloc(
        &self,
        sys: &IrqSystem,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        let rid =
            *arg.first().ok_or(IrqError::InvalidArgument("MSI alloc needs a requester ID"))?;
        sys.irq_domain_alloc_irqs_parent(domain, virq, nr, arg)?;
        for i in 0..nr {
            let v = virq + i;
            let r = (|| {
                let (cpu, vector) = self.0.target(v).ok_or(IrqError::NotFound("no vector"))?;
                let msg = MsiMessage::compose(cpu, vector, false)?;
                irqs_off(sys, || self.0.msi.lock().insert(v, msg));
                let hwirq = (rid as u64) << 11 | i as u64;
                let chip = Arc::new(PciMsiChip(self.0.clone()));
                sys.irq_domain_set_info(
                    domain,
                    v,
                    hwirq,
                    chip,
                    None,
                    FlowHandler::Edge,
                    Some("edge"),
                )
            })();
            if let Err(e) = r {
                self.free(sys, domain, virq, nr);
                return Err(e);
            }
        }
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, domain: &IrqDomain, virq: u32, nr: u32) {
        irqs_off(sys, || {
            let mut m = self.0.msi.lock();
            for v in virq..virq.saturating_add(nr) {
                m.remove(&v);
            }
        });
        sys.irq_domain_free_irqs_parent(domain, virq, nr);
    }
}

/// The x86 interrupt domains of one machine and its `common_interrupt` entry.
pub struct X86Irq<P: X86Ports> {
    shared: Arc<X86Shared<P>>,
    vector: Arc<IrqDomain>,
    ioapic: Arc<IrqDomain>,
    msi: Arc<IrqDomain>,
}

impl<P: X86Ports> X86Irq<P> {
    /// Probes the IO-APIC (all pins masked), brings every CPU's vector map online and
    /// creates the "VECTOR", "IO-APIC" and "PCI-MSI" domains.
    pub fn new(sys: &IrqSystem, ports: P) -> Result<Self, IrqError> {
        let n = ports.num_cpus();
        let matrix = VectorMatrix::new(n)?;
        for cpu in 0..n {
            matrix.online(cpu)?;
        }
        let io = IoApicDriver::probe(&ports.ioapic());
        let pins = io.pins();
        let shared = Arc::new(X86Shared {
            ports,
            matrix,
            io,
            apic: SpinLock::new(BTreeMap::new()),
            tables: SpinLock::new((0..n).map(|_| VectorTable::new()).collect()),
            pins: SpinLock::new(BTreeMap::new()),
            msi: SpinLock::new(BTreeMap::new()),
        });
        let ops = Arc::new(VectorDomainOps(shared.clone()));
        let vector = sys.irq_domain_create("VECTOR", RevMap::Tree, ops, None, None)?;
        let ops = Arc::new(IoApicDomainOps(shared.clone()));
        let ioapic = sys.irq_domain_create(
            "IO-APIC",
            RevMap::Linear(pins),
            ops,
            Some(vector.clone()),
            None,
        )?;
        let ops = Arc::new(PciMsiDomainOps(shared.clone()));
        let msi =
            sys.irq_domain_create("PCI-MSI", RevMap::Tree, ops, Some(vector.clone()), None)?;
        Ok(X86Irq { shared, vector, ioapic, msi })
    }

    /// The root vector domain.
    pub fn vector_domain(&self) -> &Arc<IrqDomain> {
        &self.vector
    }

    /// The IO-APIC domain.
    pub fn ioapic_domain(&self) -> &Arc<IrqDomain> {
        &self.ioapic
    }

    /// The PCI-MSI domain.
    pub fn msi_domain(&self) -> &Arc<IrqDomain> {
        &self.msi
    }

    /// Maps IO-APIC `<pin type>` (`mp_map_pin_to_irq`).
    pub fn map_pin(&self, sys: &IrqSystem, fwspec: &[u32]) -> Result<u32, IrqError> {
        sys.irq_create_fwspec_mapping(&self.ioapic, fwspec)
    }

    /// `pci_alloc_irq_vectors` for requester `rid`: `nvec` MSIs, the first virq.
    pub fn msi_alloc(&self, sys: &IrqSystem, rid: u32, nvec: u32) -> Result<u32, IrqError> {
        if nvec == 0 {
            return Err(IrqError::InvalidArgument("zero MSI vectors"));
        }
        sys.irq_domain_alloc_irqs(&self.msi, nvec, &[rid])
    }

    /// The message the device behind `virq` writes (follows affinity changes).
    pub fn msi_msg(&self, virq: u32) -> Result<MsiMessage, IrqError> {
        self.shared.msi.lock().get(&virq).copied().ok_or(IrqError::NotFound("not a PCI MSI"))
    }

    /// The (CPU, vector) `virq` is assigned.
    pub fn vector_of(&self, virq: u32) -> Option<(u32, u8)> {
        self.shared.target(virq)
    }

    /// `common_interrupt` on the calling CPU: take the delivered vector, look it up in
    /// this CPU's vector table and run the irq's flow handler (which EOIs). Returns the
    /// vector, `None` if nothing was deliverable. An unassigned vector is EOIed here
    /// and reported ("No irq handler for vector").
    pub fn handle_irq(&self, sys: &IrqSystem, ctx: &HardIrq) -> Result<Option<u8>, IrqError> {
        let s = &self.shared;
        let Some(vector) = s.ports.acknowledge() else { return Ok(None) };
        let cpu = s.ports.this_cpu();
        let slot = s.tables.lock().get_mut(cpu as usize).map(|t| t.lookup(vector));
        let Some(VectorSlot::Irq(virq)) = slot else {
            LapicDriver::eoi(&s.ports.apic());
            return Err(IrqError::NotFound("No irq handler for vector"));
        };
        sys.generic_handle_irq(virq, ctx)?;
        self.complete_move(virq, cpu);
        Ok(Some(vector))
    }

    /// `irq_complete_move` + vector cleanup once the first interrupt hit the new CPU.
    fn complete_move(&self, virq: u32, cpu: u32) {
        let s = &self.shared;
        let mut apic = s.apic.lock();
        let Some(a) = apic.get_mut(&virq) else { return };
        a.complete_move(cpu);
        if a.move_in_progress() && a.cleanup_pending {
            let in_irr = a.prev.is_some_and(|(c, v)| s.ports.vector_in_irr(c, v));
            // Busy: still pending in the old APIC; the next interrupt retries.
            let _ = a.cleanup(&s.matrix, &mut s.tables.lock(), in_irr);
        }
    }
}
