//! Self-test of the bottom halves on bare metal: a tasklet scheduled by COM1's hard
//! handler, an irq_work queued on another CPU (`irq_work_queue_on`, delivered by the
//! IWI vector; a threaded one in that CPU's `irq_work/N`), and a timer-wheel timer armed a few jiffies ahead (the TIMER softirq
//! raised by `sys.tick` from the LAPIC timer interrupt).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use irqkit_core::irq_work::IrqWork;
use irqkit_core::timer::Timer;
use irqkit_core::CpuId;

use crate::devices::{TASKLET_BAD, TASKLET_RUNS};
use crate::selftest::{check, wait_for, SECOND};
use crate::{percpu, platform};

const NONE: u64 = u64::MAX;

static WORK_CPU: AtomicU64 = AtomicU64::new(NONE);
static WORK_HARDIRQ: AtomicBool = AtomicBool::new(false);
static TWORK_CPU: AtomicU64 = AtomicU64::new(NONE);
static TWORK_TASK: AtomicBool = AtomicBool::new(false);
static TIMER_JIFFIES: AtomicU64 = AtomicU64::new(NONE);
static TIMER_SOFTIRQ: AtomicBool = AtomicBool::new(false);

/// Runs the three checks; `n` CPUs are online. Call after the serial test (which
/// schedules the tasklet).
pub fn run(n: usize) {
    let sys = platform::system();
    let runs = TASKLET_RUNS.load(Ordering::Relaxed);
    check(
        runs >= 1 && TASKLET_BAD.load(Ordering::Relaxed) == 0,
        format_args!(
            "tasklet scheduled from the irq 4 hard handler ran {runs} times in softirq context"
        ),
    );

    let target = n - 1;
    let work = IrqWork::new(|sys, _w, _hard| {
        WORK_HARDIRQ.store(sys.in_hardirq(), Ordering::Relaxed);
        WORK_CPU.store(percpu::this_cpu() as u64, Ordering::Release);
    });
    let iwi_before = percpu::area(target).count(crate::lapic::IRQ_WORK_VECTOR);
    let queued = sys.irq_work_queue_on(&work, CpuId(target as u32));
    let ran = wait_for(SECOND, || WORK_CPU.load(Ordering::Acquire) != NONE && !work.is_busy());
    let iwi = percpu::area(target).count(crate::lapic::IRQ_WORK_VECTOR) - iwi_before;
    check(
        queued == Ok(true)
            && ran
            && WORK_CPU.load(Ordering::Relaxed) == target as u64
            && WORK_HARDIRQ.load(Ordering::Relaxed)
            && iwi >= 1,
        format_args!(
            "irq_work queued from CPU0 on CPU{target} ran there in hard-irq context ({iwi} IWI)"
        ),
    );

    // A threaded item runs in the target CPU's `irq_work/N` thread, in task context.
    let twork = IrqWork::new_threaded(|sys, _w, _task| {
        let me = alloc::format!("irq_work/{}", percpu::this_cpu());
        let named = sys.current_thread().is_some_and(|t| t.name() == me);
        TWORK_TASK.store(sys.in_task() && named, Ordering::Relaxed);
        TWORK_CPU.store(percpu::this_cpu() as u64, Ordering::Release);
    });
    let queued = sys.irq_work_queue_on(&twork, CpuId(target as u32));
    let ran = wait_for(SECOND, || TWORK_CPU.load(Ordering::Acquire) != NONE && !twork.is_busy());
    check(
        queued == Ok(true)
            && ran
            && TWORK_CPU.load(Ordering::Relaxed) == target as u64
            && TWORK_TASK.load(Ordering::Relaxed),
        format_args!(
            "threaded irq_work queued on CPU{target} ran in irq_work/{target}, in task context"
        ),
    );

    let timer = Timer::new(|sys, _t, _ctx| {
        TIMER_SOFTIRQ.store(sys.in_serving_softirq(), Ordering::Relaxed);
        TIMER_JIFFIES.store(sys.jiffies(), Ordering::Release);
    });
    let start = sys.jiffies();
    let armed = timer.add(sys, start + 5);
    let fired = wait_for(SECOND, || TIMER_JIFFIES.load(Ordering::Acquire) != NONE);
    let at = TIMER_JIFFIES.load(Ordering::Relaxed);
    let timer_softirqs = sys.softirq_count(CpuId(0), irqkit_core::softirq::SoftirqVec::Timer);
    check(
        armed.is_ok() && fired && at >= start + 5 && TIMER_SOFTIRQ.load(Ordering::Relaxed),
        format_args!(
            "timer armed at jiffy {start} for +5 fired at jiffy {at} in the TIMER softirq ({timer_softirqs} on CPU0)"
        ),
    );
}
