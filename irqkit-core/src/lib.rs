//! irqkit-core: the Linux interrupt-handling architecture as a `#![no_std]` component.
//!
//! Everything hangs off one [`IrqSystem`] value: per-CPU state (preempt count, soft
//! interrupt mask), the kernel-thread scheduler, and — in later layers — descriptors,
//! domains, softirqs, tasklets, irq_work, timers and workqueues. The core never touches
//! threads, signals or hardware itself: it talks to the machine through the
//! [`Platform`] trait, implemented by the hosted runtime, the simulator and the
//! bare-metal kernel.
//!
//! The module split follows Linux so a kernel engineer finds their way:
//!
//! | irqkit            | Linux                                         |
//! |-------------------|-----------------------------------------------|
//! | [`cpu`]           | `include/linux/preempt.h`, `irqflags.h`, percpu |
//! | [`sync`]          | `spinlock.h`, `atomic.h`                      |
//! | [`sched`]         | `kernel/sched/` (only what kernel threads need) |
//! | [`softirq`]       | `kernel/softirq.c` (vectors, ksoftirqd, bh-disable) |
//! | [`tasklet`]       | `kernel/softirq.c` (tasklets)                 |
//! | [`irq_work`]      | `kernel/irq_work.c`                           |
//! | [`timer`]         | `kernel/time/timer.c`                         |
//! | [`entry`]         | `kernel/softirq.c` `irq_enter`/`irq_exit`, `nmi_enter` |
//! | [`irq`]           | `kernel/irq/` (genirq)                        |
#![no_std]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;
#[cfg(any(test, feature = "testing", feature = "std"))]
extern crate std;

pub mod cpu;
pub mod entry;
pub mod error;
pub mod irq;
pub mod irq_work;
pub mod platform;
pub mod sched;
pub mod softirq;
pub mod sync;
pub mod system;
pub mod tasklet;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timer;
pub mod workqueue;

pub use cpu::{CpuId, CpuMask, HardIrq, Nmi, SoftIrq, Task};
pub use error::IrqError;
pub use platform::{Ipi, Platform};
pub use system::IrqSystem;
