//! GICv2 model: distributor and per-CPU interfaces behind one lock, with the device-side
//! API (`set_line`) and the CPU-side API (`cpu_lines`, notifier, acknowledge/EOI).
//!
//! # Usage
//! ```
//! use irqkit_chips::gic::GicV2;
//! use irqkit_chips::mmio::Mmio;
//! let gic = GicV2::new(64, 2).unwrap();
//! // Normally the driver does this through the register frames.
//! gic.dist_view(0).write32(0x000, 1);
//! gic.cpuif_view(0).write32(0x004, 0xF0); // PMR
//! gic.cpuif_view(0).write32(0x000, 1);    // EnableGrp0
//! gic.dist_view(0).write32(0x104, 1);     // ISENABLER1: SPI 32
//! gic.dist_view(0).write8(0x800 + 32, 1); // ITARGETSR: CPU 0
//! gic.set_line(32, true).unwrap();
//! assert!(gic.cpu_lines(0).irq);
//! ```
//!
//! # Locking
//! Every call takes the model's spinlock for a few hundred nanoseconds at most; the line
//! notifier runs after the lock is dropped. Callers in interrupt context must not call in
//! while the same thread already holds the lock (the runtime never does).

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::core::{GicCore, GroupSel};
use super::state::FIRST_SPI;
use crate::mmio::CpuView;
use crate::signal::{notify, CpuLines, LineNotifier};

/// Maximum CPU interfaces of a GICv2 (8-bit target masks).
pub const GICV2_MAX_CPUS: u32 = 8;
/// Default implemented priority bits (GIC-400 implements 5: 32 levels).
pub const DEFAULT_PRIORITY_BITS: u8 = 5;

pub(crate) struct V2Inner {
    pub core: GicCore,
    pub notifier: Option<LineNotifier>,
}

/// A GICv2 distributor plus `num_cpus` CPU interfaces.
pub struct GicV2 {
    pub(crate) inner: SpinLock<V2Inner>,
}

impl GicV2 {
    /// A GICv2 with `num_irqs` INTIDs (multiple of 32, 32–1024) and 1–8 CPU interfaces.
    pub fn new(num_irqs: u32, num_cpus: u32) -> Result<Self, IrqError> {
        Self::with_priority_bits(num_irqs, num_cpus, DEFAULT_PRIORITY_BITS)
    }

    /// As [`GicV2::new`] with 4–7 implemented priority bits.
    pub fn with_priority_bits(num_irqs: u32, num_cpus: u32, bits: u8) -> Result<Self, IrqError> {
        if !(32..=1024).contains(&num_irqs) || !num_irqs.is_multiple_of(32) {
            return Err(IrqError::InvalidArgument("GICv2 num_irqs"));
        }
        if num_cpus == 0 || num_cpus > GICV2_MAX_CPUS {
            return Err(IrqError::InvalidArgument("GICv2 num_cpus"));
        }
        if !(4..=7).contains(&bits) {
            return Err(IrqError::InvalidArgument("GIC priority bits"));
        }
        let mut core = GicCore::new(false, num_irqs, num_cpus, bits);
        if num_cpus == 1 {
            // Uniprocessor: ITARGETSR is RAZ/WI and every SPI goes to the only interface.
            core.ids.targets.iter_mut().for_each(|t| *t = 1);
        }
        Ok(GicV2 { inner: SpinLock::new(V2Inner { core, notifier: None }) })
    }

    /// Number of CPU interfaces.
    pub fn num_cpus(&self) -> u32 {
        self.inner.lock().core.num_cpus
    }

    /// Registers the notifier told about every change of a CPU's IRQ/FIQ outputs.
    pub fn set_notifier(&self, n: LineNotifier) {
        self.inner.lock().notifier = Some(n);
    }

    /// Runs `f` on the state, recomputes outputs and notifies after unlocking.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut GicCore) -> R) -> R {
        let (r, changed, n) = {
            let mut g = self.inner.lock();
            let r = f(&mut g.core);
            let changed = g.core.update();
            let n = if changed.0 != 0 { g.notifier.clone() } else { None };
            (r, changed, n)
        };
        notify(n.as_ref(), changed, |c| self.cpu_lines(c));
        r
    }

    /// Drives the input line of SPI `intid` (32..num_irqs).
    pub fn set_line(&self, intid: u32, level: bool) -> Result<(), IrqError> {
        self.with(|c| {
            if intid < FIRST_SPI || !c.ids.valid(intid) {
                return Err(IrqError::InvalidArgument("not an implemented SPI"));
            }
            c.ids.set_line(0, intid, level);
            c.mark_intid(0, intid);
            Ok(())
        })
    }

    /// Drives CPU `cpu`'s private input line of PPI `intid` (16–31).
    pub fn set_ppi_line(&self, cpu: u32, intid: u32, level: bool) -> Result<(), IrqError> {
        self.with(|c| {
            if !(16..32).contains(&intid) {
                return Err(IrqError::InvalidArgument("not a PPI"));
            }
            if cpu >= c.num_cpus {
                return Err(IrqError::CpuOffline(cpu));
            }
            c.ids.set_line(cpu, intid, level);
            c.mark_intid(cpu, intid);
            Ok(())
        })
    }

    /// The IRQ/FIQ outputs towards `cpu` (all low for an unknown CPU).
    pub fn cpu_lines(&self, cpu: u32) -> CpuLines {
        let g = self.inner.lock();
        g.core.cpus.get(cpu as usize).map(|c| c.lines).unwrap_or_default()
    }

    /// Whether every CPU's cached outputs equal a fresh computation (a test invariant
    /// for the incremental update).
    pub fn lines_consistent(&self) -> bool {
        self.inner.lock().core.lines_consistent()
    }

    /// Whether `cpu`'s IRQ input is asserted: the runtime interrupts that CPU when true.
    pub fn irq_asserted(&self, cpu: u32) -> bool {
        self.cpu_lines(cpu).irq
    }

    /// GICC_IAR read by `cpu` (what the arch entry does first).
    pub fn acknowledge(&self, cpu: u32) -> u32 {
        self.with(|c| if cpu < c.num_cpus { c.acknowledge(cpu, GroupSel::Any) } else { 1023 })
    }

    /// GICC_EOIR write of `iar` by `cpu`.
    pub fn end_of_interrupt(&self, cpu: u32, iar: u32) {
        self.with(|c| c.end_of_interrupt(cpu, iar, GroupSel::Any))
    }

    /// GICC_DIR write of `iar` by `cpu`.
    pub fn deactivate(&self, cpu: u32, iar: u32) {
        self.with(|c| c.deactivate_interrupt(cpu, iar))
    }

    /// The distributor frame (GICD), to be bound to a CPU with [`CpuView`].
    pub fn dist(&self) -> V2Dist<'_> {
        V2Dist(self)
    }

    /// The CPU interface frame (GICC), to be bound to a CPU with [`CpuView`].
    pub fn cpuif(&self) -> V2CpuIf<'_> {
        V2CpuIf(self)
    }

    /// The distributor as seen by `cpu`.
    pub fn dist_view(&self, cpu: u32) -> CpuView<V2Dist<'_>> {
        CpuView::new(self.dist(), cpu)
    }

    /// `cpu`'s CPU interface.
    pub fn cpuif_view(&self, cpu: u32) -> CpuView<V2CpuIf<'_>> {
        CpuView::new(self.cpuif(), cpu)
    }
}

/// The GICv2 distributor register frame (4 KiB).
#[derive(Clone, Copy)]
pub struct V2Dist<'a>(pub(crate) &'a GicV2);

/// The GICv2 CPU interface register frame (8 KiB, DIR at 0x1000).
#[derive(Clone, Copy)]
pub struct V2CpuIf<'a>(pub(crate) &'a GicV2);
