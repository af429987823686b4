//! GICv3 model: distributor with affinity routing, one redistributor per CPU, the
//! ICC_* system-register CPU interface, LPIs in model memory and an optional ITS.
//!
//! # Model
//! Single security state (GICD_CTLR.DS = 1, ARE always on): group 0 signals FIQ, group 1
//! IRQ. CPU `n` has affinity Aff0 = n % 16, Aff1 = n / 16 (Aff2 = Aff3 = 0), so one
//! ICC_SGI1R target list covers a cluster of 16 CPUs, as Linux expects.
//!
//! # Locking
//! One spinlock guards distributor, redistributors and CPU interfaces; the ITS has its
//! own, always taken *before* the core lock. Notifiers run after both are dropped.

use alloc::sync::Arc;
use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::core::{GicCore, GroupSel};
use super::its::Its;
use super::lpi::LpiState;
use super::memory::ModelMemory;
use super::state::FIRST_SPI;
use crate::mmio::CpuView;
use crate::signal::{notify, CpuLines, LineNotifier};

/// Most CPUs the model supports (CPU sets are 64-bit masks).
pub const GICV3_MAX_CPUS: u32 = 64;

/// Shape of a GICv3 model.
#[derive(Clone, Copy, Debug)]
pub struct GicV3Config {
    /// INTIDs below 1020 (SGI+PPI+SPI), a multiple of 32 up to 1024.
    pub num_irqs: u32,
    /// Number of CPUs / redistributors (1–64).
    pub num_cpus: u32,
    /// Implemented priority bits (4–7).
    pub priority_bits: u8,
    /// LPI INTID bits (14–20), or `None` for no LPI support.
    pub lpi_id_bits: Option<u8>,
    /// Whether an ITS is present (needs LPIs).
    pub its: bool,
    /// ITS DeviceID bits (1–20).
    pub its_device_bits: u8,
}

impl Default for GicV3Config {
    fn default() -> Self {
        GicV3Config {
            num_irqs: 256,
            num_cpus: 4,
            priority_bits: 5,
            lpi_id_bits: Some(16),
            its: true,
            its_device_bits: 16,
        }
    }
}

pub(crate) struct Redist {
    pub sleep: bool,
}

pub(crate) struct V3Inner {
    pub core: GicCore,
    pub notifier: Option<LineNotifier>,
    pub rd: Vec<Redist>,
    /// GICD_IROUTER per INTID (only SPIs used).
    pub irouter: Vec<u64>,
}

/// A GICv3 (distributor + redistributors + CPU interfaces + optional ITS).
pub struct GicV3 {
    pub(crate) inner: SpinLock<V3Inner>,
    pub(crate) its: Option<Its>,
    pub(crate) mem: Arc<ModelMemory>,
}

/// Affinity value (Aff3.Aff2.Aff1.Aff0 packed as in IROUTER) of CPU `cpu`.
pub fn cpu_affinity(cpu: u32) -> u64 {
    ((cpu / 16) as u64) << 8 | (cpu % 16) as u64
}

/// CPU number of an affinity value packed as in IROUTER, if the model has such a CPU.
pub fn affinity_cpu(aff: u64, num_cpus: u32) -> Option<u32> {
    let aff0 = aff & 0xFF;
    let aff1 = (aff >> 8) & 0xFF;
    if aff0 >= 16 || aff & 0xFF00_00FF_0000 != 0 {
        return None;
    }
    let cpu = (aff1 * 16 + aff0) as u32;
    (cpu < num_cpus).then_some(cpu)
}

impl GicV3 {
    /// Builds a GICv3 from `cfg`, reading LPI tables and ITS commands from `mem`.
    pub fn new(cfg: GicV3Config, mem: Arc<ModelMemory>) -> Result<Self, IrqError> {
        if !(32..=1024).contains(&cfg.num_irqs) || !cfg.num_irqs.is_multiple_of(32) {
            return Err(IrqError::InvalidArgument("GICv3 num_irqs"));
        }
        if cfg.num_cpus == 0 || cfg.num_cpus > GICV3_MAX_CPUS {
            return Err(IrqError::InvalidArgument("GICv3 num_cpus"));
        }
        if !(4..=7).contains(&cfg.priority_bits) {
            return Err(IrqError::InvalidArgument("GIC priority bits"));
        }
        if cfg.lpi_id_bits.is_some_and(|b| !(14..=20).contains(&b)) {
            return Err(IrqError::InvalidArgument("GICv3 LPI id bits"));
        }
        if cfg.its && (cfg.lpi_id_bits.is_none() || !(1..=20).contains(&cfg.its_device_bits)) {
            return Err(IrqError::InvalidArgument("ITS needs LPIs and 1-20 device bits"));
        }
        let mut core = GicCore::new(true, cfg.num_irqs, cfg.num_cpus, cfg.priority_bits);
        core.lpi = cfg.lpi_id_bits.map(|b| LpiState::new(b, cfg.num_cpus));
        let its = match cfg.lpi_id_bits {
            Some(b) if cfg.its => Some(Its::new(cfg.its_device_bits, b, cfg.num_cpus)),
            _ => None,
        };
        let rd = (0..cfg.num_cpus).map(|_| Redist { sleep: true }).collect();
        let irouter = alloc::vec![0; cfg.num_irqs as usize];
        let inner = V3Inner { core, notifier: None, rd, irouter };
        let gic = GicV3 { inner: SpinLock::new(inner), its, mem };
        // IROUTER resets to CPU 0 (affinity 0.0.0.0).
        gic.with(|i| {
            for id in FIRST_SPI..i.core.ids.num_irqs {
                i.core.ids.targets[id as usize] = 1;
            }
        });
        Ok(gic)
    }

    /// The memory the model reads its tables from.
    pub fn memory(&self) -> &Arc<ModelMemory> {
        &self.mem
    }

    /// Number of CPUs.
    pub fn num_cpus(&self) -> u32 {
        self.inner.lock().core.num_cpus
    }

    /// Registers the notifier told about every change of a CPU's IRQ/FIQ outputs.
    pub fn set_notifier(&self, n: LineNotifier) {
        self.inner.lock().notifier = Some(n);
    }

    /// Runs `f` on the state, recomputes outputs and notifies after unlocking.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut V3Inner) -> R) -> R {
        let (r, changed, n) = {
            let mut g = self.inner.lock();
            let r = f(&mut g);
            let changed = g.core.update();
            let n = if changed.0 != 0 { g.notifier.clone() } else { None };
            (r, changed, n)
        };
        notify(n.as_ref(), changed, |c| self.cpu_lines(c));
        r
    }

    /// Drives the input line of SPI `intid`.
    pub fn set_line(&self, intid: u32, level: bool) -> Result<(), IrqError> {
        self.with(|i| {
            if intid < FIRST_SPI || !i.core.ids.valid(intid) {
                return Err(IrqError::InvalidArgument("not an implemented SPI"));
            }
            i.core.ids.set_line(0, intid, level);
            i.core.mark_intid(0, intid);
            Ok(())
        })
    }

    /// Drives CPU `cpu`'s input line of PPI `intid` (16–31).
    pub fn set_ppi_line(&self, cpu: u32, intid: u32, level: bool) -> Result<(), IrqError> {
        self.with(|i| {
            if !(16..32).contains(&intid) {
                return Err(IrqError::InvalidArgument("not a PPI"));
            }
            if cpu >= i.core.num_cpus {
                return Err(IrqError::CpuOffline(cpu));
            }
            i.core.ids.set_line(cpu, intid, level);
            i.core.mark_intid(cpu, intid);
            Ok(())
        })
    }

    /// The IRQ/FIQ outputs towards `cpu`.
    pub fn cpu_lines(&self, cpu: u32) -> CpuLines {
        let g = self.inner.lock();
        g.core.cpus.get(cpu as usize).map(|c| c.lines).unwrap_or_default()
    }

    /// Whether every CPU's cached outputs equal a fresh computation (a test invariant
    /// for the incremental update).
    pub fn lines_consistent(&self) -> bool {
        self.inner.lock().core.lines_consistent()
    }

    /// Whether `cpu`'s IRQ input is asserted.
    pub fn irq_asserted(&self, cpu: u32) -> bool {
        self.cpu_lines(cpu).irq
    }

    /// ICC_IAR1_EL1 read on `cpu`.
    pub fn iar1(&self, cpu: u32) -> u32 {
        self.with(
            |i| if cpu < i.core.num_cpus { i.core.acknowledge(cpu, GroupSel::G1) } else { 1023 },
        )
    }

    /// ICC_EOIR1_EL1 write on `cpu`.
    pub fn eoir1(&self, cpu: u32, intid: u32) {
        self.with(|i| i.core.end_of_interrupt(cpu, intid, GroupSel::G1))
    }

    /// ICC_DIR_EL1 write on `cpu`.
    pub fn dir(&self, cpu: u32, intid: u32) {
        self.with(|i| i.core.deactivate_interrupt(cpu, intid))
    }

    /// Whether LPI `intid` is pending on redistributor `cpu` (for tests and tracing).
    pub fn lpi_pending(&self, cpu: u32, intid: u32) -> bool {
        let g = self.inner.lock();
        let Some(l) = g.core.lpi.as_ref() else { return false };
        match (l.index(intid), l.rd.get(cpu as usize)) {
            (Some(i), Some(rd)) => rd.is_pending(i),
            _ => false,
        }
    }

    /// The distributor frame (64 KiB).
    pub fn dist_view(&self, cpu: u32) -> CpuView<V3Dist<'_>> {
        CpuView::new(V3Dist(self), cpu)
    }

    /// The redistributor frames: CPU `n`'s RD_base at `n * 0x20000`, SGI_base 64 KiB above.
    pub fn redist_view(&self, cpu: u32) -> CpuView<V3Redist<'_>> {
        CpuView::new(V3Redist(self), cpu)
    }
}

/// The GICv3 distributor register frame.
#[derive(Clone, Copy)]
pub struct V3Dist<'a>(pub(crate) &'a GicV3);

/// All redistributor frames, laid out contiguously with a 128 KiB stride.
#[derive(Clone, Copy)]
pub struct V3Redist<'a>(pub(crate) &'a GicV3);
