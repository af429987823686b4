//! The HI and TASKLET softirq actions, and taking over a dead CPU's lists.

use super::{action_step, Step, TASKLET_STATE_RUN};
use crate::cpu::{CpuId, SoftIrq};
use crate::softirq::{BhWarning, SoftirqVec};
use crate::sync::counted::release_if_unowned;
use crate::{IrqError, IrqSystem};

/// TASKLET_SOFTIRQ's action (`tasklet_action`).
pub(crate) fn tasklet_action(sys: &IrqSystem, tok: &SoftIrq) {
    tasklet_action_common(sys, SoftirqVec::Tasklet, tok);
}

/// HI_SOFTIRQ's action (`tasklet_hi_action`).
pub(crate) fn tasklet_hi_action(sys: &IrqSystem, tok: &SoftIrq) {
    tasklet_action_common(sys, SoftirqVec::Hi, tok);
}

#[inline(always)]
fn tasklet_action_common(sys: &IrqSystem, vec: SoftirqVec, tok: &SoftIrq) {
    // The dispatcher's token names the CPU; only a hand-made token needs the lookup.
    let Some(cpu) = tok.cpu().or_else(|| sys.current_cpu()) else { return };
    let runner = if vec == SoftirqVec::Hi { 0 } else { 1 };
    if let Some(run_bh_pool) = sys.tasklets.bh_work[runner].load() {
        run_bh_pool(sys, tok);
    }
    let list = sys.tasklets.cpus[cpu].list(vec);
    if list.is_empty() {
        return;
    }
    let Ok(state) = sys.cpu(cpu) else { return };
    let flags = sys.irq_save_on(state);
    // SAFETY: softirq context stays on `cpu`, and its interrupts are masked.
    let chain = unsafe { list.take_irqoff() };
    sys.irq_restore_on(state, flags);
    for p in chain {
        // SAFETY: the chain handed over the claim (SCHED), so the tasklet is alive
        // until action_step's last write; `t` is not used after it.
        let t = unsafe { p.as_ref() };
        let old = match action_step(&t.state, || (t.func)(tok)) {
            Step::Ran(old) => old,
            Step::Requeue => {
                let flags = sys.irq_save_on(state);
                // SAFETY: `p` was just handed out by the detached chain; masked on
                // this CPU.
                unsafe { list.push_irqoff(p) };
                // __raise_softirq_irqoff: the running loop (or ksoftirqd) comes back.
                sys.softirq.cpus[cpu].or_pending_irqoff(1 << vec.nr());
                sys.irq_restore_on(state, flags);
                continue;
            }
            Step::SchedNotSet(old) => {
                sys.softirq.warn(BhWarning::TaskletSchedNotSet);
                old
            }
        };
        // SAFETY: action_step's last write cleared RUN; a tasklet whose last handle
        // went while it was queued or running is ours to free.
        unsafe { release_if_unowned(p, old, TASKLET_STATE_RUN as u64) };
    }
}

impl IrqSystem {
    /// `tasklets_cpu_dead`: moves the offline CPU `dead`'s queued tasklets to this CPU,
    /// in order, and raises both vectors here so none is lost. As Linux's
    /// CPUHP_SOFTIRQ_DEAD step, call it once `dead` runs nothing any more: its lists
    /// are then this caller's alone.
    pub fn tasklets_takeover(&self, dead: CpuId) -> Result<(), IrqError> {
        let here = self.this_cpu_opt().ok_or(IrqError::WrongContext("takeover off-cpu"))?;
        let from = self.tasklets.cpus.get(dead).ok_or(IrqError::NotFound("no such cpu"))?;
        if self.cpu(dead)?.online() {
            return Err(IrqError::Busy("cpu is still online"));
        }
        if dead == here.id() {
            return Ok(());
        }
        let flags = self.irq_save_on(here);
        for vec in [SoftirqVec::Hi, SoftirqVec::Tasklet] {
            let to = self.tasklets.cpus[here.id()].list(vec);
            let mut moved = false;
            // SAFETY: `dead` runs nothing (the caller's contract), so its queue is ours.
            for t in unsafe { from.list(vec).take_irqoff() } {
                // SAFETY: `t` was just handed out by the dead CPU's chain; masked here.
                unsafe { to.push_irqoff(t) };
                moved = true;
            }
            if moved {
                self.softirq.cpus[here.id()].or_pending_irqoff(1 << vec.nr());
            }
        }
        self.irq_restore_on(here, flags);
        Ok(())
    }
}
