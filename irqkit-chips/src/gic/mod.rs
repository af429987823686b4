//! ARM Generic Interrupt Controller: GICv2 and GICv3 (+ITS) models and drivers.
//!
//! The models implement the registers and the architecture's state machine (spec §7):
//! pending / active / active+pending for edge and level INTIDs, priority arbitration,
//! priority mask, running priority, preemption by group priority, EOImode 0/1, groups,
//! SGIs with source CPUs, LPIs and the ITS. The drivers program a GIC through
//! [`crate::mmio::Mmio`] exactly as Linux's irq-gic.c / irq-gic-v3.c do.

pub mod core;
pub mod lpi;
mod regs;
pub mod state;
pub mod v2;
pub mod v2_cpuif;
pub mod v2_dist;

pub use self::core::{INTID_GROUP1_NOT_ACKED, INTID_SPURIOUS};
pub use v2::{GicV2, V2CpuIf, V2Dist};
