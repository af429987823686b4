//! x86 interrupt plumbing: the vector space, the vector allocation matrix, and models
//! and drivers of the local APIC, IO-APIC, cascaded 8259 pair and MSI messages (spec §8).

pub mod lapic;
pub mod lapic_hw;
pub mod lapic_regs;
pub mod lapic_set;
pub mod lapic_timer;
pub mod matrix;
pub mod matrix_managed;
pub mod vector;
pub mod vector_domain;

pub use lapic::{DeliveryMode, Destination};
pub use lapic_set::LapicSet;
pub use matrix::VectorMatrix;
pub mod i8259;
pub mod ioapic;
pub mod msi;
pub mod msi_domain;

pub use i8259::I8259Pair;
pub use ioapic::IoApic;
pub use msi::MsiMessage;
pub mod apic_driver;
pub mod i8259_driver;
