//! CPU hotplug of a hosted machine: Linux's teardown and bring-up steps
//! (kernel/cpu.c cpuhp states) over the pieces irqkit-core provides for each.
//!
//! Down, in Linux's order: the CPU leaves the online mask; its worker pools become
//! DISASSOCIATED (CPUHP_AP_WORKQUEUE_ONLINE); its interrupts move away
//! (`irq_migrate_all_off_this_cpu`); the threads on it are pushed off
//! (`balance_push`, `migrate_tasks`) until its idle thread reports it dead
//! (`cpuhp_report_idle_dead`); a device vector still pending there is raised
//! again on its line's new target (`fixup_irqs`); then a live CPU takes over its
//! timers (CPUHP_TIMERS_PREPARE), tasklets and BH work (CPUHP_SOFTIRQ_DEAD) and
//! irq_work. Up reverses it: the timer wheel is prepared, the CPU joins the mask,
//! managed interrupts return (CPUHP_AP_IRQ_AFFINITY_ONLINE) and the pools rebind.
//!
//! The running thread is pushed off with a reschedule IPI: preempted at that
//! interrupt's exit, it moves like any other (as Linux's stopper moves it), unless
//! the interrupt hit one of irqkit's per-CPU accesses, which find the CPU and then
//! use it (`irqkit_core::cpu::CpuPin`). Preempted there it must resume on that
//! CPU and moves at its next switch, which the next push brings; `cpu_down` waits
//! for that only briefly, and the CPU's tasklets are taken over once it is dead.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use irqkit_core::sched::{Affinity, Policy, ThreadState};
use irqkit_core::{CpuId, IrqError};

use crate::machine::Machine;
use crate::thread_ctx;

/// How long a CPU going down may take to run nothing but its idle thread (a thread
/// in a non-preemptible stretch holds it there), or its BH leftovers to finish.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(10);

/// How long `cpu_down` waits for a thread preempted at interrupt exit inside a
/// per-CPU access to reach a point where it may be pushed before it leaves that
/// thread running there.
const PINNED_GRACE: Duration = Duration::from_millis(50);

impl Machine {
    /// Takes `cpu` offline: no new thread is placed there and interrupts or IPIs aimed
    /// at it are refused (`CpuOffline`). Its interrupts move to online CPUs of their
    /// masks; its worker pools become DISASSOCIATED (their kworkers run unbound on the
    /// other CPUs and keep executing the pools' work); the threads running there move
    /// off; its timers, tasklets, irq_work and BH work move to a live CPU before this
    /// returns. Per-CPU smpboot threads (ksoftirqd/N, irq_work/N) park with it.
    /// Refused (`Busy`, nothing changed) for the last online CPU and for a CPU that
    /// other kernel threads are still bound to; `WrongContext` from a machine thread.
    pub fn cpu_down(&self, cpu: CpuId) -> Result<(), IrqError> {
        if thread_ctx::current_cpu().is_some() {
            return Err(IrqError::WrongContext("cpu_down from a machine thread"));
        }
        let _hp = self.hotplug.lock().unwrap_or_else(|e| e.into_inner());
        let cs = self.sys.cpu(cpu)?;
        if !cs.online() {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        if self.sys.online_mask().weight() == 1 {
            return Err(IrqError::Busy("cannot offline the last online cpu"));
        }
        let hc = self.shared.hc(cpu)?;
        let gen = hc.down_gen.fetch_add(1, Ordering::SeqCst) + 1;
        cs.set_online(false);
        // CPUHP_AP_WORKQUEUE_ONLINE: unbind the kworkers first, so they are no longer
        // bound threads for the check below.
        self.sys.workqueue_offline_cpu(cpu)?;
        let bound = self.sys.threads().iter().any(|t| {
            t.policy() != Policy::Idle
                && !t.is_percpu_smpboot()
                && t.affinity() == Affinity::Bound(cpu)
                && t.state() != ThreadState::Dead
        });
        if bound {
            self.bring_online(cpu)?;
            return Err(IrqError::Busy("kernel threads are bound to this cpu"));
        }
        // take_cpu_down: interrupts aimed here move to online CPUs of their masks.
        self.sys.irq_migrate_all_off_cpu(cpu)?;
        let mut dead = match self.wait_dead(cpu, gen) {
            Ok(dead) => dead,
            Err(e) => {
                self.bring_online(cpu)?;
                return Err(e);
            }
        };
        self.fixup_irqs(cpu)?;
        if !dead {
            // Its tasklet lists are not ours while a thread runs there: the idle
            // thread hands them over once it reports dead (`idle.rs`), unless it
            // reported just after wait_dead looked (`dead_report.rs`).
            dead = hc.dead.leave_tasklets(gen);
        }
        // The dead CPU's deferred work, taken over on a live CPU in hard-irq context.
        // Timers (under their base locks) and irq_work (lock-free lists) may be taken
        // from a CPU that still runs a thread.
        let live = self.sys.online_mask().first().ok_or(IrqError::Busy("no cpu online"))?;
        let (tx, rx) = mpsc::channel();
        self.call_on(live, move |sys, _hard| {
            let mut r = sys.timers_takeover(cpu).and_then(|()| sys.irq_work_takeover(cpu));
            if dead {
                r = r.and_then(|()| sys.tasklets_takeover(cpu));
            }
            let _ = tx.send(r);
        })?;
        rx.recv_timeout(TEARDOWN_LIMIT).map_err(|_| IrqError::Busy("takeover did not run"))??;
        // CPUHP_SOFTIRQ_DEAD: the BH pools' leftovers run on a live CPU.
        let drains = self.sys.workqueue_softirq_dead(cpu)?;
        let deadline = Instant::now() + TEARDOWN_LIMIT;
        while drains.iter().any(|w| self.sys.work_busy(w) != 0) {
            if Instant::now() > deadline {
                return Err(IrqError::Busy("BH works of the dead cpu did not finish"));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Brings an offline `cpu` back online: its timer wheel takes timers again, its
    /// managed interrupts start again and its worker pools bind to it again.
    pub fn cpu_up(&self, cpu: CpuId) -> Result<(), IrqError> {
        let _hp = self.hotplug.lock().unwrap_or_else(|e| e.into_inner());
        let cs = self.sys.cpu(cpu)?;
        if cs.online() {
            return Ok(());
        }
        self.sys.timers_prepare_cpu(cpu)?;
        self.bring_online(cpu)
    }

    /// `balance_push` and `migrate_tasks`: pushes the thread running on the offline
    /// `cpu` off it and moves the runnable ones queued there, until its idle thread
    /// reports it dead in this `cpu_down` (`gen`): `Ok(true)`. `Ok(false)` if the
    /// thread running there was preempted at interrupt exit inside a per-CPU access
    /// and so stays until its next switch (`Thread::irq_preempted`), and every push
    /// within [`PINNED_GRACE`] found it pinned again. `Busy` if neither happens within
    /// [`TEARDOWN_LIMIT`].
    fn wait_dead(&self, cpu: CpuId, gen: u64) -> Result<bool, IrqError> {
        let hc = self.shared.hc(cpu)?;
        let deadline = Instant::now() + TEARDOWN_LIMIT;
        let grace_end = Instant::now() + PINNED_GRACE;
        loop {
            for t in self.sys.threads() {
                if t.cpu() == cpu && !t.is_percpu_smpboot() && t.policy() != Policy::Idle {
                    self.sys.migrate_queued_thread(&t);
                }
            }
            if hc.dead.is_dead(gen) {
                return Ok(true);
            }
            // A pinned thread usually moves at the next push, which finds it outside
            // its access; one that stays inside is left running after a grace period.
            let pinned = self.sys.curr_thread(cpu).is_some_and(|t| t.pinned_by_irq_preemption());
            if pinned && Instant::now() > grace_end {
                return Ok(false);
            }
            if Instant::now() > deadline {
                return Err(IrqError::Busy("a thread would not leave the cpu"));
            }
            // Asked again each round: a thread that was not preemptible when the
            // first request came is asked once more when it may be.
            self.shared.push_off(&self.sys, cpu)?;
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// `fixup_irqs`: a device line's vector still pending on the dead `cpu` (raised
    /// before its line moved) is raised again where the line points now, so the
    /// interrupt is taken while the CPU is down rather than when it returns.
    /// Returns how many were moved.
    pub(crate) fn fixup_irqs(&self, cpu: CpuId) -> Result<usize, IrqError> {
        let hc = self.shared.hc(cpu)?;
        let lines: Vec<_> =
            self.lines.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut moved = 0;
        for line in lines.iter().filter(|l| l.target() != cpu) {
            if hc.take_pending(line.vector) {
                self.shared.raise(&self.sys, line.target(), line.vector)?;
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// The CPU joins the online mask, its idle thread wakes, its managed interrupts
    /// return and its pools bind to it (`cpu_up`, or undoing a refused `cpu_down`,
    /// which had not yet taken its timers over).
    fn bring_online(&self, cpu: CpuId) -> Result<(), IrqError> {
        self.sys.cpu(cpu)?.set_online(true);
        self.shared.wake_idle(cpu);
        self.sys.irq_affinity_online_cpu(cpu)?;
        self.sys.workqueue_online_cpu(cpu)
    }
}
