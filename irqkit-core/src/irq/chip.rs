//! `IrqChip`: the interrupt-controller interface the generic layer drives, and `IrqData`,
//! the per-descriptor, per-hierarchy-level chip binding (hwirq, chip, chip data, domain).
//!
//! Linux's `struct irq_chip` is a table of optional callbacks; the flow handlers test
//! for their presence (e.g. lazy disable happens exactly when there is no
//! `irq_disable`). A Rust trait always has every method, so a chip declares which
//! optional callbacks it really implements in [`IrqChip::callbacks`]; the generic code
//! calls only those, and the defaults are no-ops.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::Any;

use super::domain::IrqDomain;
use super::flags::{ChipFlags, Trigger};
use crate::cpu::CpuMask;
use crate::IrqError;

bitflags::bitflags! {
    /// Which optional `irq_chip` callbacks a chip implements.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct ChipCallbacks: u32 {
        /// `irq_mask`.
        const MASK = 1 << 0;
        /// `irq_unmask`.
        const UNMASK = 1 << 1;
        /// `irq_ack`.
        const ACK = 1 << 2;
        /// `irq_mask_ack`.
        const MASK_ACK = 1 << 3;
        /// `irq_eoi`.
        const EOI = 1 << 4;
        /// `irq_enable`.
        const ENABLE = 1 << 5;
        /// `irq_disable`.
        const DISABLE = 1 << 6;
        /// `irq_startup`.
        const STARTUP = 1 << 7;
        /// `irq_shutdown`.
        const SHUTDOWN = 1 << 8;
        /// `irq_set_type`.
        const SET_TYPE = 1 << 9;
        /// `irq_set_affinity`.
        const SET_AFFINITY = 1 << 10;
        /// `irq_retrigger`.
        const RETRIGGER = 1 << 11;
        /// `irq_set_wake`.
        const SET_WAKE = 1 << 12;
    }
}

/// `IRQ_SET_MASK_OK*`: how a chip accepted a trigger or affinity change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetResult {
    /// The core copies the new value (`IRQ_SET_MASK_OK`).
    Ok,
    /// The chip already stored it (`IRQ_SET_MASK_OK_NOCOPY`).
    NoCopy,
    /// Like `Ok`, and stacked chips stop here (`IRQ_SET_MASK_OK_DONE`).
    Done,
}

/// `IRQCHIP_STATE_*` that the core asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipState {
    /// Pending at the controller.
    Pending,
    /// Active (acknowledged, not yet EOIed).
    Active,
    /// Masked at the controller.
    Masked,
}

/// One hierarchy level of a descriptor's chip binding (`struct irq_data`).
pub struct IrqData {
    /// The Linux irq number (virq).
    pub irq: u32,
    /// The controller-local interrupt number.
    pub hwirq: u64,
    /// The chip of this level.
    pub chip: Arc<dyn IrqChip>,
    /// Chip-private data of this level.
    pub chip_data: Option<Arc<dyn Any + Send + Sync>>,
    /// The domain that mapped this level, if any.
    pub domain: Option<Arc<IrqDomain>>,
    /// The next level towards the root controller (MSI → ITS → GIC).
    pub parent: Option<Box<IrqData>>,
}

impl IrqData {
    /// A binding to `no_irq_chip` for `irq`.
    pub fn new(irq: u32) -> Self {
        IrqData {
            irq,
            hwirq: 0,
            chip: Arc::new(NoIrqChip),
            chip_data: None,
            domain: None,
            parent: None,
        }
    }

    /// The parent level (`irq_data->parent_data`).
    pub fn parent(&self) -> Option<&IrqData> {
        self.parent.as_deref()
    }

    /// The chip data of this level downcast to `T`.
    pub fn chip_data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.chip_data.as_ref().and_then(|d| d.downcast_ref::<T>())
    }

    /// True if the chip of this level is the placeholder `no_irq_chip`.
    pub fn is_no_chip(&self) -> bool {
        self.chip.callbacks().is_empty() && self.chip.name() == "none"
    }
}

/// An interrupt controller as the generic layer sees it (`struct irq_chip`).
///
/// Callbacks run with the descriptor lock held and local interrupts masked: they must
/// not block or allocate.
pub trait IrqChip: Send + Sync {
    /// The chip's name, shown in `/proc/interrupts`.
    fn name(&self) -> &str;
    /// Behaviour flags.
    fn flags(&self) -> ChipFlags {
        ChipFlags::empty()
    }
    /// The optional callbacks this chip implements (default: mask and unmask).
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK | ChipCallbacks::UNMASK
    }
    /// Masks the line.
    fn mask(&self, _d: &IrqData) {}
    /// Unmasks the line.
    fn unmask(&self, _d: &IrqData) {}
    /// Acknowledges the interrupt (edge).
    fn ack(&self, _d: &IrqData) {}
    /// Masks and acknowledges in one step.
    fn mask_ack(&self, _d: &IrqData) {}
    /// Signals end of interrupt.
    fn eoi(&self, _d: &IrqData) {}
    /// Enables the line (defaults to unmask in the core when absent).
    fn enable(&self, _d: &IrqData) {}
    /// Disables the line (absent: the core disables lazily).
    fn disable(&self, _d: &IrqData) {}
    /// Starts the line up (absent: the core enables it).
    fn startup(&self, _d: &IrqData) {}
    /// Shuts the line down (absent: the core disables and masks it).
    fn shutdown(&self, _d: &IrqData) {}
    /// Sets the trigger type.
    fn set_type(&self, _d: &IrqData, _ty: Trigger) -> Result<SetResult, IrqError> {
        Err(IrqError::Unsupported("irq_set_type"))
    }
    /// Routes the line to `mask`; returns how it was applied and the effective mask.
    fn set_affinity(
        &self,
        _d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        Ok((SetResult::Ok, *mask))
    }
    /// Re-raises the interrupt in hardware; true if it did.
    fn retrigger(&self, _d: &IrqData) -> bool {
        false
    }
    /// Configures the line as a wakeup source.
    fn set_wake(&self, _d: &IrqData, _on: bool) -> Result<(), IrqError> {
        Err(IrqError::Unsupported("irq_set_wake"))
    }
    /// Claims controller resources when the first handler is requested.
    fn request_resources(&self, _d: &IrqData) -> Result<(), IrqError> {
        Ok(())
    }
    /// Releases what `request_resources` claimed.
    fn release_resources(&self, _d: &IrqData) {}
    /// Reads controller state (`irq_get_irqchip_state`).
    fn get_state(&self, _d: &IrqData, _which: ChipState) -> Result<bool, IrqError> {
        Err(IrqError::Unsupported("irq_get_irqchip_state"))
    }
    /// Custom `/proc/interrupts` chip column (`irq_print_chip`); None uses the name.
    fn print_chip(&self, _d: &IrqData) -> Option<alloc::string::String> {
        None
    }
}

/// `no_irq_chip`: the placeholder of a fresh descriptor; requests on it fail with
/// `Unsupported`, as `__setup_irq` returns -ENOSYS.
pub struct NoIrqChip;

impl IrqChip for NoIrqChip {
    fn name(&self) -> &str {
        "none"
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::empty()
    }
}

/// `dummy_irq_chip`: accepts everything and does nothing (for software-only lines).
pub struct DummyChip;

impl IrqChip for DummyChip {
    fn name(&self) -> &str {
        "dummy"
    }
    fn flags(&self) -> ChipFlags {
        ChipFlags::SKIP_SET_WAKE
    }
}

/// `irq_chip_mask_parent` and friends: forward a callback to the parent level.
pub mod parent {
    use super::IrqData;

    /// Masks at the parent level.
    pub fn mask(d: &IrqData) {
        if let Some(p) = d.parent() {
            p.chip.mask(p)
        }
    }
    /// Unmasks at the parent level.
    pub fn unmask(d: &IrqData) {
        if let Some(p) = d.parent() {
            p.chip.unmask(p)
        }
    }
    /// EOIs at the parent level.
    pub fn eoi(d: &IrqData) {
        if let Some(p) = d.parent() {
            p.chip.eoi(p)
        }
    }
    /// Retriggers at the first level up the hierarchy that can.
    pub fn retrigger(d: &IrqData) -> bool {
        let mut cur = d.parent();
        while let Some(p) = cur {
            if p.chip.callbacks().contains(super::ChipCallbacks::RETRIGGER) {
                return p.chip.retrigger(p);
            }
            cur = p.parent();
        }
        false
    }
}
