//! Per-CPU state and the context rules: preempt count, soft interrupt mask, context tokens.
//!
//! # Model
//!
//! Each virtual CPU owns a [`CpuState`]. Only the thread currently running on that CPU
//! (the holder of its token, in hosted terms) writes it, so every field is an atomic
//! accessed with `Relaxed` ordering: the compiler emits plain loads and stores, and an
//! interrupt (a signal on the same thread) sees a consistent value because it runs on
//! the same hardware thread, as in a kernel.
//!
//! The preempt count uses Linux's bit layout ([`preempt`]); `local_irq_*` is a soft
//! mask ([`crate::IrqSystem::local_irq_save`]): an interrupt that arrives while the mask is set
//! is recorded by the runtime and replayed through [`crate::Platform::replay_irqs`]
//! when the mask is lifted, exactly once.

mod context;
mod mask;
mod percpu;
mod pin;
pub mod preempt;
mod state;

pub use context::{HardIrq, Nmi, SoftIrq, Task};
pub use mask::{CpuMask, MAX_CPUS};
pub use percpu::PerCpu;
pub use pin::CpuPin;
pub(crate) use pin::PIN_MARKS;
pub(crate) use state::ANY_CPU;
pub use state::{CpuState, IrqFlags};

use core::fmt;

/// A CPU number, `0..nr_cpus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CpuId(pub u32);

impl CpuId {
    /// The CPU number as an index into per-CPU arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<usize> for CpuId {
    fn from(v: usize) -> Self {
        CpuId(v as u32)
    }
}
