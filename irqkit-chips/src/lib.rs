//! irqkit-chips: interrupt-controller drivers (over an [`mmio::Mmio`] trait) and
//! register-accurate models of the same controllers for the hosted and sim runtimes.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod mmio;
