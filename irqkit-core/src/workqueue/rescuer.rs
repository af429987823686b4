//! The rescuer of a WQ_MEM_RECLAIM workqueue (`rescuer_thread`): when a pool cannot
//! create workers it sends mayday, and the rescuer runs that workqueue's works there.

use alloc::format;
use alloc::sync::Arc;

use super::manage::worker_affinity;
use super::pool::{Pool, WorkerSlot};
use super::process::process_scheduled;
use super::work::WorkCtx;
use super::worker::Worker;
use super::WqInner;
use crate::cpu::CpuMask;
use crate::cpu::Task;
use crate::sched::{Affinity, KthreadSpec, Policy, Thread};
use crate::timer::msleep;
use crate::{IrqError, IrqSystem};

/// Starts `kworker/R-<name>` (nice −20, any CPU).
pub(crate) fn start_rescuer(
    sys: &Arc<IrqSystem>,
    wq: &Arc<WqInner>,
) -> Result<Arc<Thread>, IrqError> {
    let m = all_cpus(sys);
    let name = format!("kworker/R-{}", wq.name);
    let spec = KthreadSpec {
        name: name.clone(),
        policy: Policy::Normal(-20),
        affinity: Affinity::Unbound(m),
        hooks: None,
    };
    let (sys2, wq2) = (sys.clone(), wq.clone());
    sys.spawn_kthread(spec, move |task| {
        let sys = &sys2;
        let me = sys.current_thread().expect("rescuer runs on a kernel thread");
        loop {
            let _ = wq2.mayday_wait.wait_event(sys, task, || {
                me.should_stop() || !wq2.mayday_list.lock_irqsave(sys).is_empty()
            });
            if me.should_stop() {
                return;
            }
            let Some(pid) = wq2.mayday_list.lock_irqsave(sys).pop_front() else { continue };
            let Some(pool) = sys.wq.pool_by_id(sys, pid) else { continue };
            attach_to_pool_cpus(sys, task, &me, &pool);
            let w = Worker::new_rescuer(&pool, name.clone(), me.id());
            sys.wq.workers.lock_irqsave(sys).insert(me.id(), w.clone());
            let mut g = pool.lock(sys);
            // Attach and take this workqueue's works off the pool's worklist.
            let mut slot = WorkerSlot {
                worker: w.clone(),
                current: None,
                scheduled: Default::default(),
                last_wq: None,
                retired: None,
            };
            let mut i = 0;
            while i < g.worklist.len() {
                if g.worklist[i].wq.is(&wq2) {
                    if let Some(it) = g.worklist.remove(i) {
                        // assign_work: never next to a running instance of itself.
                        match g.executing(&it.work) {
                            Some(busy) => g.workers[busy].scheduled.push_back(it),
                            None => slot.scheduled.push_back(it),
                        }
                    }
                } else {
                    i += 1;
                }
            }
            g.workers.push(slot);
            g = process_scheduled(sys, &pool, &w, g, WorkCtx::Task(task), true);
            g.workers.retain(|s| !Arc::ptr_eq(&s.worker, &w));
            g.kick(sys);
            drop(g);
            sys.wq.workers.lock_irqsave(sys).remove(&me.id());
            // Detached: between rescues the rescuer may run anywhere again.
            me.set_affinity(Affinity::Unbound(all_cpus(sys)));
        }
    })
}

/// `worker_attach_to_pool` for the rescuer: it takes the affinity the pool's own
/// workers have, so a rescued per-CPU work runs on its CPU. Linux migrates the
/// running rescuer at once; here an affinity change takes effect at a wake-up, so
/// a rescuer on a CPU it may no longer use sleeps one tick and wakes where it may.
fn attach_to_pool_cpus(sys: &IrqSystem, task: &Task, me: &Thread, pool: &Pool) {
    let disassociated = pool.lock(sys).disassociated;
    me.set_affinity(worker_affinity(sys, pool, disassociated));
    // A few tries, not a loop: with no allowed CPU online the wake-up falls back to
    // where we are, and rescuing there beats not rescuing.
    for _ in 0..3 {
        let placed = match sys.current_cpu() {
            Some(c) => me.allowed_on(c),
            None => true,
        };
        if placed || me.should_stop() {
            break;
        }
        let _ = msleep(sys, task, 1);
    }
}

/// Every CPU of the machine.
fn all_cpus(sys: &IrqSystem) -> CpuMask {
    CpuMask::first_n(sys.nr_cpus())
}
