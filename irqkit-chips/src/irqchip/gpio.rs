//! The GPIO controller as a chained irqchip with its own linear domain behind one parent
//! line (Linux drivers/gpio/gpiolib.c `gpiochip_irqchip_*`, `gpiochip_irq_map`;
//! include/linux/irqchip/chained_irq.h).
//!
//! The parent (a GIC SPI, an IO-APIC pin) gets a chained handler that brackets the
//! demultiplexing with `chained_irq_enter` / `chained_irq_exit` on the parent's chip and
//! calls `generic_handle_domain_irq` for every pending pin. Pins use the edge flow, or
//! the level flow once a level type is set through [`GpioIrq::set_pin_type`].

use alloc::sync::Arc;

use irqkit_core::irq::{
    xlate_twocell, ChipCallbacks, DomainOps, FlowHandler, IrqChip, IrqData, IrqDesc, IrqDomain,
    RevMap, SetResult, Trigger as CoreTrigger,
};
use irqkit_core::{HardIrq, IrqError, IrqSystem};

use super::driver_trigger;
use crate::gpio::model::GpioFrame;
use crate::gpio::{GpioController, GpioIrqDriver};
use crate::mmio::{CpuView, Mmio};

/// How the chip reaches the controller's registers.
pub trait GpioPorts: Send + Sync + 'static {
    /// The register frame.
    type Regs<'a>: Mmio
    where
        Self: 'a;
    /// The registers.
    fn regs(&self) -> Self::Regs<'_>;
}

/// [`GpioPorts`] on a [`GpioController`] model.
pub struct ModelGpioPorts {
    /// The model.
    pub gpio: Arc<GpioController>,
}

impl GpioPorts for ModelGpioPorts {
    type Regs<'a> = CpuView<GpioFrame<'a>>;
    fn regs(&self) -> Self::Regs<'_> {
        self.gpio.mmio_view()
    }
}

struct GpioShared<P: GpioPorts> {
    ports: P,
    drv: GpioIrqDriver,
    pins: u32,
}

/// The GPIO controller's `IrqChip` ("gpio").
pub struct GpioChip<P: GpioPorts>(Arc<GpioShared<P>>);

impl<P: GpioPorts> IrqChip for GpioChip<P> {
    fn name(&self) -> &str {
        "gpio"
    }
    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::ACK | ChipCallbacks::SET_TYPE
    }
    fn mask(&self, d: &IrqData) {
        // Fails only for a pin beyond the controller, which the domain never maps.
        let _ = self.0.drv.mask(&self.0.ports.regs(), d.hwirq as u32);
    }
    fn unmask(&self, d: &IrqData) {
        let _ = self.0.drv.unmask(&self.0.ports.regs(), d.hwirq as u32);
    }
    fn ack(&self, d: &IrqData) {
        let _ = self.0.drv.ack(&self.0.ports.regs(), d.hwirq as u32);
    }
    fn set_type(&self, d: &IrqData, ty: CoreTrigger) -> Result<SetResult, IrqError> {
        self.0.drv.set_type(&self.0.ports.regs(), d.hwirq as u32, driver_trigger(ty)?)?;
        Ok(SetResult::Ok)
    }
}

/// `gpiochip_irq_domain_ops`: two-cell `<pin type>` specifiers, edge flow by default.
pub struct GpioDomainOps<P: GpioPorts>(Arc<GpioChip<P>>);

impl<P: GpioPorts> DomainOps for GpioDomainOps<P> {
    fn xlate(&self, _domain: &IrqDomain, fwspec: &[u32]) -> Result<(u64, CoreTrigger), IrqError> {
        let (pin, ty) = xlate_twocell(fwspec)?;
        if pin >= (self.0).0.pins as u64 {
            return Err(IrqError::InvalidArgument("GPIO pin out of range"));
        }
        Ok((pin, ty))
    }
    fn map(&self, sys: &IrqSystem, _d: &IrqDomain, virq: u32, _hwirq: u64) -> Result<(), IrqError> {
        sys.irq_set_chip_and_handler(virq, self.0.clone(), FlowHandler::Edge)
    }
}

/// A GPIO controller chained behind one parent line.
pub struct GpioIrq {
    domain: Arc<IrqDomain>,
    parent_virq: u32,
}

impl GpioIrq {
    /// Initialises the driver (all pins masked), creates the "gpio" linear domain and
    /// installs the chained handler on `parent_virq`. `parent` is the parent line's
    /// chip level (its chip and hwirq), which `chained_irq_enter/exit` talk to.
    pub fn new<P: GpioPorts>(
        sys: &IrqSystem,
        ports: P,
        pins: u32,
        parent_virq: u32,
        parent: IrqData,
    ) -> Result<Self, IrqError> {
        let drv = GpioIrqDriver::init(&ports.regs(), pins)?;
        let shared = Arc::new(GpioShared { ports, drv, pins });
        let ops = Arc::new(GpioDomainOps(Arc::new(GpioChip(shared.clone()))));
        let domain = sys.irq_domain_create("gpio", RevMap::Linear(pins), ops, None, None)?;
        let dom = domain.clone();
        let handler = move |sys: &IrqSystem, _desc: &IrqDesc, ctx: &HardIrq| {
            chained_irq_enter(&parent);
            shared.drv.handle_chained(&shared.ports.regs(), |pin| {
                // A pending pin nobody mapped stays masked (the driver masked it at init).
                let _ = sys.generic_handle_domain_irq(&dom, pin as u64, ctx);
            });
            chained_irq_exit(&parent);
        };
        sys.irq_set_chained_handler(parent_virq, Arc::new(handler))?;
        Ok(GpioIrq { domain, parent_virq })
    }

    /// The pins' domain.
    pub fn domain(&self) -> &Arc<IrqDomain> {
        &self.domain
    }

    /// The parent line carrying the chained handler.
    pub fn parent_virq(&self) -> u32 {
        self.parent_virq
    }

    /// Maps `<pin type>` and programs the type (see [`GpioIrq::set_pin_type`]).
    pub fn map_fwspec(&self, sys: &IrqSystem, fwspec: &[u32]) -> Result<u32, IrqError> {
        let virq = sys.irq_create_fwspec_mapping(&self.domain, fwspec)?;
        let ty = sys.irq_to_desc(virq)?.trigger();
        if !ty.is_empty() {
            self.set_pin_type(sys, virq, ty)?;
        }
        Ok(virq)
    }

    /// `irq_set_irq_type` plus the flow switch gpio drivers make in `irq_set_type`
    /// (`irq_set_handler_locked`: level flow for level types, edge flow otherwise).
    pub fn set_pin_type(
        &self,
        sys: &IrqSystem,
        virq: u32,
        ty: CoreTrigger,
    ) -> Result<(), IrqError> {
        sys.irq_set_irq_type(virq, ty)?;
        let flow = if ty.is_level() { FlowHandler::Level } else { FlowHandler::Edge };
        sys.irq_set_handler(virq, flow)
    }
}

/// `chained_irq_enter`: a parent without EOI is masked (and acked) for the duration.
fn chained_irq_enter(parent: &IrqData) {
    let cb = parent.chip.callbacks();
    if cb.contains(ChipCallbacks::EOI) {
        return;
    }
    if cb.contains(ChipCallbacks::MASK_ACK) {
        parent.chip.mask_ack(parent);
    } else {
        parent.chip.mask(parent);
        if cb.contains(ChipCallbacks::ACK) {
            parent.chip.ack(parent);
        }
    }
}

/// `chained_irq_exit`: EOI the parent, or unmask it.
fn chained_irq_exit(parent: &IrqData) {
    if parent.chip.callbacks().contains(ChipCallbacks::EOI) {
        parent.chip.eoi(parent);
    } else {
        parent.chip.unmask(parent);
    }
}
