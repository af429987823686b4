//! Arch entry of the hosted machine: from "a vector is pending" to handlers and back.
//!
//! The same path serves a signal that found the CPU unmasked, a replay when the soft
//! mask is lifted, and the idle loop's wake-up: mask, take every pending vector (each
//! bracketed by `irq_enter`/`irq_exit`), offer a preemption point, unmask, and loop
//! while anything arrived meanwhile.

use std::sync::atomic::Ordering;

use irqkit_core::cpu::CpuState;
use irqkit_core::{CpuId, IrqSystem};

use crate::hostcpu::bump;
use crate::shared::Shared;
use crate::thread_ctx;
use crate::vectors::*;

impl Shared {
    /// Interrupt entry. The caller's CPU must have interrupts enabled (soft mask clear).
    pub(crate) fn irq_entry(&self, sys: &IrqSystem) {
        loop {
            let Some(cpu) = thread_ctx::current_cpu() else { return };
            let cs = sys.cpu(cpu).expect("cpu exists");
            let hc = &self.cpus[cpu.index()];
            let flags = cs.irq_save_raw();
            cs.set_irq_deferred(false);
            if hc.nmi_pending.load(Ordering::Relaxed) != 0 {
                self.drain_nmi(sys, cpu);
            }
            let mut taken = 0u32;
            for w in 0..4 {
                let mut bits = hc.pending[w].swap(0, Ordering::AcqRel);
                while bits != 0 {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    self.dispatch(sys, cpu, (w as u32 * 64 + b) as u8);
                    taken += 1;
                }
            }
            if taken == 0 {
                bump(&hc.counters.spurious);
            }
            // Return-from-interrupt preemption point; may resume on another CPU.
            sys.irq_exit_preempt();
            let Some(cpu) = thread_ctx::current_cpu() else { return };
            let cs = sys.cpu(cpu).expect("cpu exists");
            let again = cs.irq_restore_raw(flags);
            if !again && !self.cpus[cpu.index()].has_work() {
                // A signal that hit the masked hard-irq part left the interrupt signal
                // blocked on this thread. Unblock before returning: the caller may be
                // task code (a replay), where nothing else would ever lift the block.
                if thread_ctx::sig_blocked() {
                    thread_ctx::set_sig_blocked(false);
                    crate::signals::unblock_irq_signal();
                }
                return;
            }
        }
    }

    /// The per-CPU tick, from the LOC vector or a controller's timer line: jiffies,
    /// timer softirq, irq_work_tick, scheduler_tick, then the machine's tick hooks.
    pub(crate) fn run_tick(&self, sys: &IrqSystem, tok: &irqkit_core::HardIrq, cpu: CpuId) {
        bump(&self.cpus[cpu.index()].counters.ticks);
        sys.tick(tok);
        let hooks = self.tick_hooks.lock().clone();
        for h in hooks.iter() {
            h(sys, tok, cpu);
        }
    }

    /// Takes one vector on `cpu` in hard-irq context.
    fn dispatch(&self, sys: &IrqSystem, cpu: CpuId, v: u8) {
        let hc = &self.cpus[cpu.index()];
        let tok = sys.irq_enter();
        bump(&hc.counters.vectors[v as usize]);
        match v {
            LOCAL_TIMER_VECTOR => self.run_tick(sys, &tok, cpu),
            // need_resched was set by the sender; the exit path switches.
            RESCHEDULE_VECTOR => {}
            IRQ_WORK_VECTOR => sys.irq_work_run(&tok),
            CALL_FUNCTION_VECTOR => loop {
                let f = self.calls[cpu.index()].lock().pop_front();
                match f {
                    Some(f) => f(sys, &tok),
                    None => break,
                }
            },
            _ => {
                // Lock-free: no spinlock, no Arc clone per interrupt (`publish.rs`).
                match self.handlers[v as usize].get() {
                    Some(h) => h(sys, &tok, cpu),
                    None => bump(&hc.counters.unhandled),
                }
            }
        }
        sys.irq_exit(tok);
    }

    /// Delivers what arrived while `cs` was masked. Called right after the mask was
    /// cleared, on the CPU's holder thread.
    pub(crate) fn replay(&self, sys: &IrqSystem, cs: &CpuState) {
        cs.set_irq_deferred(false);
        if thread_ctx::sig_blocked() {
            // Signals that were kept blocked and queued by the kernel arrive now.
            thread_ctx::set_sig_blocked(false);
            crate::signals::unblock_irq_signal();
        }
        if self.cpus[cs.id().index()].has_work() && !cs.irqs_disabled() {
            self.irq_entry(sys);
        }
    }

    /// After a thread takes a CPU: interrupts may have kicked the previous holder, so
    /// look at the pending words and mark them for replay at the next unmask.
    pub(crate) fn after_handoff(&self, sys: &IrqSystem, cpu: CpuId) {
        if self.cpus[cpu.index()].has_work() {
            sys.cpu(cpu).expect("cpu exists").set_irq_deferred(true);
        }
    }
}
