//! What every controller model needs from the hosted machine: its per-CPU interrupt
//! output turned into a vector on that CPU, and the entry re-taken while the output
//! stays asserted (a level-sensitive CPU input).

use std::sync::{Arc, Weak};

use irqkit_chips::signal::LineNotifier;
use irqkit_core::{CpuId, HardIrq, IrqSystem};

use crate::shared::Shared;

/// A notifier that raises `vector` on a CPU whenever the model asserts its IRQ output.
pub(crate) fn output_to_vector(
    sys: &Arc<IrqSystem>,
    shared: &Arc<Shared>,
    vector: u8,
) -> LineNotifier {
    let (ws, wh): (Weak<IrqSystem>, Weak<Shared>) = (Arc::downgrade(sys), Arc::downgrade(shared));
    Arc::new(move |cpu, lines| {
        if lines.irq {
            if let (Some(sys), Some(shared)) = (ws.upgrade(), wh.upgrade()) {
                let _ = shared.raise(&sys, CpuId(cpu), vector);
            }
        }
    })
}

/// A controller's arch entry, run on the CPU that took its vector.
pub(crate) trait ControllerEntry: Send + Sync + 'static {
    /// The Linux entry (`gic_handle_irq`, `common_interrupt`).
    fn entry(&self, sys: &IrqSystem, hard: &HardIrq);
    /// True while the model still asserts `cpu`'s input.
    fn asserted(&self, cpu: CpuId) -> bool;
}

/// Runs the entry, then takes the vector again if the input is still asserted.
pub(crate) fn handle<C: ControllerEntry>(
    c: &C,
    sys: &IrqSystem,
    shared: &Shared,
    hard: &HardIrq,
    cpu: CpuId,
    vector: u8,
) {
    c.entry(sys, hard);
    if c.asserted(cpu) {
        let _ = shared.raise(sys, cpu, vector);
    }
}

/// Runs a device-side model call with the caller's CPU soft-masked (a no-op off the
/// machine). The models guard their state with a plain spinlock that the CPU entry
/// also takes, so a call from task context on a CPU (a threaded handler lowering its
/// line) must not be interrupted while it holds that lock.
pub(crate) fn masked<R>(f: impl FnOnce() -> R) -> R {
    crate::thread_ctx::with_irqs_masked(f)
}
