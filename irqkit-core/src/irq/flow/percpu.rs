//! Per-CPU flow handlers (chip.c): `handle_percpu_irq`, `handle_percpu_devid_irq` and
//! `handle_fasteoi_nmi` — no depth or disabled check, per-CPU counts only.
//!
//! The descriptor lock is held only around the chip calls (the chip binding lives
//! under it); handlers run without it, so every CPU can run its copy at once.

use alloc::format;

use crate::cpu::HardIrq;
use crate::irq::chip::ChipCallbacks;
use crate::irq::chip_state::irq_percpu_disable;
use crate::irq::desc::IrqDesc;
use crate::irq::flags::{IrqReturn, IrqSettings};
use crate::irq::handle::{call_action, handle_irq_event_percpu, DescGuard};
use crate::IrqSystem;

fn kstat_this_cpu(sys: &IrqSystem, desc: &IrqDesc) {
    if let Some(cpu) = sys.current_cpu() {
        sys.irq.descs.kstat_inc(cpu, desc.irq());
    }
}

fn ack_if_present(g: &DescGuard<'_>) {
    if g.data.chip.callbacks().contains(ChipCallbacks::ACK) {
        g.data.chip.ack(&g.data);
    }
}

fn eoi_if_present(g: &DescGuard<'_>) {
    if g.data.chip.callbacks().contains(ChipCallbacks::EOI) {
        g.data.chip.eoi(&g.data);
    }
}

/// `handle_percpu_irq`: ack, all actions, EOI.
pub(crate) fn handle_percpu_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    kstat_this_cpu(sys, desc);
    ack_if_present(&g);
    let actions = g.actions.clone();
    drop(g);
    let ret = match &actions {
        Some(list) => handle_irq_event_percpu(sys, desc, list, ctx, sys.this_cpu_opt()),
        None => IrqReturn::NONE,
    };
    let mut g = desc.inner.lock_irqsave(sys);
    if !g.settings.contains(IrqSettings::NO_DEBUG) {
        crate::irq::spurious::note_interrupt(sys, desc, &mut g, ret);
    }
    eoi_if_present(&g);
}

/// `handle_percpu_devid_irq`: the first action serving this CPU, else a one-time
/// "Spurious percpu IRQ" report and the line disabled on this CPU.
pub(crate) fn handle_percpu_devid_irq<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    kstat_this_cpu(sys, desc);
    ack_if_present(&g);
    let Some(cpu) = sys.current_cpu() else { return };
    let action = g.actions.as_ref().and_then(|l| {
        l.iter().find(|a| a.percpu_affinity.is_none_or(|m| m.contains(cpu))).cloned()
    });
    match action {
        Some(a) => {
            drop(g);
            call_action(sys, &a, ctx);
            let g = desc.inner.lock_irqsave(sys);
            eoi_if_present(&g);
        }
        None => {
            let mut g = g;
            let enabled = g.percpu_enabled().contains(cpu);
            if enabled {
                irq_percpu_disable(desc, &mut g, cpu);
            }
            sys.irq.log_line(
                sys,
                format!(
                    "Spurious{} percpu IRQ{} on CPU{}",
                    if enabled { " and unmasked" } else { "" },
                    desc.irq(),
                    cpu.0
                ),
            );
            eoi_if_present(&g);
        }
    }
}

/// `handle_fasteoi_nmi`: per-CPU count, the single action, EOI.
pub(crate) fn handle_fasteoi_nmi<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    ctx: &HardIrq,
) {
    kstat_this_cpu(sys, desc);
    let action = g.actions.as_ref().and_then(|l| l.first().cloned());
    drop(g);
    if let Some(a) = action {
        call_action(sys, &a, ctx);
    }
    let g = desc.inner.lock_irqsave(sys);
    eoi_if_present(&g);
}
