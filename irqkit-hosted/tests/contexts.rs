//! Context predicates on the hosted machine, in every context a CPU can be in.
//! Rules: include/linux/preempt.h (the count layout), kernel/softirq.c (irq_enter/exit),
//! kernel/entry/common.c (nmi_enter adds NMI_OFFSET + HARDIRQ_OFFSET).

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use irqkit_core::cpu::preempt::{HARDIRQ_OFFSET, NMI_OFFSET};
use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

#[test]
fn preempt_count_is_zero_and_in_task_in_a_kernel_thread() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 100, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    let (pc, task, intr, dis) = m
        .run_on(CpuId(1), move |_t| {
            (sys.preempt_count(), sys.in_task(), sys.in_interrupt(), sys.irqs_disabled())
        })
        .unwrap();
    assert_eq!((pc, task, intr, dis), (0, true, false, false));
}

#[test]
fn hardirq_handler_sees_hardirq_offset_and_masked_irqs_and_nested_nmi_sees_both() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    let seen_hard = Arc::new(AtomicU32::new(u32::MAX));
    let seen_nmi = Arc::new(AtomicU32::new(u32::MAX));
    let nmi_from_hardirq = Arc::new(AtomicU64::new(0));
    let (h, n, nh) = (seen_hard.clone(), seen_nmi.clone(), nmi_from_hardirq.clone());
    m.set_nmi_handler(move |sys, _nmi, _cpu| {
        n.store(sys.preempt_count(), Ordering::SeqCst);
        assert!(sys.in_nmi() && sys.in_hardirq() && !sys.in_task());
    });
    m.set_vector_handler(0x40, move |sys, _hard, cpu| {
        assert!(sys.in_hardirq() && !sys.in_nmi() && !sys.in_task() && sys.irqs_disabled());
        h.store(sys.preempt_count(), Ordering::SeqCst);
        // An NMI raised on our own CPU nests inside this hard-irq handler.
        assert_eq!(irqkit_hosted::current_cpu(), Some(cpu));
        nh.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    m.raise(CpuId(1), 0x40).unwrap();
    common::wait_until("hard irq", || seen_hard.load(Ordering::SeqCst) != u32::MAX);
    assert_eq!(seen_hard.load(Ordering::SeqCst), HARDIRQ_OFFSET);
    m.raise_nmi(CpuId(0)).unwrap();
    common::wait_until("nmi", || seen_nmi.load(Ordering::SeqCst) != u32::MAX);
    assert_eq!(seen_nmi.load(Ordering::SeqCst), HARDIRQ_OFFSET + NMI_OFFSET);
}

#[test]
fn nmi_nested_in_a_hardirq_counts_both_levels() {
    let m = Machine::new(MachineConfig { nr_cpus: 1, hz: 0, ..Default::default() }).unwrap();
    let seen = Arc::new(AtomicU32::new(u32::MAX));
    let s = seen.clone();
    m.set_nmi_handler(move |sys, _nmi, _cpu| s.store(sys.preempt_count(), Ordering::SeqCst));
    let m = Arc::new(m);
    let m2 = m.clone();
    m.set_vector_handler(0x41, move |_sys, _hard, cpu| {
        // Self-NMI: taken at once, even though hard-irq context has irqs masked.
        m2.raise_nmi(cpu).unwrap();
    })
    .unwrap();
    m.raise(CpuId(0), 0x41).unwrap();
    common::wait_until("nested nmi", || seen.load(Ordering::SeqCst) != u32::MAX);
    assert_eq!(seen.load(Ordering::SeqCst), 2 * HARDIRQ_OFFSET + NMI_OFFSET);
    // The handler holds an Arc of the machine: drop that cycle before the machine.
    m.set_vector_handler(0x41, |_, _, _| {}).unwrap();
}

#[test]
fn preempt_disable_nests_and_masks_preemption_in_task_context() {
    let m = Machine::new(MachineConfig { nr_cpus: 1, hz: 1000, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    let (a, b, c) = m
        .run_on(CpuId(0), move |_t| {
            sys.preempt_disable();
            sys.preempt_disable();
            let a = sys.preempt_count();
            sys.preempt_enable();
            let b = sys.preempt_count();
            sys.preempt_enable();
            (a, b, sys.preempt_count())
        })
        .unwrap();
    assert_eq!((a, b, c), (2, 1, 0));
}

/// Preempt count seen by the BLOCK softirq action (a plain fn pointer cannot capture).
static SOFTIRQ_PC: AtomicU32 = AtomicU32::new(u32::MAX);

fn block_action(sys: &irqkit_core::IrqSystem, _ctx: &irqkit_core::SoftIrq) {
    assert!(sys.in_serving_softirq() && sys.in_softirq() && !sys.in_task());
    assert!(!sys.in_hardirq() && !sys.irqs_disabled(), "softirqs run with irqs enabled");
    SOFTIRQ_PC.store(sys.preempt_count(), Ordering::SeqCst);
}

#[test]
fn softirq_raised_in_hardirq_runs_at_irq_exit_serving_with_irqs_enabled() {
    use irqkit_core::softirq::SoftirqVec;
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    m.sys().open_softirq(SoftirqVec::Block, block_action).unwrap();
    m.set_vector_handler(0x42, |sys, _hard, _cpu| {
        sys.raise_softirq(SoftirqVec::Block).unwrap();
    })
    .unwrap();
    m.raise(CpuId(1), 0x42).unwrap();
    common::wait_until("softirq ran", || SOFTIRQ_PC.load(Ordering::SeqCst) != u32::MAX);
    // Serving: SOFTIRQ_OFFSET alone (the hardirq count was already dropped).
    assert_eq!(SOFTIRQ_PC.load(Ordering::SeqCst), irqkit_core::cpu::preempt::SOFTIRQ_OFFSET);
}

#[test]
fn bh_disabled_section_is_in_softirq_but_not_serving_and_still_task() {
    use irqkit_core::cpu::preempt::SOFTIRQ_DISABLE_OFFSET;
    let m = Machine::new(MachineConfig { nr_cpus: 1, hz: 1000, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    let (pc, in_sirq, serving, task, intr) = m
        .run_on(CpuId(0), move |_t| {
            sys.local_bh_disable();
            let r = (
                sys.preempt_count(),
                sys.in_softirq(),
                sys.in_serving_softirq(),
                sys.in_task(),
                sys.in_interrupt(),
            );
            sys.local_bh_enable().unwrap();
            r
        })
        .unwrap();
    assert_eq!(pc, SOFTIRQ_DISABLE_OFFSET);
    assert!(in_sirq && !serving && task && intr);
}
