//! The spurious-interrupt storm test: a level line stuck asserted whose only handler
//! answers IRQ_NONE must be disabled by the spurious detector ("nobody cared") while
//! the machine keeps taking its timer interrupts.
//!
//! How the storm is produced: QEMU offers no device whose level line the kernel can
//! hold high at will, so the line is modelled in the local APIC. Irq `STORM` is a
//! descriptor with the `fasteoi` flow on [`StormChip`], bound to vector 0x40 of the
//! last CPU. The chip behaves like a level input that the device never releases:
//! while the line is *asserted* and *unmasked*, every EOI (and every unmask) sends a
//! fixed self IPI of vector 0x40 to the line's CPU, exactly as an IO-APIC re-delivers
//! a still-high level entry after the EOI broadcast. The test asserts the line once;
//! from then on each interrupt raises the next until the detector, after 99,900 of
//! 100,000 interrupts went unhandled, disables (masks) the line.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use irqkit_core::irq::{ChipCallbacks, Flags, FlowHandler, IrqChip, IrqData, IrqReturn};
use irqkit_core::Task;

use crate::lapic::{self, TIMER_VECTOR};
use crate::selftest::{check, wait_for, SECOND};
use crate::{devices, kprintln, percpu, platform, x86irq};

/// The storm line's vector (kept out of the vector matrix at boot).
pub const STORM_VECTOR: u8 = 0x40;

/// The simulated level line.
struct StormLine {
    asserted: AtomicBool,
    masked: AtomicBool,
    apic_id: u32,
}

impl StormLine {
    /// A level input re-delivers while it is high and unmasked.
    fn redeliver(&self) {
        if self.asserted.load(Ordering::Acquire) && !self.masked.load(Ordering::Acquire) {
            lapic::send_ipi(self.apic_id, STORM_VECTOR);
        }
    }
}

/// The chip of the storm line (see the module comment).
struct StormChip;

fn line(d: &IrqData) -> Option<&StormLine> {
    d.chip_data.as_ref().and_then(|c| (&**c as &dyn Any).downcast_ref::<StormLine>())
}

impl IrqChip for StormChip {
    fn name(&self) -> &str {
        "STORM"
    }

    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::EOI
    }

    fn mask(&self, d: &IrqData) {
        if let Some(l) = line(d) {
            l.masked.store(true, Ordering::Release);
        }
    }

    fn unmask(&self, d: &IrqData) {
        if let Some(l) = line(d) {
            l.masked.store(false, Ordering::Release);
            l.redeliver();
        }
    }

    fn eoi(&self, d: &IrqData) {
        lapic::eoi();
        if let Some(l) = line(d) {
            l.redeliver();
        }
    }
}

/// Runs the storm on the last of `n` CPUs; returns the storm line's irq.
pub fn run(n: usize) -> Option<u32> {
    let sys = platform::system_arc();
    let cpu = n - 1;
    let result = (|| -> Result<_, irqkit_core::IrqError> {
        let irq = sys.irq_alloc_descs(16, 1, false)?;
        let l = Arc::new(StormLine {
            asserted: AtomicBool::new(false),
            masked: AtomicBool::new(true),
            apic_id: percpu::area(cpu).apic_id.load(Ordering::Relaxed),
        });
        sys.irq_set_chip_and_handler_name(
            irq,
            Arc::new(StormChip),
            FlowHandler::FastEoi,
            "fasteoi",
        )?;
        sys.irq_set_chip_data(irq, l.clone())?;
        x86irq::bind_vector(cpu, STORM_VECTOR, irq);
        let reg = sys.request_irq(irq, |_h| IrqReturn::NONE, Flags::empty(), "storm")?;
        Ok((irq, l, reg))
    })();
    let (irq, l, reg) = match result {
        Ok(r) => r,
        Err(e) => {
            check(false, format_args!("setting up the storm line: {e}"));
            return None;
        }
    };
    let area = percpu::area(cpu);
    let loc_before = area.count(TIMER_VECTOR);
    let storm_before = area.count(STORM_VECTOR);
    let t0 = lapic::now_ns();
    // The device raises its line and never lets go.
    l.asserted.store(true, Ordering::Release);
    l.redeliver();
    let desc = match sys.irq_to_desc(irq) {
        Ok(d) => d,
        Err(_) => return None,
    };
    let disabled = wait_for(60 * SECOND, || desc.is_disabled());
    let ms = (lapic::now_ns() - t0) / 1_000_000;
    let storm = area.count(STORM_VECTOR) - storm_before;
    let loc = area.count(TIMER_VECTOR) - loc_before;
    let log = sys.irq.drain_log(&sys);
    for line in &log {
        kprintln!("irq: {}", line);
    }
    let nobody = log.iter().any(|s| s.contains(&alloc::format!("irq {irq}: nobody cared")));
    check(
        disabled && nobody && storm >= 100_000,
        format_args!(
            "stuck level irq {irq} (handler returns NONE) disabled by the spurious detector after {storm} interrupts in {ms} ms (\"nobody cared\")"
        ),
    );
    // Responsive: the storm CPU kept taking its tick, and after the disable the
    // line stays quiet while the tick goes on.
    let quiet_from = area.count(STORM_VECTOR);
    let loc_mid = area.count(TIMER_VECTOR);
    let ticked = wait_for(SECOND, || area.count(TIMER_VECTOR) >= loc_mid + 5);
    let extra = area.count(STORM_VECTOR) - quiet_from;
    check(
        loc >= 1 && ticked && extra <= 2,
        format_args!(
            "CPU{cpu} took {loc} timer interrupts during the storm and keeps ticking; {extra} storm interrupts after the disable"
        ),
    );
    let freed = reg.free(&Task::entered());
    check(freed.is_ok(), format_args!("storm handler freed ({freed:?})"));
    devices::print_irq_log();
    Some(irq)
}
