//! irqkit-chips: interrupt-controller drivers (over an [`mmio::Mmio`] trait) and
//! register-accurate models of the same controllers for the hosted and sim runtimes.
//!
//! | module   | controllers                                                     |
//! |----------|-----------------------------------------------------------------|
//! | [`gic`]  | GICv2 distributor + CPU interface, GICv3 + redistributors + ITS |
//! | [`x86`]  | vector space, vector matrix, local APIC, IO-APIC, 8259, MSI     |
//! | [`gpio`] | a chained GPIO interrupt controller                             |
//! | [`irqchip`] | the above as irqkit-core chips + domains, and the arch entries |
//!
//! Every model is `Sync` (one internal spinlock each) and never panics on a register
//! access: bad offsets and widths give a typed [`mmio::MmioError`], reserved locations
//! are RAZ/WI as the architecture says.
//!
//! # Entry points for a runtime
//! * Devices drive lines: [`gic::GicV2::set_line`], [`gic::GicV3::set_line`],
//!   [`gic::GicV3::its_msi`], [`x86::IoApic::set_line`], [`x86::LapicSet::deliver_msi`],
//!   [`x86::I8259Pair::set_irq`], [`gpio::GpioController::set_pin`].
//! * CPUs watch their inputs: `cpu_lines(cpu)` / `irq_asserted(cpu)` on every model, or a
//!   [`signal::LineNotifier`] registered with `set_notifier` (runs after the model's lock
//!   is dropped, so it may call back in).
//! * The arch entry acknowledges and ends interrupts through a driver over [`mmio::Mmio`]
//!   (a [`mmio::CpuView`] of a model, or [`mmio_hw::VolatileMmio`] on hardware):
//!   [`gic::v2_driver::GicV2Driver`], [`gic::v3_driver::GicV3Driver`] (+ICC system
//!   registers), [`gic::its_driver::ItsDriver`] / [`gic::its_msi::ItsMsiDomain`],
//!   [`x86::apic_driver::LapicDriver`] / [`x86::apic_driver::IoApicDriver`],
//!   [`x86::i8259_driver::I8259Driver`], [`gpio::GpioIrqDriver`].
//! * x86 vectors: [`x86::VectorMatrix`], [`x86::vector::VectorTable`],
//!   [`x86::vector_domain::ApicIrq`], [`x86::msi_domain::msi_alloc`].
//! * x86 on real hardware: [`irqchip::x86::X86Irq`] over an [`irqchip::x86::X86Ports`]
//!   that reads only its own APIC (`remote_irr() == false`): dispatch with
//!   `X86Irq::handle_vector`, release moved vectors with `X86Irq::vector_cleanup` from
//!   each CPU's tick; LAPIC bring-up, IPIs and timer modes in [`x86::lapic_hw`].
#![no_std]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod gic;
pub mod gpio;
pub mod irqchip;
pub mod mmio;
pub mod mmio_hw;
pub mod signal;
pub mod trigger;
pub mod x86;
