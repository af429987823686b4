//! The IO-APIC device lines through the generic IRQ layer: COM1 (irq 4) and the PS/2
//! keyboard (irq 1), each a threaded ONESHOT handler, on irqkit-chips' IO-APIC domain.
//!
//! The ISA lines are edge-triggered, active high, as Linux programs them, so they get
//! the `edge` flow: ack (the LAPIC EOI) first, no masking, then the hard handler, which
//! only wakes the line's thread (`irq/N-name`, FIFO 50); the thread drains the device.
//! An edge IO-APIC entry loses an edge that arrives while it is masked — the edge flow
//! never masks it, and the thread reads until the device is empty: a byte that arrives
//! during the drain is taken by the same pass, and one that arrives after the drain
//! raises a fresh edge, which wakes the thread again. COM1's hard handler also schedules
//! the self-test's tasklet and work, the Linux pattern of deferring from a hard handler.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::tasklet::Tasklet;
use irqkit_core::workqueue::Work;
use irqkit_core::{IrqError, IrqSystem};

use crate::{i8042, kprintln, platform, serial, x86irq};

/// Linux irq (= IO-APIC pin) of COM1.
pub const COM1_IRQ: u32 = 4;
/// Linux irq of the PS/2 keyboard.
pub const KBD_IRQ: u32 = i8042::KBD_PIN;

/// Bytes received on COM1.
pub static SERIAL_RX: serial::RxRing = serial::RxRing::new();

/// Runs of the tasklet COM1's hard handler schedules.
pub static TASKLET_RUNS: AtomicU64 = AtomicU64::new(0);
/// Tasklet runs that were not in softirq context (must stay 0).
pub static TASKLET_BAD: AtomicU64 = AtomicU64::new(0);
/// Runs of the work item COM1's hard handler schedules with `schedule_work`.
pub static HARDIRQ_WORK_RUNS: AtomicU64 = AtomicU64::new(0);
/// Runs of that work not in task context or not on this CPU's `kworker/N:M` (must
/// stay 0).
pub static HARDIRQ_WORK_BAD: AtomicU64 = AtomicU64::new(0);
/// Bit `c`: COM1's hard handler queued the work on CPU `c` (a per-CPU workqueue
/// queues on the local CPU).
pub static HARDIRQ_WORK_QUEUED_ON: AtomicU64 = AtomicU64::new(0);
/// Bit `c`: the work ran on CPU `c`.
pub static HARDIRQ_WORK_RAN_ON: AtomicU64 = AtomicU64::new(0);

/// True if the current thread is one of this CPU's bound kworkers (`kworker/N:M` or
/// `kworker/N:MH`), in task context.
pub fn on_local_kworker(sys: &IrqSystem) -> bool {
    let prefix = alloc::format!("kworker/{}:", crate::percpu::this_cpu());
    sys.in_task() && sys.current_thread().is_some_and(|t| t.name().starts_with(prefix.as_str()))
}

/// Threaded-handler runs of COM1 not in task context or not in `irq/4-ttyS0` (must
/// stay 0).
pub static THREAD_BAD: AtomicU32 = AtomicU32::new(0);

/// Sets up irq 1 and 4 on the IO-APIC and requests their threaded handlers. COM1 goes
/// to `com1_cpu`, the keyboard to CPU 0.
pub fn init(com1_cpu: usize, keyboard: bool) -> Result<(), IrqError> {
    let sys = platform::system_arc();
    x86irq::map_isa_pin(&sys, COM1_IRQ)?;
    // Default affinity is every CPU; start where the self-test expects the line.
    sys.irq_set_affinity(
        COM1_IRQ,
        &irqkit_core::CpuMask::single(irqkit_core::CpuId(com1_cpu as u32)),
    )?;
    let tasklet = Tasklet::new(|_ctx| {
        if !platform::system().in_serving_softirq() {
            TASKLET_BAD.fetch_add(1, Ordering::Relaxed);
        }
        TASKLET_RUNS.fetch_add(1, Ordering::Relaxed);
    });
    // Needs `workqueue_init` first (the system workqueues); kmain calls it before us.
    let work = Work::new(|sys, _w, _t| {
        if !on_local_kworker(sys) {
            HARDIRQ_WORK_BAD.fetch_add(1, Ordering::Relaxed);
        }
        HARDIRQ_WORK_RAN_ON.fetch_or(1 << crate::percpu::this_cpu(), Ordering::Relaxed);
        HARDIRQ_WORK_RUNS.fetch_add(1, Ordering::Release);
    });
    let hard = move |_h: &irqkit_core::HardIrq| {
        let sys = platform::system();
        let _ = tasklet.schedule(sys);
        if sys.schedule_work(&work).is_ok() {
            HARDIRQ_WORK_QUEUED_ON.fetch_or(1 << crate::percpu::this_cpu(), Ordering::Relaxed);
        }
        IrqReturn::WAKE_THREAD
    };
    let thread = |_t: &irqkit_core::Task| {
        let sys = platform::system();
        let named = sys.current_thread().is_some_and(|t| t.name() == "irq/4-ttyS0");
        if !sys.in_task() || !named {
            THREAD_BAD.fetch_add(1, Ordering::Relaxed);
        }
        if serial::drain_rx(&SERIAL_RX) > 0 {
            crate::shell::input_arrived(sys);
            IrqReturn::HANDLED
        } else {
            IrqReturn::NONE
        }
    };
    let reg = sys.request_threaded_irq(
        COM1_IRQ,
        Some(Box::new(hard)),
        Some(Box::new(thread)),
        Flags::ONESHOT,
        "ttyS0",
    )?;
    // The line lives as long as the machine.
    core::mem::forget(reg);
    if keyboard {
        request_keyboard(&sys)?;
    }
    Ok(())
}

fn request_keyboard(sys: &alloc::sync::Arc<IrqSystem>) -> Result<(), IrqError> {
    x86irq::map_isa_pin(sys, KBD_IRQ)?;
    sys.irq_set_affinity(KBD_IRQ, &irqkit_core::CpuMask::single(irqkit_core::CpuId(0)))?;
    let reg = sys.request_threaded_irq(
        KBD_IRQ,
        Some(Box::new(|_h: &irqkit_core::HardIrq| IrqReturn::WAKE_THREAD)),
        Some(Box::new(|_t: &irqkit_core::Task| {
            i8042::drain();
            IrqReturn::HANDLED
        })),
        Flags::ONESHOT,
        "i8042",
    )?;
    core::mem::forget(reg);
    Ok(())
}

/// Prints what the generic IRQ layer logged (warnings, "nobody cared").
pub fn print_irq_log() {
    let sys = platform::system();
    for line in sys.irq.drain_log(sys) {
        kprintln!("irq: {}", line);
    }
}
