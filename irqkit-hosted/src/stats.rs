//! `CpuStats`: what one virtual CPU did — ticks, IPIs, NMIs, switches.

use std::sync::atomic::Ordering::Relaxed;

use irqkit_core::sched::RunQueueStats;

use crate::hostcpu::HostCpu;
use crate::vectors::*;

/// Counters of one CPU (the arch rows of `/proc/interrupts` plus scheduler counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Tick interrupts (LOC on x86; the arch timer PPI on a GIC machine).
    pub ticks: u64,
    /// Rescheduling IPIs (RES).
    pub resched_ipis: u64,
    /// Function-call IPIs (CAL).
    pub call_ipis: u64,
    /// irq_work IPIs (IWI).
    pub irq_work_ipis: u64,
    /// NMIs taken.
    pub nmis: u64,
    /// Device-vector interrupts taken.
    pub device_irqs: u64,
    /// Device vectors taken with no handler installed.
    pub unhandled: u64,
    /// Entries that found nothing pending (a signal raced with a handoff).
    pub spurious_entries: u64,
    /// Context switches.
    pub switches: u64,
    /// Involuntary preemptions.
    pub preemptions: u64,
    /// Idle entries that went to sleep in the host (after any idle poll).
    pub idle_sleeps: u64,
    /// Idle entries that polled first ([`crate::MachineConfig::idle_poll_ns`]).
    pub idle_polls: u64,
    /// Idle polls ended by work or a reschedule (no sleep, no host wake-up).
    pub idle_poll_hits: u64,
    /// Handoffs of this CPU to a thread that had to be woken from its futex.
    pub handoff_wakeups: u64,
}

impl CpuStats {
    pub(crate) fn read(hc: &HostCpu, rq: RunQueueStats) -> Self {
        let v = |x: u8| hc.counters.vectors[x as usize].load(Relaxed);
        let device_irqs = (FIRST_EXTERNAL_VECTOR..FIRST_SYSTEM_VECTOR).map(v).sum();
        CpuStats {
            ticks: hc.counters.ticks.load(Relaxed),
            resched_ipis: v(RESCHEDULE_VECTOR),
            call_ipis: v(CALL_FUNCTION_VECTOR),
            irq_work_ipis: v(IRQ_WORK_VECTOR),
            nmis: hc.counters.nmis.load(Relaxed),
            device_irqs,
            unhandled: hc.counters.unhandled.load(Relaxed),
            spurious_entries: hc.counters.spurious.load(Relaxed),
            switches: rq.switches,
            preemptions: rq.preemptions,
            idle_sleeps: hc.counters.idle_sleeps.load(Relaxed),
            idle_polls: hc.counters.idle_polls.load(Relaxed),
            idle_poll_hits: hc.counters.idle_poll_hits.load(Relaxed),
            handoff_wakeups: hc.counters.handoff_wakeups.load(Relaxed),
        }
    }
}
