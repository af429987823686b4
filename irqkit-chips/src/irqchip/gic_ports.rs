//! How the GIC chips reach "this CPU's" registers: chip callbacks get no CPU argument,
//! so each GIC glue goes through a ports trait; the model implementations ask the
//! platform which CPU is calling (hardware would read MPIDR and bank by itself).

use alloc::sync::Arc;

use irqkit_core::Platform;

use crate::gic::v2::{GicV2, V2CpuIf, V2Dist};
use crate::gic::v3::{GicV3, V3Dist, V3Redist};
use crate::gic::v3_driver::{IccSysRegs, ModelSysRegs};
use crate::mmio::{CpuView, Mmio};

/// How the chip reaches the calling CPU's GIC registers (chip callbacks get no CPU).
pub trait GicV3Ports: Send + Sync + 'static {
    /// The distributor frame.
    type Dist<'a>: Mmio
    where
        Self: 'a;
    /// The redistributor region.
    type Redist<'a>: Mmio
    where
        Self: 'a;
    /// The calling CPU's ICC_* system registers.
    type Icc<'a>: IccSysRegs
    where
        Self: 'a;
    /// The calling CPU's number (MPIDR on hardware).
    fn this_cpu(&self) -> u32;
    /// Number of CPUs with a redistributor.
    fn num_cpus(&self) -> u32;
    /// The distributor as the calling CPU sees it.
    fn dist(&self) -> Self::Dist<'_>;
    /// The redistributors as the calling CPU sees them.
    fn redist(&self) -> Self::Redist<'_>;
    /// The calling CPU's system registers.
    fn icc(&self) -> Self::Icc<'_>;
}

/// [`GicV3Ports`] on a [`GicV3`] model; the platform says which CPU is calling.
pub struct ModelGicV3Ports {
    /// The model.
    pub gic: Arc<GicV3>,
    /// The machine (for `current_cpu`).
    pub platform: Arc<dyn Platform>,
}

impl GicV3Ports for ModelGicV3Ports {
    type Dist<'a> = CpuView<V3Dist<'a>>;
    type Redist<'a> = CpuView<V3Redist<'a>>;
    type Icc<'a> = ModelSysRegs<'a>;
    fn this_cpu(&self) -> u32 {
        // A caller outside the machine (a test harness) acts as the boot CPU.
        self.platform.current_cpu().map_or(0, |c| c.0)
    }
    fn num_cpus(&self) -> u32 {
        self.gic.num_cpus()
    }
    fn dist(&self) -> Self::Dist<'_> {
        self.gic.dist_view(self.this_cpu())
    }
    fn redist(&self) -> Self::Redist<'_> {
        self.gic.redist_view(self.this_cpu())
    }
    fn icc(&self) -> Self::Icc<'_> {
        ModelSysRegs { gic: &self.gic, cpu: self.this_cpu() }
    }
}

/// How the chip reaches the calling CPU's view of the GICv2 frames.
pub trait GicV2Ports: Send + Sync + 'static {
    /// The distributor frame.
    type Dist<'a>: Mmio
    where
        Self: 'a;
    /// The calling CPU's CPU interface (banked per CPU).
    type CpuIf<'a>: Mmio
    where
        Self: 'a;
    /// The calling CPU's number.
    fn this_cpu(&self) -> u32;
    /// The distributor as the calling CPU sees it.
    fn dist(&self) -> Self::Dist<'_>;
    /// The calling CPU's interface.
    fn cpuif(&self) -> Self::CpuIf<'_>;
}

/// [`GicV2Ports`] on a [`GicV2`] model; the platform says which CPU is calling.
pub struct ModelGicV2Ports {
    /// The model.
    pub gic: Arc<GicV2>,
    /// The machine (for `current_cpu`).
    pub platform: Arc<dyn Platform>,
}

impl GicV2Ports for ModelGicV2Ports {
    type Dist<'a> = CpuView<V2Dist<'a>>;
    type CpuIf<'a> = CpuView<V2CpuIf<'a>>;
    fn this_cpu(&self) -> u32 {
        self.platform.current_cpu().map_or(0, |c| c.0)
    }
    fn dist(&self) -> Self::Dist<'_> {
        self.gic.dist_view(self.this_cpu())
    }
    fn cpuif(&self) -> Self::CpuIf<'_> {
        self.gic.cpuif_view(self.this_cpu())
    }
}
