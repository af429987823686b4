//! ARM Generic Interrupt Controller: GICv2 and GICv3 (+ITS) models and drivers.
//!
//! The models implement the registers and the architecture's state machine (spec §7):
//! pending / active / active+pending for edge and level INTIDs, priority arbitration,
//! priority mask, running priority, preemption by group priority, EOImode 0/1, groups,
//! SGIs with source CPUs, LPIs and the ITS. The drivers program a GIC through
//! [`crate::mmio::Mmio`] exactly as Linux's irq-gic.c / irq-gic-v3.c do.

mod ack;
pub mod core;
pub mod lpi;
mod regs;
pub mod state;
pub mod v2;
pub mod v2_cpuif;
pub mod v2_dist;
pub mod v2_driver;

pub use self::core::{INTID_GROUP1_NOT_ACKED, INTID_SPURIOUS};
pub use v2::{GicV2, V2CpuIf, V2Dist};
pub mod its;
pub mod its_cmd;
pub mod its_driver;
pub mod its_msi;
mod its_regs;
pub mod memory;
pub mod v3;
pub mod v3_access;
pub mod v3_cpuif;
pub mod v3_dist;
pub mod v3_driver;
pub mod v3_lpi_driver;
pub mod v3_redist;

pub use its::{ItsFault, ItsFrame};
pub use memory::ModelMemory;
pub use v3::{GicV3, GicV3Config, V3Dist, V3Redist};
pub use v3_cpuif::IccReg;
