//! Conformance tests for softirqs, named after the rule they check (kernel/softirq.c,
//! fs/proc/softirqs.c), on `FakePlatform`.

use std::cell::RefCell;
use std::sync::Arc;

use irqkit_core::softirq::{BhWarning, SoftirqVec, MAX_SOFTIRQ_RESTART};
use irqkit_core::sync::SpinLock;
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, IrqError, IrqSystem, SoftIrq};

thread_local! {
    static LOG: RefCell<Vec<(usize, u32, bool)>> = const { RefCell::new(Vec::new()) };
    static PLAT: RefCell<Option<Arc<FakePlatform>>> = const { RefCell::new(None) };
}

fn log() -> Vec<(usize, u32, bool)> {
    LOG.with(|l| l.borrow().clone())
}

/// Records (vector, preempt count, irqs disabled) for each run.
fn rec(sys: &IrqSystem, nr: usize) {
    LOG.with(|l| l.borrow_mut().push((nr, sys.preempt_count(), sys.irqs_disabled())));
}
fn net_rx(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 3)
}
fn block(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 4)
}
fn rcu(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 9)
}
fn reraise(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 2);
    sys.raise_softirq(SoftirqVec::NetTx).unwrap();
}
fn slow_reraise(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 2);
    // One millisecond passes: the tick interrupt that arrives meanwhile moves jiffies.
    PLAT.with(|p| {
        p.borrow().as_ref().unwrap().now.fetch_add(1_000_000, std::sync::atomic::Ordering::SeqCst);
    });
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    sys.tick(&h);
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
    sys.raise_softirq(SoftirqVec::NetTx).unwrap();
}
fn resched_reraise(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 2);
    sys.this_cpu().set_need_resched(true);
    sys.raise_softirq(SoftirqVec::NetTx).unwrap();
}
fn leaky(sys: &IrqSystem, _: &SoftIrq) {
    rec(sys, 5);
    sys.preempt_disable();
}

fn setup() -> (Arc<IrqSystem>, Arc<FakePlatform>) {
    LOG.with(|l| l.borrow_mut().clear());
    let (sys, p) = FakePlatform::system(4);
    PLAT.with(|x| *x.borrow_mut() = Some(p.clone()));
    (sys, p)
}

/// Runs `f` inside a hard interrupt on the current CPU.
fn in_irq(sys: &IrqSystem, f: impl FnOnce()) {
    let flags = sys.local_irq_save();
    let h = sys.irq_enter();
    f();
    sys.irq_exit(h);
    sys.local_irq_restore(flags);
}

// kernel/softirq.c open_softirq: one action per vector (irqkit refuses a second one).
#[test]
fn open_softirq_on_an_opened_vector_is_busy() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    assert!(matches!(sys.open_softirq(SoftirqVec::NetRx, block), Err(IrqError::Busy(_))));
    for pre in [SoftirqVec::Hi, SoftirqVec::Timer, SoftirqVec::Tasklet] {
        assert!(sys.softirq_is_open(pre));
        assert!(matches!(sys.open_softirq(pre, block), Err(IrqError::Busy(_))));
    }
}

// kernel/softirq.c handle_softirqs: bits processed lowest first, with interrupts enabled
// and SOFTIRQ_OFFSET held, at irq_exit.
#[test]
fn irq_exit_runs_pending_vectors_lowest_first_with_irqs_enabled() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    sys.open_softirq(SoftirqVec::Block, block).unwrap();
    sys.open_softirq(SoftirqVec::Rcu, rcu).unwrap();
    in_irq(&sys, || {
        for v in [SoftirqVec::Rcu, SoftirqVec::Block, SoftirqVec::NetRx] {
            sys.raise_softirq(v).unwrap();
        }
        assert!(log().is_empty(), "no softirq runs in hardirq context");
    });
    let l = log();
    assert_eq!(l.iter().map(|e| e.0).collect::<Vec<_>>(), [3, 4, 9]);
    assert!(l.iter().all(|e| e.1 == 0x100 && !e.2), "served with SOFTIRQ_OFFSET, irqs on");
    assert_eq!(sys.softirq_count(CpuId(0), SoftirqVec::NetRx), 1);
    assert_eq!(sys.ksoftirqd_wakeups(CpuId(0)), 0, "raised in hardirq: no ksoftirqd");
    assert_eq!(sys.preempt_count(), 0);
}

// kernel/softirq.c irq_exit: a nested interrupt's exit is still in interrupt context.
#[test]
fn nested_irq_exit_does_not_run_softirqs() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    in_irq(&sys, || {
        in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetRx).unwrap());
        assert!(log().is_empty());
    });
    assert_eq!(log().len(), 1);
}

// include/linux/bottom_half.h + kernel/softirq.c __local_bh_enable_ip: nothing runs in
// a bh-disabled section; pending work runs at the outermost local_bh_enable.
#[test]
fn bh_disabled_section_defers_softirqs_to_outermost_enable() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    sys.local_bh_disable();
    sys.local_bh_disable();
    assert_eq!(sys.preempt_count(), 0x400);
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetRx).unwrap());
    assert!(log().is_empty(), "irq_exit inside bh-disabled section runs nothing");
    sys.raise_softirq(SoftirqVec::NetRx).unwrap();
    assert_eq!(sys.ksoftirqd_wakeups(CpuId(0)), 0, "bh-disabled counts as interrupt context");
    sys.local_bh_enable().unwrap();
    assert!(log().is_empty(), "inner enable runs nothing");
    sys.local_bh_enable().unwrap();
    let l = log();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].1, 0x101, "ran in task context with preemption still disabled");
    assert_eq!(sys.preempt_count(), 0);
}

// kernel/softirq.c __local_bh_enable_ip: the enable keeps the caller's own preemption
// depth; pending work runs serving (SOFTIRQ_OFFSET) with one more level, re-raised work
// runs in the same call, and the caller gets exactly its count back.
#[test]
fn bh_enable_runs_pending_work_on_top_of_the_callers_preempt_depth() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetTx, reraise).unwrap();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    sys.preempt_disable();
    sys.local_bh_disable();
    sys.raise_softirq(SoftirqVec::NetTx).unwrap();
    sys.raise_softirq(SoftirqVec::NetRx).unwrap();
    sys.local_bh_enable().unwrap();
    let l = log();
    assert_eq!(l.len(), MAX_SOFTIRQ_RESTART as usize + 1, "NET_TX re-raises itself");
    assert_ne!(sys.local_softirq_pending(), 0, "the rest is left for ksoftirqd");
    assert!(l.iter().all(|&(_, pc, irqs_off)| pc == 0x102 && !irqs_off), "{l:?}");
    assert_eq!(sys.preempt_count(), 1);
    sys.preempt_enable();
    assert_eq!(sys.preempt_count(), 0);
}

// kernel/softirq.c __local_bh_enable_ip: WARN_ON_ONCE(in_hardirq()).
#[test]
fn local_bh_enable_in_hardirq_warns_and_is_wrong_context() {
    let (sys, _p) = setup();
    in_irq(&sys, || {
        sys.local_bh_disable();
        assert!(matches!(sys.local_bh_enable(), Err(IrqError::WrongContext(_))));
    });
    assert_eq!(sys.bh_warnings(BhWarning::BhEnableInHardirq), 1);
    assert_eq!(sys.preempt_count(), 0, "count stays balanced");
}

#[test]
fn local_bh_enable_without_disable_is_invalid_and_changes_nothing() {
    let (sys, _p) = setup();
    assert!(matches!(sys.local_bh_enable(), Err(IrqError::InvalidArgument(_))));
    assert!(matches!(sys._local_bh_enable(), Err(IrqError::InvalidArgument(_))));
    assert_eq!(sys.preempt_count(), 0);
    FakePlatform::enter_cpu(None);
    assert!(sys.local_bh_enable().is_err());
    assert!(sys.raise_softirq(SoftirqVec::NetRx).is_err());
}

// kernel/softirq.c raise_softirq_irqoff: outside interrupt context wake ksoftirqd.
#[test]
fn raise_in_task_context_wakes_ksoftirqd_which_runs_it() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    sys.raise_softirq(SoftirqVec::NetRx).unwrap();
    assert_eq!(sys.ksoftirqd_wakeups(CpuId(0)), 1);
    assert!(log().is_empty());
    assert_eq!(sys.ksoftirqd_run_once(CpuId(0)), Ok(true));
    assert_eq!(log().len(), 1);
    assert_eq!(sys.ksoftirqd_run_once(CpuId(0)), Ok(false));
    assert!(sys.ksoftirqd_run_once(CpuId(1)).is_err(), "must run on its own cpu");
}

// kernel/softirq.c MAX_SOFTIRQ_RESTART: at most 10 passes, then ksoftirqd.
#[test]
fn restart_limit_of_ten_passes_hands_off_to_ksoftirqd() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetTx, reraise).unwrap();
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetTx).unwrap());
    assert_eq!(log().len(), MAX_SOFTIRQ_RESTART as usize);
    assert_eq!(sys.softirq_handoffs(CpuId(0)), 1);
    assert!(sys.ksoftirqd_wakeups(CpuId(0)) >= 1);
    assert_ne!(sys.local_softirq_pending(), 0, "left for ksoftirqd");
    sys.ksoftirqd_run_once(CpuId(0)).unwrap();
    assert_eq!(log().len(), 2 * MAX_SOFTIRQ_RESTART as usize);
}

// kernel/softirq.c MAX_SOFTIRQ_TIME: restart only before the 2 ms deadline, which
// is counted in jiffies (`end = jiffies + MAX_SOFTIRQ_TIME`).
#[test]
fn two_ms_budget_hands_off_to_ksoftirqd() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetTx, slow_reraise).unwrap();
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetTx).unwrap());
    assert_eq!(log().len(), 2, "1 ms per pass: the third would start past 2 ms");
    assert_eq!(sys.softirq_handoffs(CpuId(0)), 1);
}

// kernel/softirq.c handle_softirqs: need_resched() stops the restart.
#[test]
fn need_resched_stops_restarting() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetTx, resched_reraise).unwrap();
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetTx).unwrap());
    assert_eq!(log().len(), 1);
    assert_eq!(sys.softirq_handoffs(CpuId(0)), 1);
    sys.this_cpu().set_need_resched(false);
}

// kernel/softirq.c handle_softirqs: "huh, entered softirq ..." — the count is restored.
#[test]
fn action_leaking_preempt_count_is_repaired_and_warned() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::IrqPoll, leaky).unwrap();
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::IrqPoll).unwrap());
    assert_eq!(sys.bh_warnings(BhWarning::SoftirqPreemptLeak), 1);
    assert_eq!(sys.preempt_count(), 0);
}

// irqkit extension: the pending word is atomic, so an NMI may raise; the vector runs at
// the next irq_exit.
#[test]
fn raise_from_nmi_is_kept_and_runs_at_next_irq_exit() {
    let (sys, p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    let n = sys.nmi_enter().unwrap();
    sys.raise_softirq(SoftirqVec::NetRx).unwrap();
    sys.nmi_exit(n);
    assert!(log().is_empty());
    assert_eq!(sys.ksoftirqd_wakeups(CpuId(0)), 0);
    let ipis = p.ipis.lock().unwrap().clone();
    assert_eq!(ipis, [(CpuId(0), irqkit_core::Ipi::IrqWork)], "self-interrupt for an irq_exit");
    in_irq(&sys, || {});
    assert_eq!(log().len(), 1);
}

// include/linux/spinlock.h spin_lock_bh: softirqs wait until the unlock.
#[test]
fn spin_lock_bh_defers_softirqs_until_unlock() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    let lock = SpinLock::new(5);
    {
        let mut g = sys.spin_lock_bh(&lock);
        *g += 1;
        in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetRx).unwrap());
        assert!(log().is_empty());
    }
    assert_eq!(log().len(), 1);
    assert_eq!(*lock.lock(), 6);
}

// Softirqs are per CPU: a vector raised on CPU 1 runs on CPU 1 only.
#[test]
fn pending_mask_and_counts_are_per_cpu() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    FakePlatform::enter_cpu(CpuId(1));
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetRx).unwrap());
    FakePlatform::enter_cpu(CpuId(0));
    assert_eq!(sys.softirq_count(CpuId(1), SoftirqVec::NetRx), 1);
    assert_eq!(sys.softirq_count(CpuId(0), SoftirqVec::NetRx), 0);
}

#[test]
fn ksoftirqd_needs_a_platform_that_runs_threads() {
    let (sys, _p) = setup();
    assert!(matches!(sys.start_ksoftirqd(), Err(IrqError::Unsupported(_))));
    assert!(sys.ksoftirqd(CpuId(0)).is_none());
}

// fs/proc/softirqs.c: header of possible CPUs, "%12s:" names, " %10u" counts.
#[test]
fn proc_softirqs_has_linux_golden_shape() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::Rcu, rcu).unwrap();
    for _ in 0..172 {
        in_irq(&sys, || sys.raise_softirq(SoftirqVec::Rcu).unwrap());
    }
    let ours = sys.proc_softirqs();
    let golden = include_str!("golden/x86_64-q35-smp4-softirqs.txt");
    let (o, g): (Vec<_>, Vec<_>) = (ours.lines().collect(), golden.lines().collect());
    assert_eq!(o.len(), g.len());
    assert_eq!(o[0], g[0], "header");
    for (a, b) in o.iter().zip(&g).skip(1) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        assert_eq!(a[..13], b[..13], "name column");
        for col in a.as_bytes()[13..].chunks(11) {
            let s = std::str::from_utf8(col).unwrap();
            assert!(s.starts_with(' ') && s.trim().parse::<u64>().is_ok(), "{s:?}");
        }
    }
    assert!(ours.contains("         RCU:        172          0          0          0\n"));
}

// kernel/softirq.c __local_bh_enable_ip: WARN_ON_ONCE(irqs_disabled()); irqkit does not
// enable interrupts behind the caller's back: the work goes to ksoftirqd.
#[test]
fn local_bh_enable_with_irqs_disabled_leaves_work_to_ksoftirqd() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    sys.local_bh_disable();
    sys.raise_softirq(SoftirqVec::NetRx).unwrap();
    let flags = sys.local_irq_save();
    sys.local_bh_enable().unwrap();
    assert!(sys.irqs_disabled());
    sys.local_irq_restore(flags);
    assert!(log().is_empty());
    assert_eq!(sys.bh_warnings(BhWarning::BhEnableIrqsDisabled), 1);
    assert_eq!(sys.ksoftirqd_wakeups(CpuId(0)), 1);
    sys.ksoftirqd_run_once(CpuId(0)).unwrap();
    assert_eq!(log().len(), 1);
}

// kernel/softirq.c invoke_softirq: with force_irqthreads, softirqs go to ksoftirqd only
// if it exists; without it they still run inline.
#[test]
fn forced_threading_without_ksoftirqd_still_runs_inline() {
    let (sys, _p) = setup();
    sys.open_softirq(SoftirqVec::NetRx, net_rx).unwrap();
    sys.set_softirq_force_threading(true);
    in_irq(&sys, || sys.raise_softirq(SoftirqVec::NetRx).unwrap());
    assert_eq!(log().len(), 1);
}

#[test]
fn ksoftirqd_round_from_interrupt_context_is_wrong_context() {
    let (sys, _p) = setup();
    in_irq(&sys, || {
        assert!(matches!(sys.ksoftirqd_run_once(CpuId(0)), Err(IrqError::WrongContext(_))));
    });
    sys.local_bh_disable();
    assert!(sys.ksoftirqd_run_once(CpuId(0)).is_err());
    sys.local_bh_enable().unwrap();
    FakePlatform::enter_cpu(None);
    assert!(sys.ksoftirqd_run_once(CpuId(0)).is_err());
}
