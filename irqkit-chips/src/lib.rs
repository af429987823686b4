//! irqkit-chips: interrupt-controller drivers (over an [`mmio::Mmio`] trait) and
//! register-accurate models of the same controllers for the hosted and sim runtimes.
//!
//! | module   | controllers                                                     |
//! |----------|-----------------------------------------------------------------|
//! | [`gic`]  | GICv2 distributor + CPU interface, GICv3 + redistributors + ITS |
//! | [`x86`]  | vector space, vector matrix, local APIC, IO-APIC, 8259, MSI     |
//! | [`gpio`] | a chained GPIO interrupt controller                             |
//!
//! Every model is `Sync` (one internal spinlock each) and never panics on a register
//! access: bad offsets and widths give a typed [`mmio::MmioError`], reserved locations
//! are RAZ/WI as the architecture says.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod gic;
pub mod gpio;
pub mod mmio;
pub mod mmio_hw;
pub mod signal;
pub mod trigger;
pub mod x86;
