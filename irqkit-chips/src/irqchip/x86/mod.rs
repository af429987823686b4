//! x86 interrupt domains: the vector domain (root), an IO-APIC domain and a PCI-MSI
//! domain on top of it, and the `common_interrupt` entry (Linux
//! arch/x86/kernel/apic/vector.c, io_apic.c, msi.c; arch/x86/kernel/irq.c).
//!
//! The vector domain gives every irq a (CPU, vector) from the [`VectorMatrix`] and
//! installs it in that CPU's vector table. The IO-APIC level programs the pin's
//! redirection entry at activation (edge flow for edge pins, fasteoi with
//! `ioapic_ack_level` for level pins); the PCI-MSI level composes the message from the
//! vector and the target APIC ID, and moves an MSI the device cannot mask only from its
//! old CPU's interrupt, in two steps (`msi_affinity.rs`). Differences from Linux: the old vector of a moved
//! irq is cleaned up by the new CPU right after the first interrupt arrives there
//! (Linux defers it to a timer on the old CPU), and APIC ID = CPU number.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use irqkit_core::irq::{IrqData, IrqDomain, RevMap};
use irqkit_core::sync::atomic::AtomicU64;
use irqkit_core::sync::{SpinLock, SpinLockGuard};
use irqkit_core::{CpuMask, IrqError, IrqSystem};

mod cleanup;
mod ioapic;
mod irq;
mod model_ports;
mod move_flag;
mod msi;
mod msi_affinity;
#[cfg(all(test, not(loom)))]
mod tests;
mod vector;

pub use ioapic::{IoApicChip, IoApicDomainOps};
pub use model_ports::ModelX86Ports;
pub use msi::{MsiMasking, PciMsiChip, PciMsiDomainOps};
pub use msi_affinity::{msi_update_kind, MsiMoveStats, MsiUpdate};
pub use vector::{VectorChip, VectorDomainOps};

use crate::irqchip::irqs_off;
use crate::mmio::Mmio;
use crate::trigger::Trigger;
use crate::x86::apic_driver::{IoApicDriver, IpiDest, LapicDriver};
use crate::x86::msi::MsiMessage;
use crate::x86::vector::VectorTable;
use crate::x86::vector_domain::ApicIrq;
use crate::x86::VectorMatrix;
use move_flag::MoveFlags;
use msi::MsiEntry;
use msi_affinity::MsiStatCounters;

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
    /// Whether [`X86Ports::vector_in_irr`] can look at another CPU's APIC. A model can;
    /// a CPU on real hardware sees only its own, so the old vector of a moved irq is
    /// then cleaned up on its old CPU by [`X86Irq::vector_cleanup`].
    fn remote_irr(&self) -> bool {
        true
    }
    /// The APIC ID of CPU `cpu`, which RTEs and MSI messages name. The models number
    /// APICs like CPUs; on hardware the firmware (ACPI MADT) decides.
    fn apic_id(&self, cpu: u32) -> u32 {
        cpu
    }
    /// `pci_write_msi_msg`: gives the device behind `virq` its message, at activation
    /// and after every affinity change (a model device reads it with `msi_msg`).
    fn write_msi_msg(&self, _virq: u32, _msg: &MsiMessage) {}
    /// Sends a fixed IPI with `vector` to CPU `cpu` (`apic_retrigger_irq` re-sends an
    /// interrupt this way). A kernel whose handlers also send IPIs overrides it to keep
    /// the ICR2/ICR pair atomic.
    fn send_vector_ipi(&self, cpu: u32, vector: u8) -> Result<(), IrqError> {
        LapicDriver::send_ipi(&self.apic(), IpiDest::Apic(self.apic_id(cpu)), vector, false)
    }
}

pub(crate) struct X86Shared<P: X86Ports> {
    pub(crate) ports: P,
    pub(crate) matrix: VectorMatrix,
    pub(crate) io: IoApicDriver,
    /// Lock order: `apic` before `tables`. Task-context users mask interrupts first.
    /// Taken through [`X86Shared::lock_apic`]; every change of an irq's
    /// `move_in_progress` goes through [`MoveFlags::track`] under it.
    apic: SpinLock<BTreeMap<u32, ApicIrq>>,
    /// Which irqs have a vector move in progress, readable without `apic`.
    pub(crate) moves: MoveFlags,
    /// How often `apic` was taken (tests check the interrupt path's fast case).
    #[cfg(test)]
    pub(crate) apic_locks: core::sync::atomic::AtomicU32,
    pub(crate) tables: SpinLock<Vec<VectorTable>>,
    pub(crate) pins: SpinLock<BTreeMap<u32, (u32, Trigger)>>,
    pub(crate) msi: SpinLock<BTreeMap<u32, MsiEntry>>,
    pub(crate) msi_stats: MsiStatCounters,
    /// Linux's `ioapic_lock`: IOREGSEL/IOWIN is one index/data pair for every CPU, so
    /// each register access pair (and each read-modify-write) must be atomic.
    pub(crate) io_lock: SpinLock<()>,
    /// Bit `c`: CPU `c` has a moved irq's old vector to clean up (hardware ports).
    pub(crate) cleanup_cpus: AtomicU64,
}

impl<P: X86Ports> X86Shared<P> {
    pub(crate) fn online(&self) -> u64 {
        let n = self.ports.num_cpus().min(64);
        if n == 64 {
            !0
        } else {
            (1u64 << n) - 1
        }
    }

    /// Takes the vector map lock (Linux's `vector_lock`).
    pub(crate) fn lock_apic(&self) -> SpinLockGuard<'_, BTreeMap<u32, ApicIrq>> {
        #[cfg(test)]
        self.apic_locks.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        self.apic.lock()
    }

    pub(crate) fn target(&self, virq: u32) -> Option<(u32, u8)> {
        self.lock_apic().get(&virq).map(|a| (a.cpu, a.vector))
    }

    /// Moves `virq`'s vector to a CPU of `mask`; returns the new target.
    pub(crate) fn move_vector(&self, virq: u32, mask: &CpuMask) -> Result<(u32, u8), IrqError> {
        let bits = mask.iter().filter(|c| c.0 < 64).fold(0u64, |m, c| m | 1 << c.0);
        let mut apic = self.lock_apic();
        let a = apic.get_mut(&virq).ok_or(IrqError::NotFound("irq has no vector"))?;
        let online = self.online();
        self.moves
            .track(a, |a| a.set_affinity(&self.matrix, &mut self.tables.lock(), bits, online))?;
        if let (Some((old, _)), true) = (a.prev, a.cleanup_pending) {
            // A move back before any interrupt: the abandoned vector waits on its CPU.
            self.schedule_cleanup(old);
        }
        Ok((a.cpu, a.vector))
    }

    /// Runs `f` on the IO-APIC's registers under `ioapic_lock`.
    pub(crate) fn with_io<R>(&self, f: impl FnOnce(&P::Io<'_>) -> R) -> R {
        let _g = self.io_lock.lock();
        f(&self.ports.ioapic())
    }

    /// The APIC ID of `cpu` as an xAPIC destination (8 bits).
    pub(crate) fn dest_id(&self, cpu: u32) -> Result<u8, IrqError> {
        u8::try_from(self.ports.apic_id(cpu))
            .map_err(|_| IrqError::InvalidArgument("APIC ID > 255"))
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
        // Nothing else can reach the IO-APIC before the domains exist: no lock yet.
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
            io_lock: SpinLock::new(()),
            cleanup_cpus: AtomicU64::new(0),
            moves: MoveFlags::new(),
            #[cfg(test)]
            apic_locks: core::sync::atomic::AtomicU32::new(0),
            msi_stats: MsiStatCounters::default(),
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

    /// The ports the domains reach the hardware through.
    pub fn ports(&self) -> &P {
        &self.shared.ports
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

    /// Maps IO-APIC `<pin type>` as the parent line of a chained controller and returns
    /// its IO-APIC level, for `chained_irq_enter/exit`.
    pub fn map_chained_parent(
        &self,
        sys: &IrqSystem,
        fwspec: &[u32],
    ) -> Result<(u32, IrqData), IrqError> {
        let virq = self.map_pin(sys, fwspec)?;
        let mut d = IrqData::new(virq);
        d.hwirq = fwspec[0] as u64;
        d.chip = Arc::new(IoApicChip(self.shared.clone()));
        Ok((virq, d))
    }

    /// `pci_alloc_irq_vectors` for requester `rid`: `nvec` maskable MSIs (MSI-X), the
    /// first virq.
    pub fn msi_alloc(&self, sys: &IrqSystem, rid: u32, nvec: u32) -> Result<u32, IrqError> {
        self.msi_alloc_masking(sys, rid, nvec, MsiMasking::Maskable)
    }

    /// [`X86Irq::msi_alloc`] saying whether the device can mask its vectors; a
    /// [`MsiMasking::NoMask`] MSI moves only from its old CPU's interrupt, in two steps.
    pub fn msi_alloc_masking(
        &self,
        sys: &IrqSystem,
        rid: u32,
        nvec: u32,
        masking: MsiMasking,
    ) -> Result<u32, IrqError> {
        if nvec == 0 {
            return Err(IrqError::InvalidArgument("zero MSI vectors"));
        }
        let nomask = (masking == MsiMasking::NoMask) as u32;
        sys.irq_domain_alloc_irqs(&self.msi, nvec, &[rid, nomask])
    }

    /// The message the device behind `virq` writes (follows affinity changes).
    pub fn msi_msg(&self, sys: &IrqSystem, virq: u32) -> Result<MsiMessage, IrqError> {
        let m = irqs_off(sys, || self.shared.msi.lock().get(&virq).map(|e| e.msg));
        m.ok_or(IrqError::NotFound("not a PCI MSI"))
    }

    /// How many MSI affinity changes went which way so far.
    pub fn msi_move_stats(&self) -> MsiMoveStats {
        self.shared.msi_stats.snapshot()
    }

    /// The (CPU, vector) `virq` is assigned.
    pub fn vector_of(&self, sys: &IrqSystem, virq: u32) -> Option<(u32, u8)> {
        irqs_off(sys, || self.shared.target(virq))
    }
}
