//! Self-test of the workqueues on bare metal: a work item scheduled from COM1's hard
//! handler ran on a kworker in task context, `queue_work_on` runs on the CPU it names,
//! and `flush_work` from a kernel thread returns only after the work ran.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use irqkit_core::sched::KthreadSpec;
use irqkit_core::workqueue::{Work, WQ_PERCPU};
use irqkit_core::CpuId;

use crate::devices::{
    on_local_kworker, HARDIRQ_WORK_BAD, HARDIRQ_WORK_QUEUED_ON, HARDIRQ_WORK_RAN_ON,
    HARDIRQ_WORK_RUNS,
};
use crate::selftest::{check, wait_for, SECOND};
use crate::{lapic, percpu, platform};

const NONE: u64 = u64::MAX;

static ON_CPU: AtomicU64 = AtomicU64::new(NONE);
static ON_KWORKER: AtomicBool = AtomicBool::new(false);
static SLOW_DONE: AtomicBool = AtomicBool::new(false);
/// 1: `flush_work` returned `Ok(true)` (it waited) with the work done; 2: `Ok(false)`
/// (the work had already finished) with the work done; 3: anything else.
static FLUSH_VERDICT: AtomicU64 = AtomicU64::new(0);

/// Runs the three checks; `n` CPUs are online. Call after the serial test (whose
/// interrupts schedule the hard-irq work).
pub fn run(n: usize) {
    let sys = platform::system_arc();
    let ran = wait_for(SECOND, || {
        HARDIRQ_WORK_RUNS.load(Ordering::Acquire) >= 1
            && HARDIRQ_WORK_RAN_ON.load(Ordering::Relaxed) != 0
    });
    let runs = HARDIRQ_WORK_RUNS.load(Ordering::Relaxed);
    let queued_on = HARDIRQ_WORK_QUEUED_ON.load(Ordering::Relaxed);
    let ran_on = HARDIRQ_WORK_RAN_ON.load(Ordering::Relaxed);
    check(
        ran && HARDIRQ_WORK_BAD.load(Ordering::Relaxed) == 0 && ran_on & !queued_on == 0,
        format_args!(
            "work scheduled from the irq 4 hard handler ran {runs} times on kworker/N in task \
             context (queued on CPUs {queued_on:#x}, ran on {ran_on:#x})"
        ),
    );

    let target = n - 1;
    let wq = match sys.alloc_workqueue("selftest", WQ_PERCPU, 0) {
        Ok(wq) => wq,
        Err(e) => {
            check(false, format_args!("alloc_workqueue(selftest, WQ_PERCPU): {e}"));
            return;
        }
    };
    let work = Work::new(|sys, _w, _t| {
        ON_KWORKER.store(on_local_kworker(sys), Ordering::Relaxed);
        ON_CPU.store(percpu::this_cpu() as u64, Ordering::Release);
    });
    let queued = sys.queue_work_on(Some(CpuId(target as u32)), &wq, &work);
    let ran = wait_for(SECOND, || ON_CPU.load(Ordering::Acquire) != NONE);
    let on = ON_CPU.load(Ordering::Relaxed);
    check(
        queued == Ok(true) && ran && on == target as u64 && ON_KWORKER.load(Ordering::Relaxed),
        format_args!(
            "queue_work_on(CPU{target}) from CPU0 ran on CPU{on} in kworker/{target}:N ({queued:?})"
        ),
    );

    // A slow work (5 ms) on the target CPU; a kernel thread on CPU 0 flushes it and must
    // see it finished when flush_work returns. Normally flush_work has to wait (Ok(true));
    // if the flusher was held off for longer than the work took, Ok(false) is also right,
    // so the check does not depend on timing, only the report says which happened.
    let slow = Work::new(|_sys, _w, _t| {
        let until = lapic::now_ns() + 5_000_000;
        while lapic::now_ns() < until {
            core::hint::spin_loop();
        }
        SLOW_DONE.store(true, Ordering::Release);
    });
    let s2 = sys.clone();
    let spec = KthreadSpec::bound("wq_flush", CpuId(0));
    let spawned = sys.spawn_kthread(spec, move |task| {
        let queued = s2.queue_work_on(Some(CpuId(target as u32)), &wq, &slow);
        let flushed = s2.flush_work(task, &slow);
        let done = SLOW_DONE.load(Ordering::Acquire);
        let verdict = match flushed {
            Ok(true) if queued == Ok(true) && done => 1,
            Ok(false) if queued == Ok(true) && done => 2,
            _ => 3,
        };
        FLUSH_VERDICT.store(verdict, Ordering::Release);
    });
    let finished = wait_for(5 * SECOND, || FLUSH_VERDICT.load(Ordering::Acquire) != 0);
    let verdict = FLUSH_VERDICT.load(Ordering::Relaxed);
    check(
        spawned.is_ok() && finished && (verdict == 1 || verdict == 2),
        format_args!(
            "flush_work from kernel thread wq_flush returned after the work on CPU{target} ran \
             ({})",
            if verdict == 1 { "it waited" } else { "already done" }
        ),
    );
}
