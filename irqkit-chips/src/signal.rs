//! CPU output lines of a controller model, and the notifier the runtime hangs on them.
//!
//! A model drives one IRQ (and, for the GIC, one FIQ) input per CPU. The runtime asks
//! [`CpuLines`] whenever it likes, and registers a [`LineNotifier`] to learn of a change
//! without polling. Notifiers run after the model has dropped its lock, so a notifier may
//! call back into the model (e.g. to acknowledge at once).

use alloc::sync::Arc;

/// The interrupt outputs a model drives towards one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CpuLines {
    /// The CPU's IRQ input is asserted.
    pub irq: bool,
    /// The CPU's FIQ input is asserted (GIC group 0 with FIQEn; NMI on x86).
    pub fiq: bool,
}

/// Called with `(cpu, lines)` whenever a CPU's outputs change.
pub type LineNotifier = Arc<dyn Fn(u32, CpuLines) + Send + Sync>;

/// A set of CPUs (at most 64) whose lines changed during one model operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Changed(pub u64);

impl Changed {
    /// Records that `cpu`'s lines changed.
    pub(crate) fn add(&mut self, cpu: u32) {
        if cpu < 64 {
            self.0 |= 1 << cpu;
        }
    }
}

/// Calls `notifier` for every CPU in `changed`, reading its lines through `lines`.
pub(crate) fn notify(
    notifier: Option<&LineNotifier>,
    changed: Changed,
    lines: impl Fn(u32) -> CpuLines,
) {
    let Some(n) = notifier else { return };
    let mut bits = changed.0;
    while bits != 0 {
        let cpu = bits.trailing_zeros();
        bits &= bits - 1;
        n(cpu, lines(cpu));
    }
}
