//! Queueing: `queue_work_on`, `__queue_work` with non-reentrancy, delayed work.

use alloc::format;

use super::pool::{Item, Pool};
use super::work::{Claim, BH, NO_POOL};
use super::wq::{DESTROYED, DESTROYING, DRAINING};
use super::{Work, Workqueue, __WQ_ORDERED, WQ_BH, WQ_FREEZABLE, WQ_UNBOUND};
use crate::cpu::CpuId;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

/// True if the caller is a worker executing an item of `wq` (chained queueing).
fn is_chained_work(sys: &IrqSystem, wq: &Workqueue) -> bool {
    super::api::current_item(sys).is_some_and(|it| it.wq.is(&wq.0))
}

/// A task work goes to threaded workqueues only, a BH work to WQ_BH ones only.
pub(crate) fn check_kind(wq: &Workqueue, work: &Work) -> Result<(), IrqError> {
    if (wq.0.flags & WQ_BH != 0) == work.is_bh() {
        Ok(())
    } else {
        Err(kind_error(wq))
    }
}

/// The error for a work whose kind `wq` does not run.
fn kind_error(wq: &Workqueue) -> IrqError {
    if wq.0.flags & WQ_BH != 0 {
        IrqError::InvalidArgument(
            "a task-context Work cannot run on a WQ_BH workqueue (use BhWork)",
        )
    } else {
        IrqError::InvalidArgument("a BhWork runs only on a WQ_BH workqueue")
    }
}

/// Whether the per-CPU pool of an offline CPU still runs what is queued to it: a
/// DISASSOCIATED pool runs it unbound (Linux queues there too), and so will a pool
/// whose CPU is just going down (cpu_down unbinds its workers next). A BH pool needs
/// its CPU, and in a pool with no worker (its CPU never came up) nothing would run.
fn offline_pool_takes_work(sys: &IrqSystem, p: &Pool) -> bool {
    if p.bh_worker.is_some() {
        return false;
    }
    let g = p.lock(sys);
    g.disassociated || !g.workers.is_empty()
}

/// `__queue_work`: the caller owns PENDING. On error PENDING is still owned and the
/// caller gives it back.
pub(crate) fn __queue_work(
    sys: &IrqSystem,
    cpu: Option<CpuId>,
    wq: &Workqueue,
    work: &Work,
) -> Result<(), IrqError> {
    let st = wq.0.state.load(Ordering::Acquire);
    if st & DESTROYED != 0 {
        sys.wq.log(
            sys,
            format!("workqueue: cannot queue {:#x} on wq {} (destroyed)", work.addr(), wq.0.name),
        );
        return Err(IrqError::AlreadyFreed("workqueue destroyed"));
    }
    if st & (DESTROYING | DRAINING) != 0 && !is_chained_work(sys, wq) {
        sys.wq.log(sys, format!("workqueue: cannot queue {:#x} on wq {}", work.addr(), wq.0.name));
        return Err(IrqError::Busy("workqueue is draining"));
    }
    let c =
        cpu.or_else(|| sys.current_cpu()).unwrap_or_else(|| sys.first_online().unwrap_or(CpuId(0)));
    let mut pool: &Pool = if wq.0.is_percpu() {
        let p = wq.0.pools.get(c.index()).ok_or(IrqError::NotFound("no such cpu"))?;
        if !sys.cpu(c)?.online() && !offline_pool_takes_work(sys, p) {
            return Err(IrqError::CpuOffline(c.0));
        }
        p
    } else {
        // The pool of the queueing (or requested) CPU's pod.
        wq.0.unbound_pool_for(c).ok_or(IrqError::NotFound("no such cpu"))?
    };
    // Non-reentrancy: if the pool that last ran this work is running it now for
    // this workqueue, queue it there so it cannot run concurrently with itself.
    let last_id = work.last_pool();
    let last_pool;
    if wq.0.flags & __WQ_ORDERED == 0 && last_id != NO_POOL && last_id != pool.id {
        if let Some(last) = sys.wq.pool_by_id(sys, last_id) {
            let g = last.lock(sys);
            let busy_here = g
                .executing(work)
                .is_some_and(|i| g.workers[i].current.as_ref().is_some_and(|c| c.wq.is(&wq.0)));
            drop(g);
            if busy_here {
                last_pool = last;
                pool = &last_pool;
            }
        }
    }
    // Accounting and reference counts before the pool lock: the lock hold, which
    // the pool's workers contend for, covers only the list insertion and the kick.
    let color = wq.0.flush_get();
    work.0.nr_queued.fetch_add(1, Ordering::SeqCst);
    let mut item = Item::new(work.clone(), &wq.0, color);
    // Lock-free when the locked path would wake nobody (`pool_lock.rs`). Not for
    // ordered workqueues (their strict FIFO stays on the one locked path) nor
    // freezable ones (an item queued before a freeze must count as active for it).
    if wq.0.flags & (__WQ_ORDERED | WQ_FREEZABLE) == 0 {
        match pool.queue_lockless(sys, item) {
            Ok(()) => return Ok(()),
            Err(it) => item = it,
        }
    }
    let mut g = pool.lock(sys);
    g.drain_all();
    let kick = g.insert_work(sys, pool.id, item);
    drop(g);
    kick.wake(sys);
    Ok(())
}

impl IrqSystem {
    /// `queue_work_on(cpu, wq, work)`: `Ok(false)` if the work was already pending
    /// (or is disabled), `Ok(true)` if this call queued it. On an unbound workqueue
    /// `cpu` picks the pod (default: the caller's CPU). `InvalidArgument` if the
    /// work's kind does not match the workqueue (a [`super::BhWork`] needs WQ_BH, a
    /// plain [`Work`] a threaded one); `AlreadyFreed` on a destroyed workqueue; `Busy`
    /// while it drains (unless chained from its own work); `CpuOffline` for an
    /// offline CPU whose pool cannot run it. The work stays idle on every error.
    pub fn queue_work_on(
        &self,
        cpu: Option<CpuId>,
        wq: &Workqueue,
        work: &Work,
    ) -> Result<bool, IrqError> {
        if let Some(c) = cpu {
            if c.index() >= self.nr_cpus() {
                return Err(IrqError::NotFound("no such cpu"));
            }
        }
        let kind = if wq.0.flags & WQ_BH != 0 { BH } else { 0 };
        let flags = self.local_irq_save();
        let r = match work.claim_pending_as(kind) {
            Claim::Busy => Ok(false),
            Claim::WrongKind => Err(kind_error(wq)),
            Claim::Owned => match __queue_work(self, cpu, wq, work) {
                Ok(()) => Ok(true),
                Err(e) => {
                    work.clear_pending();
                    Err(e)
                }
            },
        };
        self.local_irq_restore(flags);
        r
    }

    /// `queue_work(wq, work)`: on the local CPU's pool (per-CPU) or the unbound pool.
    pub fn queue_work(&self, wq: &Workqueue, work: &Work) -> Result<bool, IrqError> {
        self.queue_work_on(None, wq, work)
    }

    /// `queue_work_node(node, wq, work)`: queues on a CPU of NUMA node `node` (of the
    /// topology set with `wq_set_cpu_topology`): this CPU if it is on the node, else
    /// the node's first online CPU, else as [`IrqSystem::queue_work`]. Meant for
    /// unbound workqueues; on another kind Linux WARNs: irqkit logs it and queues.
    pub fn queue_work_node(
        &self,
        node: u32,
        wq: &Workqueue,
        work: &Work,
    ) -> Result<bool, IrqError> {
        if wq.0.flags & WQ_UNBOUND == 0 {
            let msg = format!("workqueue: queue_work_node on {}, which is not unbound", wq.0.name);
            self.wq.log(self, msg);
        }
        let cpu = {
            let topo = self.wq.topology.lock_irqsave(self);
            let on_node = |c: CpuId| topo.cpus.get(c.index()).is_some_and(|t| t.node == node);
            match self.current_cpu() {
                Some(c) if on_node(c) => Some(c),
                _ => self.online_mask().iter().find(|c| on_node(*c)),
            }
        };
        self.queue_work_on(cpu, wq, work)
    }

    /// `schedule_work(work)`: `queue_work(system_percpu_wq, work)`.
    pub fn schedule_work(&self, work: &Work) -> Result<bool, IrqError> {
        let s = self.system_wqs()?;
        self.queue_work(&s.system_percpu_wq, work)
    }

    /// `schedule_work_on(cpu, work)`.
    pub fn schedule_work_on(&self, cpu: CpuId, work: &Work) -> Result<bool, IrqError> {
        let s = self.system_wqs()?;
        self.queue_work_on(Some(cpu), &s.system_percpu_wq, work)
    }
}
