//! `handle_nested_irq` (called from a parent's irq thread) and `handle_bad_irq`.
//!
//! A nested line belongs to a controller behind a slow bus (I2C GPIO expander): its
//! parent's *threaded* handler reads the expander and calls [`handle_nested_irq`] for
//! each source, which runs the child's thread functions right there, in task context.

use alloc::format;

use super::{irq_can_handle_actions, kstat_incr_irqs_this_cpu};
use crate::cpu::Task;
use crate::irq::action::ThreadPart;
use crate::irq::desc::IrqDesc;
use crate::irq::flags::{IrqReturn, IrqSettings};
use crate::irq::handle::DescGuard;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

/// `handle_nested_irq`: action check, count, run every thread_fn, note, release waiters.
pub(crate) fn handle_nested_irq(
    sys: &IrqSystem,
    irq: u32,
    task: &Task,
) -> Result<IrqReturn, IrqError> {
    let desc = sys.irq_to_desc(irq)?;
    let mut g = desc.inner.lock_irqsave(sys);
    if !irq_can_handle_actions(desc, &mut g) {
        return Ok(IrqReturn::NONE);
    }
    kstat_incr_irqs_this_cpu(sys, desc, &g);
    desc.threads_active.fetch_add(1, Ordering::AcqRel);
    let actions = g.actions.clone();
    drop(g);
    let mut ret = IrqReturn::NONE;
    for a in actions.iter().flat_map(|l| l.iter()) {
        if let Some(ThreadPart::Thread(f)) = &a.thread_fn {
            ret |= f(task);
        }
    }
    let mut g = desc.inner.lock_irqsave(sys);
    if !g.settings.contains(IrqSettings::NO_DEBUG) {
        crate::irq::spurious::note_interrupt(sys, desc, &mut g, ret);
    }
    drop(g);
    if desc.threads_active.fetch_sub(1, Ordering::AcqRel) == 1 {
        sys.irq.wait_for_threads.wake_all(sys);
    }
    Ok(ret)
}

/// `handle_bad_irq`: report, count, nothing else (`ack_bad_irq` is the arch's).
pub(crate) fn handle_bad_irq<'a>(sys: &'a IrqSystem, desc: &'a IrqDesc, g: DescGuard<'a>) {
    kstat_incr_irqs_this_cpu(sys, desc, &g);
    drop(g);
    sys.irq.log_line(sys, format!("unexpected IRQ trap at vector {}", desc.irq()));
}

impl IrqSystem {
    /// `handle_nested_irq`: runs the thread functions of nested line `irq` from the
    /// parent's irq thread (hence `&Task`).
    pub fn handle_nested_irq(&self, irq: u32, task: &Task) -> Result<IrqReturn, IrqError> {
        handle_nested_irq(self, irq, task)
    }
}
