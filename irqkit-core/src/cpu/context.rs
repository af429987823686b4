//! Context tokens: proof, in a callback's signature, of the context it runs in.
//!
//! A hard-irq handler receives `&HardIrq`, a softirq/tasklet/timer callback `&SoftIrq`,
//! an NMI handler `&Nmi`, and a threaded handler or work item `&Task`. Calls that may
//! sleep take `&Task`, so calling one from a hard-irq handler does not compile:
//!
//! ```compile_fail
//! use irqkit_core::{HardIrq, Task};
//! fn may_sleep(_t: &Task) {}
//! fn handler(ctx: &HardIrq) {
//!     may_sleep(ctx); // error: expected `&Task`, found `&HardIrq`
//! }
//! ```
//!
//! Tokens are `!Send` and `!Sync`: they cannot leave the callback's thread.

use core::marker::PhantomData;

use super::CpuId;

type NotSend = PhantomData<*mut ()>;

/// Proof of hard-interrupt context (preempt count has HARDIRQ bits, irqs masked).
#[derive(Debug)]
pub struct HardIrq {
    _p: NotSend,
}

/// Proof of softirq context (serving a softirq: softirqs, tasklets, timers).
#[derive(Debug)]
pub struct SoftIrq {
    /// The CPU being served, when the dispatcher knew it: a softirq never migrates, so
    /// actions need not ask the platform again (`smp_processor_id()` is a plain read).
    cpu: Option<CpuId>,
    _p: NotSend,
}

/// Proof of NMI context: only lock-free, non-allocating calls are allowed.
#[derive(Debug)]
pub struct Nmi {
    _p: NotSend,
}

/// Proof of task context: the caller is a kernel thread and may sleep.
#[derive(Debug)]
pub struct Task {
    _p: NotSend,
}

impl HardIrq {
    /// Creates the token. Only interrupt entry code (core or a runtime's arch entry)
    /// should call this, after `irq_enter`.
    #[doc(hidden)]
    pub fn entered() -> Self {
        HardIrq { _p: PhantomData }
    }
}

impl SoftIrq {
    /// Creates the token; for softirq dispatch code after adding SOFTIRQ_OFFSET.
    #[doc(hidden)]
    pub fn entered() -> Self {
        SoftIrq { cpu: None, _p: PhantomData }
    }

    /// The token of the softirq handling loop on `cpu`, which it cannot leave.
    pub(crate) fn entered_on(cpu: CpuId) -> Self {
        SoftIrq { cpu: Some(cpu), _p: PhantomData }
    }

    /// The CPU being served, if the token's creator recorded it.
    #[inline]
    pub(crate) fn cpu(&self) -> Option<CpuId> {
        self.cpu
    }
}

impl Nmi {
    /// Creates the token; for NMI entry code after `nmi_enter`.
    #[doc(hidden)]
    pub fn entered() -> Self {
        Nmi { _p: PhantomData }
    }
}

impl Task {
    /// Creates the token; for kernel-thread start code and tests running in task context.
    #[doc(hidden)]
    pub fn entered() -> Self {
        Task { _p: PhantomData }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_the_dispatchers_token_names_a_cpu() {
        assert_eq!(SoftIrq::entered_on(CpuId(3)).cpu(), Some(CpuId(3)));
        assert_eq!(SoftIrq::entered().cpu(), None, "hand-made tokens fall back to a lookup");
    }
}
