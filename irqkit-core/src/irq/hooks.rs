//! Hooks the runtime gives the generic IRQ layer: timers, tasklets, arch `/proc` rows,
//! PM notifications and panic containment.
//!
//! The generic layer needs a few services that belong to other layers: the spurious
//! poll timer and the resend tasklet (bottom halves, built in parallel), the arch rows
//! of `/proc/interrupts` (NMI, LOC, ... on x86; IPI0.. on arm64) and catching a
//! panicking handler (needs `std::panic::catch_unwind`, which `no_std` core cannot
//! call). The runtime installs them once with [`super::IrqCore::set_hooks`] and
//! [`super::IrqCore::set_handler_guard`]; without them the core still works: the poll
//! timer and resend are driven by calling [`crate::IrqSystem::poll_spurious_irqs`] and
//! [`crate::IrqSystem::irq_resend_run`] directly, and a panicking handler unwinds.

use alloc::string::String;

use super::flags::IrqReturn;
use crate::cpu::CpuMask;

/// Runs one handler call and contains a panic: `Ok(result)` if it returned, `Err(())`
/// if it panicked. The hosted runtime implements it with `std::panic::catch_unwind`;
/// the core then marks the action broken, reports it, counts the interrupt as
/// unhandled and keeps every other line working.
pub type HandlerGuard = fn(&mut dyn FnMut() -> IrqReturn) -> Result<IrqReturn, ()>;

/// Services the runtime provides to the generic IRQ layer. All methods default to
/// doing nothing.
pub trait IrqHooks: Send + Sync {
    /// (Re)arm the spurious poll timer to call
    /// [`crate::IrqSystem::poll_spurious_irqs`] after `delay_ns` (Linux: HZ/10).
    fn arm_spurious_poll(&self, _delay_ns: u64) {}

    /// Schedule the resend tasklet, which calls [`crate::IrqSystem::irq_resend_run`].
    fn schedule_resend(&self) {}

    /// Append the architecture rows of `/proc/interrupts` (after the last irq row):
    /// one column per CPU of `online`, labels right-aligned in `prec` columns.
    fn arch_show_interrupts(&self, _out: &mut String, _online: &CpuMask, _prec: usize) {}

    /// The sum of architecture interrupts, added to the `intr` total of `/proc/stat`.
    fn arch_irq_stat(&self) -> u64 {
        0
    }

    /// `pm_system_irq_wakeup`: an armed wakeup line fired during suspend.
    fn pm_wakeup(&self, _irq: u32) {}
}
