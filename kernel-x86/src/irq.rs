//! Interrupt dispatch for vectors 32..255 and the lazy interrupt mask.
//!
//! irqkit-core's `local_irq_save` sets a per-CPU *soft* mask; hardware IF stays set.
//! When an interrupt arrives while the soft mask is set, [`do_vector`] records its
//! vector in the CPU's deferred bitmap, tells the core (`set_irq_deferred`), clears IF in
//! the interrupted context's saved RFLAGS and returns without EOI: the interrupted code
//! keeps running with hardware interrupts off. When the core lifts the soft mask it calls
//! `Platform::replay_irqs`, which runs the deferred vectors highest first (the order of
//! their in-service bits, so each EOI retires the right one) and sets IF again. This is
//! powerpc's lazy masking; it makes every `SpinLockIrq` of the core safe against the
//! handlers on its own CPU.
//!
//! Every handled interrupt is bracketed by `irq_enter`/`irq_exit` with the soft mask set,
//! as the core's context rules require; `irq_exit` runs pending softirqs. Device
//! vectors go through the vector domain's per-CPU table to `generic_handle_irq`, whose
//! flow handler EOIs through the chip ([`crate::x86irq`]).

use core::sync::atomic::Ordering;

use irqkit_core::cpu::CpuState;
use irqkit_core::{CpuId, HardIrq, Ipi, IrqSystem};

use crate::idt::TrapFrame;
use crate::lapic::{
    CALL_FUNCTION_VECTOR, ERROR_VECTOR, IRQ_WORK_VECTOR, RESCHEDULE_VECTOR, SPURIOUS_VECTOR,
    TIMER_VECTOR,
};
use crate::percpu::{self, CpuArea};
use crate::{
    arch, clockevent, cyclictest, kprintln, lapic, platform, selftest_sched, switch, tick_sched,
    timer_trace, traps, x86irq,
};

const RFLAGS_IF: u64 = 1 << 9;

/// Entry from `common_entry` for every vector.
#[no_mangle]
extern "C" fn do_vector(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    if vector < 32 {
        traps::handle_exception(frame);
        return;
    }
    let area = percpu::this_area();
    if vector == SPURIOUS_VECTOR {
        // No EOI for the spurious vector: it never set an in-service bit.
        area.vector_counts[vector as usize].fetch_add(1, Ordering::Relaxed);
        return;
    }
    if vector == TIMER_VECTOR {
        area.timer_entry_tsc.store(arch::rdtsc(), Ordering::Relaxed);
        area.timer_entry_rip.store(frame.rip, Ordering::Relaxed);
        timer_trace::record(area.cpu as usize, timer_trace::Ev::Entry, frame.rip);
    }
    let sys = platform::system();
    let cpu = sys.this_cpu();
    if cpu.irqs_disabled() {
        area.deferred[vector as usize / 64].fetch_or(1 << (vector % 64), Ordering::Relaxed);
        area.deferred_count.fetch_add(1, Ordering::Relaxed);
        cpu.set_irq_deferred(true);
        frame.rflags &= !RFLAGS_IF;
        return;
    }
    handle_vector(sys, cpu, area, vector);
    switch::maybe_preempt(frame);
}

/// Runs one interrupt's handler inside `irq_enter`/`irq_exit`, then EOIs it.
fn handle_vector(sys: &IrqSystem, cpu: &CpuState, area: &CpuArea, vector: u8) {
    let flags = cpu.irq_save_raw();
    tick_sched::irq_enter(area.cpu as usize);
    let hardirq = sys.irq_enter();
    area.vector_counts[vector as usize].fetch_add(1, Ordering::Relaxed);
    let mut eoi = true;
    match vector {
        TIMER_VECTOR => timer_interrupt(sys, area, &hardirq),
        CALL_FUNCTION_VECTOR => call_function_interrupt(sys, area, &hardirq),
        IRQ_WORK_VECTOR => sys.irq_work_run(&hardirq),
        ERROR_VECTOR => {
            let esr = lapic::read_esr();
            kprintln!("APIC error on CPU {}: ESR {:#x}", area.cpu, esr);
        }
        // need_resched was set by the sender; the interrupt return path switches.
        RESCHEDULE_VECTOR => {}
        _ => {
            // A device vector: the flow handler EOIs through the chip (and the
            // dispatch EOIs a vector with no irq itself).
            eoi = false;
            match x86irq::handle_device_vector(sys, &hardirq, vector) {
                Ok(Some(irq)) => {
                    if let Some(c) = area.irq_deliveries.get(irq as usize) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // A stray on a vector a move left behind: expected, not "no handler".
                Ok(None) => {}
                Err(_) => {
                    area.unknown_vectors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if eoi {
        lapic::eoi();
    }
    sys.irq_exit(hardirq);
    // The hardware mask is still off here, so nothing can have been deferred.
    let _ = cpu.irq_restore_raw(flags);
}

/// `Platform::replay_irqs`: runs the interrupts the lazy mask deferred, then sets IF.
pub fn replay_deferred(cpu: &CpuState) {
    let sys = platform::system();
    let area = percpu::area(cpu.id().index());
    arch::hw_irq_save();
    cpu.set_irq_deferred(false);
    for word in (0..4).rev() {
        let mut bits = area.deferred[word].swap(0, Ordering::Relaxed);
        while bits != 0 {
            let bit = 63 - bits.leading_zeros();
            bits &= !(1u64 << bit);
            handle_vector(sys, cpu, area, (word * 64) as u8 + bit as u8);
        }
    }
    arch::hw_irq_restore(true);
    // In Linux the held-off interrupt arrives at `local_irq_enable` and preempts on its
    // way out if it woke something more urgent; the replayed one does the same here.
    if area.sched_ready.load(Ordering::Relaxed) {
        sys.preempt_check_resched();
    }
}

fn timer_interrupt(sys: &IrqSystem, area: &CpuArea, hardirq: &HardIrq) {
    if !sys.in_hardirq() {
        area.bad_context.store(true, Ordering::Relaxed);
    }
    let due = clockevent::expire(area.cpu as usize);
    if due.hrtimer {
        cyclictest::hrtimer_fired(sys, area.cpu as usize, hardirq);
    }
    if due.tick {
        area.ticks.fetch_add(1, Ordering::Relaxed);
        // Linux releases a moved irq's old vector from a timer on the old CPU.
        x86irq::vector_cleanup();
        if area.sched_ready.load(Ordering::Relaxed) {
            // jiffies, the timer wheel's softirq, irq_work_tick and scheduler_tick.
            sys.tick(hardirq);
        }
        selftest_sched::on_tick(sys, area.cpu as usize, hardirq);
    }
}

/// The IPI ping-pong of the self-test: answer pings with a CAL back to the sender, and
/// record answers to this CPU's own pings.
fn call_function_interrupt(sys: &IrqSystem, area: &CpuArea, _hardirq: &HardIrq) {
    let pings = area.ping_from.swap(0, Ordering::AcqRel);
    for src in bits(pings) {
        percpu::area(src).pong_pending.fetch_or(1 << area.cpu, Ordering::AcqRel);
        if sys.platform().send_ipi(CpuId(src as u32), Ipi::CallFunction).is_err() {
            area.bad_context.store(true, Ordering::Relaxed);
        }
    }
    let pongs = area.pong_pending.swap(0, Ordering::AcqRel);
    area.pong_from.fetch_or(pongs, Ordering::AcqRel);
}

/// The set bits of `v`, lowest first.
pub fn bits(mut v: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if v == 0 {
            return None;
        }
        let b = v.trailing_zeros() as usize;
        v &= v - 1;
        Some(b)
    })
}
