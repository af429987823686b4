//! Flow handlers (kernel/irq/chip.c, spec 1.3–1.4): how each kind of line talks to its
//! chip around the actions — level, edge, fasteoi (+ack, +mask), simple, untracked,
//! percpu, percpu_devid, fasteoi_nmi, nested, chained and bad.
//!
//! The handler of a descriptor is a [`FlowHandler`] value; dispatch is a `match`, so the
//! hot path makes no indirect call until the driver's own handler.

mod edge;
mod fasteoi;
mod level;
mod nested;
mod percpu;
mod simple;

use alloc::sync::Arc;

use super::desc::{DescInner, IrqDesc};
use super::flags::{IrqdState, IrqsState};
use super::handle::DescGuard;
use crate::cpu::{CpuState, HardIrq};
use crate::sync::atomic::spin_hint;
use crate::IrqSystem;

/// A chained handler: the parent line's handler of a cascaded controller. It reads the
/// child controller and calls [`IrqSystem::generic_handle_domain_irq`] for each source.
pub type ChainedHandler = Arc<dyn Fn(&IrqSystem, &IrqDesc, &HardIrq) + Send + Sync>;

/// The flow handler of a descriptor (`desc->handle_irq`).
#[derive(Clone, Default)]
pub enum FlowHandler {
    /// `handle_bad_irq`: no handler installed.
    #[default]
    Bad,
    /// `handle_simple_irq`: no chip calls.
    Simple,
    /// `handle_untracked_irq`: simple, without statistics or spurious detection.
    Untracked,
    /// `handle_level_irq`: mask+ack, handle, conditional unmask.
    Level,
    /// `handle_edge_irq`: ack, handle, replay edges that arrived meanwhile.
    Edge,
    /// `handle_fasteoi_irq`: handle, EOI (mask for ONESHOT).
    FastEoi,
    /// `handle_fasteoi_ack_irq`: fasteoi with an ack before handling.
    FastEoiAck,
    /// `handle_fasteoi_mask_irq`: mask+ack first, then fasteoi's EOI logic.
    FastEoiMask,
    /// `handle_percpu_irq`: no lock, ack, handle, EOI.
    PerCpu,
    /// `handle_percpu_devid_irq`: the action serving this CPU.
    PerCpuDevid,
    /// `handle_fasteoi_nmi`.
    FastEoiNmi,
    /// Nested: handled from the parent's thread via `handle_nested_irq`.
    Nested,
    /// A chained parent handler.
    Chained(ChainedHandler),
}

impl FlowHandler {
    /// Linux's flow-handler name (`handle_edge_irq` → "edge"), for traces and views.
    pub fn name(&self) -> &'static str {
        match self {
            FlowHandler::Bad => "bad",
            FlowHandler::Simple => "simple",
            FlowHandler::Untracked => "untracked",
            FlowHandler::Level => "level",
            FlowHandler::Edge => "edge",
            FlowHandler::FastEoi => "fasteoi",
            FlowHandler::FastEoiAck => "fasteoi_ack",
            FlowHandler::FastEoiMask => "fasteoi_mask",
            FlowHandler::PerCpu => "percpu",
            FlowHandler::PerCpuDevid => "percpu_devid",
            FlowHandler::FastEoiNmi => "fasteoi_nmi",
            FlowHandler::Nested => "nested",
            FlowHandler::Chained(_) => "chained",
        }
    }
}

impl IrqSystem {
    /// `generic_handle_irq`: runs the flow handler of `irq` (hard-irq context).
    #[inline]
    pub fn generic_handle_irq(&self, irq: u32, ctx: &HardIrq) -> Result<(), crate::IrqError> {
        let desc = self.irq_to_desc(irq)?;
        generic_handle_irq_desc(self, desc, ctx);
        Ok(())
    }
}

/// `generic_handle_irq_desc`: dispatch on the descriptor's flow handler (inlined into
/// the two entry points: one call frame fewer on every interrupt).
#[inline(always)]
pub(crate) fn generic_handle_irq_desc(sys: &IrqSystem, desc: &IrqDesc, ctx: &HardIrq) {
    let mut slot = Some(desc.inner.lock_hardirq(sys, ctx));
    // fasteoi (GIC, IO-APIC, MSI: most interrupts) runs with the guard in place; see
    // `DescSlot` for why moving it costs.
    if slot.as_ref().is_some_and(|g| matches!(g.handler, FlowHandler::FastEoi)) {
        return fasteoi::handle_fasteoi_irq_in_place(sys, desc, &mut slot, ctx);
    }
    let Some(g) = slot else { return };
    match &g.handler {
        FlowHandler::Level => level::handle_level_irq(sys, desc, g, ctx),
        FlowHandler::Edge => edge::handle_edge_irq(sys, desc, g, ctx),
        FlowHandler::FastEoi => fasteoi::handle_fasteoi_irq(sys, desc, g, ctx),
        FlowHandler::FastEoiAck => fasteoi::handle_fasteoi_ack_irq(sys, desc, g, ctx),
        FlowHandler::FastEoiMask => fasteoi::handle_fasteoi_mask_irq(sys, desc, g, ctx),
        FlowHandler::Simple => simple::handle_simple_irq(sys, desc, g, ctx),
        FlowHandler::Untracked => simple::handle_untracked_irq(sys, desc, g, ctx),
        FlowHandler::PerCpu => percpu::handle_percpu_irq(sys, desc, g, ctx),
        FlowHandler::PerCpuDevid => percpu::handle_percpu_devid_irq(sys, desc, g, ctx),
        FlowHandler::FastEoiNmi => percpu::handle_fasteoi_nmi(sys, desc, g, ctx),
        FlowHandler::Chained(h) => {
            let h = h.clone();
            kstat_incr_irqs_this_cpu(sys, desc, &g);
            drop(g);
            h(sys, desc, ctx)
        }
        FlowHandler::Nested | FlowHandler::Bad => nested::handle_bad_irq(sys, desc, g),
    }
}

/// `kstat_incr_irqs_this_cpu`: per-CPU count and `tot_count`. `_locked` proves the
/// descriptor lock is held, which serialises `tot_count` writers (plain load/store).
/// Returns this CPU's state so the flow hands it on to [`handle_irq_event`] instead
/// of asking the platform twice per interrupt.
///
/// [`handle_irq_event`]: super::handle::handle_irq_event
#[inline]
pub(crate) fn kstat_incr_irqs_this_cpu<'s>(
    sys: &'s IrqSystem,
    desc: &IrqDesc,
    _locked: &DescInner,
) -> Option<&'s CpuState> {
    let this_cpu = sys.this_cpu_opt();
    if let Some(cpu) = this_cpu {
        sys.irq.descs.kstat_inc(cpu.id(), desc.irq());
    }
    let t = desc.tot_count.load(crate::sync::atomic::Ordering::Relaxed);
    desc.tot_count.store(t.wrapping_add(1), crate::sync::atomic::Ordering::Relaxed);
    this_cpu
}

/// `irq_can_handle_pm` (spec 1.3). May drop and retake the lock to busy-wait.
#[inline(always)]
pub(crate) fn irq_can_handle_pm<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    is_edge: bool,
) -> (DescGuard<'a>, bool) {
    if !desc.irqd().intersects(IrqdState::IRQ_INPROGRESS | IrqdState::WAKEUP_ARMED) {
        return (g, true);
    }
    irq_can_handle_pm_slow(sys, desc, g, is_edge)
}

#[cold]
fn irq_can_handle_pm_slow<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    mut g: DescGuard<'a>,
    is_edge: bool,
) -> (DescGuard<'a>, bool) {
    let st = desc.irqd();
    if st.contains(IrqdState::WAKEUP_ARMED) {
        super::pm::irq_pm_handle_wakeup(sys, desc, &mut g);
        return (g, false);
    }
    let here = sys.current_cpu().map(|c| c.0 + 1).unwrap_or(0);
    if g.istate.contains(IrqsState::POLL_INPROGRESS) {
        if sys.irq.poller.load(crate::sync::atomic::Ordering::Acquire) == here {
            sys.irq
                .log_line(sys, alloc::format!("irq {}: poll in progress on this cpu", desc.irq()));
            return (g, false);
        }
        let g = wait_on_inprogress(sys, desc, g);
        let ok = !desc.is_disabled() && g.has_action();
        return (g, ok);
    }
    // In progress on another CPU: an edge line whose single-target effective affinity
    // just moved here waits for the old CPU, so the edge is not lost.
    let moved_here = is_edge
        && st.contains(IrqdState::SINGLE_TARGET)
        && g.effective.first().map(|c| c.0 + 1) == Some(here);
    if moved_here && sys.nr_cpus() > 1 {
        let g = wait_on_inprogress(sys, desc, g);
        return (g, true);
    }
    (g, false)
}

fn wait_on_inprogress<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
) -> DescGuard<'a> {
    drop(g);
    while desc.in_progress() {
        spin_hint();
    }
    desc.inner.lock_irqsave(sys)
}

/// `irq_can_handle_actions`: clears REPLAY|WAITING; refuses (setting PENDING) if there
/// is no action or the line is disabled.
#[inline]
pub(crate) fn irq_can_handle_actions(desc: &IrqDesc, inner: &mut DescInner) -> bool {
    inner.istate.remove(IrqsState::REPLAY | IrqsState::WAITING);
    if !inner.has_action() || desc.is_disabled() {
        inner.istate.insert(IrqsState::PENDING);
        return false;
    }
    true
}

/// `irq_can_handle`: PM check then action check.
#[inline(always)]
pub(crate) fn irq_can_handle<'a>(
    sys: &'a IrqSystem,
    desc: &'a IrqDesc,
    g: DescGuard<'a>,
    is_edge: bool,
) -> (DescGuard<'a>, bool) {
    let (mut g, ok) = irq_can_handle_pm(sys, desc, g, is_edge);
    if !ok {
        return (g, false);
    }
    let ok = irq_can_handle_actions(desc, &mut g);
    (g, ok)
}
