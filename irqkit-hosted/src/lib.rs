//! irqkit-hosted: a user-space machine that runs irqkit-core for real.
//!
//! N virtual CPUs are tokens held by OS threads; kernel threads (`ksoftirqd/N`,
//! `irq/N-name`, kworkers) are OS threads that run only while they hold their CPU.
//! Interrupts and IPIs are real-time signals sent to the holder of the target CPU (an
//! idle CPU is woken through a futex instead, as Linux's polling idle skips the IPI);
//! NMIs are a second signal that ignores the soft mask. Preemption at interrupt exit
//! hands the CPU to the next runnable thread from inside the signal handler.
//!
//! ```
//! use irqkit_hosted::{Machine, MachineConfig};
//! use irqkit_core::CpuId;
//!
//! let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 100, ..Default::default() }).unwrap();
//! let on = m.run_on(CpuId(1), |_task| irqkit_hosted::current_cpu()).unwrap();
//! assert_eq!(on, Some(CpuId(1)));
//! ```
//!
//! A device line through the generic IRQ layer (the README's example):
//!
//! ```
//! use irqkit_core::irq::{FlowHandler, Flags, IrqReturn};
//! use irqkit_core::{CpuId, CpuMask};
//! use irqkit_hosted::{Machine, MachineConfig};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//!
//! let m = Machine::new(MachineConfig { nr_cpus: 2, ..Default::default() }).unwrap();
//! let sys = m.sys().clone();
//! let irq = m.create_irq_line(FlowHandler::FastEoi).unwrap();
//! sys.irq_set_affinity(irq, &CpuMask::single(CpuId(1))).unwrap();
//! let hits = Arc::new(AtomicU32::new(0));
//! let h = hits.clone();
//! let reg = sys
//!     .request_irq(irq, move |_hard| { h.fetch_add(1, Ordering::SeqCst); IrqReturn::HANDLED },
//!                  Flags::empty(), "eth0")
//!     .unwrap();
//! m.raise_irq(irq).unwrap();
//! while hits.load(Ordering::SeqCst) == 0 { std::thread::yield_now(); }
//! assert!(sys.show_interrupts().contains("eth0"));
//! drop(reg); // free_irq
//! ```
//!
//! The crate installs [`IrqSafeAlloc`] as the global allocator: a handler may land in
//! the middle of `malloc`, so every allocation runs with the CPU's soft mask set.
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod alloc;
mod controller;
mod dead_report;
mod entry;
mod futex;
pub mod gicv2;
pub mod gicv3;
mod hostcpu;
mod hotplug;
#[cfg(test)]
mod hotplug_tests;
mod idle;
mod irq_glue;
mod machine;
mod platform;
mod publish;
mod shared;
pub mod signals;
mod stats;
#[cfg(test)]
mod switch_tests;
mod thread_ctx;
mod vector_chip;
pub mod vectors;
pub mod x86;

pub use alloc::IrqSafeAlloc;
pub use machine::{Machine, MachineConfig, DEFAULT_IDLE_POLL_NS};
pub use platform::HostPlatform;
pub use shared::KthreadPanic;
pub use stats::CpuStats;

#[global_allocator]
static GLOBAL: IrqSafeAlloc = IrqSafeAlloc;

/// The virtual CPU the calling thread holds, or `None` outside the machine.
pub fn current_cpu() -> Option<irqkit_core::CpuId> {
    thread_ctx::current_cpu()
}
