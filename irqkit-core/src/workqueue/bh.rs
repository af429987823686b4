//! BH worker pools (kernel/workqueue.c `bh_worker`, `kick_bh_pool`): WQ_BH works run
//! in softirq context on the CPU they were queued on, with no worker thread.
//!
//! Per CPU there are two BH pools: the normal one runs from TASKLET_SOFTIRQ, the
//! highpri one from HI_SOFTIRQ, each before that vector's tasklets (the tasklet
//! actions call the runner installed with `set_bh_workqueue_runner`). A pool has one
//! pseudo-worker, so BH works of one CPU never run concurrently with each other.
//! Kicking a pool raises its vector on the local CPU, or sends an irq_work to the
//! pool's CPU that raises it there. One softirq invocation runs at most
//! [`BH_WORKER_RESTARTS`] works and stops after [`BH_WORKER_NS`]; if work remains it
//! re-raises its vector, so the softirq loop (and past its own budget, ksoftirqd)
//! comes back instead of one flood holding the CPU.

use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};

use super::pool::Pool;
use super::process::{process_scheduled, take_retired};
use super::work::WorkCtx;
use super::worker::{Worker, WORKER_IDLE, WORKER_PREP};
use crate::cpu::{CpuId, CpuMask, SoftIrq};
use crate::irq_work::{IrqWork, IRQ_WORK_HARD_IRQ};
use crate::sched::WaitQueue;
use crate::softirq::SoftirqVec;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64};
use crate::IrqSystem;

/// `BH_WORKER_RESTARTS`: works one softirq invocation of a BH pool may start. Ten, as
/// the softirq loop's own restart limit: a burst is absorbed, a flood yields.
pub const BH_WORKER_RESTARTS: u32 = 10;

/// `BH_WORKER_JIFFIES` (2 ms), in ns: past it the pool yields even under the count,
/// matching the softirq loop's time budget (and, like it, counted in jiffies).
pub const BH_WORKER_NS: u64 = 2_000_000;

/// How a BH pool is kicked: its vector, and the irq_work that raises it remotely.
pub(crate) struct BhKick {
    cpu: CpuId,
    vec: SoftirqVec,
    irq_work: IrqWork,
}

impl BhKick {
    pub(crate) fn new(cpu: CpuId, highpri: bool) -> Self {
        let vec = if highpri { SoftirqVec::Hi } else { SoftirqVec::Tasklet };
        // bh_pool_kick_normal / _highpri: runs on the pool's CPU in hard-irq context.
        let irq_work = IrqWork::with_flags(IRQ_WORK_HARD_IRQ, move |sys, _w, _hard| {
            let _ = sys.raise_softirq_irqoff(vec);
        });
        BhKick { cpu, vec, irq_work }
    }

    /// `kick_bh_pool`: raise here, or interrupt the pool's CPU to raise it there. An
    /// offline CPU cannot be kicked; its works are run by `workqueue_offline_cpu`.
    pub(crate) fn kick(&self, sys: &IrqSystem) {
        if sys.current_cpu() == Some(self.cpu) {
            let _ = sys.raise_softirq_irqoff(self.vec);
        } else {
            let _ = sys.irq_work_queue_on(&self.irq_work, self.cpu);
        }
    }
}

impl Worker {
    /// A BH pool's pseudo-worker: never idle-listed, never sleeps, no thread.
    pub(crate) fn new_bh(pool: Weak<Pool>, pool_id: u32, cpu: CpuId, highpri: bool) -> Arc<Worker> {
        let name = format!("bh/{}{}", cpu.0, if highpri { "H" } else { "" });
        Arc::new(Worker {
            id: 0,
            name,
            pool,
            pool_id,
            flags: AtomicU32::new(WORKER_PREP | WORKER_IDLE),
            sleeping: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            wait: WaitQueue::new(),
            last_active_ns: AtomicU64::new(0),
            thread_id: AtomicU64::new(0),
            rescuer: false,
            ran_ticks: AtomicU32::new(0),
            current_stats: AtomicPtr::new(core::ptr::null_mut()),
            wake_pod: None,
            slot_hint: AtomicU32::new(0),
        })
    }
}

/// `bh_worker`: runs `pool`'s works in the current softirq while `keep_working`, at
/// most [`BH_WORKER_RESTARTS`] of them and within [`BH_WORKER_NS`]; then kicks the
/// pool again if work is left.
pub(crate) fn bh_worker(sys: &IrqSystem, pool: &Arc<Pool>, tok: &SoftIrq) {
    let Some(w) = pool.bh_worker.as_ref() else { return };
    let mut g = pool.lock(sys);
    w.clr_flags(WORKER_IDLE);
    if g.need_more_worker() {
        g.worker_clr_flags(w, WORKER_PREP);
        let start = sys.jiffies();
        let budget = sys.softirq.budget_jiffies;
        let mut restarts = BH_WORKER_RESTARTS;
        while let Some(item) = g.worklist.pop_front() {
            // assign_work: the pseudo-worker is the pool's only execution context, so
            // nothing else of this pool can be running the item.
            match g.slot(w) {
                Some(slot) => slot.scheduled.push_back(item),
                None => break,
            }
            g = process_scheduled(sys, pool, w, g, WorkCtx::Bh(tok), false);
            restarts -= 1;
            if !(g.keep_working() && restarts > 0 && sys.jiffies().wrapping_sub(start) < budget) {
                break;
            }
        }
        g.worker_set_flags(w, WORKER_PREP);
    }
    w.set_flags(WORKER_IDLE);
    // Work left over (budget spent, or queued meanwhile): come back through the softirq.
    g.kick(sys);
    let retired = take_retired(&mut g, w);
    drop(g);
    drop(retired);
}

/// The HI_SOFTIRQ runner: this CPU's highpri BH pool.
fn run_bh_highpri(sys: &IrqSystem, tok: &SoftIrq) {
    run_bh_pool(sys, true, tok);
}

/// The TASKLET_SOFTIRQ runner: this CPU's normal BH pool.
fn run_bh_normal(sys: &IrqSystem, tok: &SoftIrq) {
    run_bh_pool(sys, false, tok);
}

fn run_bh_pool(sys: &IrqSystem, highpri: bool, tok: &SoftIrq) {
    let Some(cpu) = sys.current_cpu() else { return };
    if let Some(pool) = sys.wq.bh_pools.get(cpu.index() * 2 + highpri as usize) {
        bh_worker(sys, pool, tok);
    }
}

/// Installs the runners into the HI and TASKLET actions (once; a runner someone else
/// installed first is left alone and reported as `Busy`).
pub(crate) fn install_bh_runners(sys: &IrqSystem) -> Result<(), crate::IrqError> {
    let hi = sys.set_bh_workqueue_runner(SoftirqVec::Hi, run_bh_highpri);
    let lo = sys.set_bh_workqueue_runner(SoftirqVec::Tasklet, run_bh_normal);
    hi.and(lo)
}

/// The per-CPU BH pools of an `nr_cpus` system, Linux's ids (cpu × 4 + highpri: each
/// CPU's two BH pools come before its two normal pools).
pub(crate) fn bh_pools(nr_cpus: usize) -> alloc::vec::Vec<Arc<Pool>> {
    let mut v = alloc::vec::Vec::with_capacity(nr_cpus * 2);
    for c in 0..nr_cpus {
        for hi in [false, true] {
            let (id, cpu) = ((c * 4) as u32 + hi as u32, CpuId(c as u32));
            v.push(Pool::build(id, Some(cpu), hi, true, (CpuMask::single(cpu), true, None)));
        }
    }
    v
}

/// The description of a BH pool for the dump.
pub(crate) fn describe(pool: &Pool) -> Option<String> {
    pool.bh_worker.as_ref().map(|_| String::from(" bh"))
}
