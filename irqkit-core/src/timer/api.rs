//! Arming and disarming timers (`add_timer`, `mod_timer`, `del_timer`, `del_timer_sync`).

use super::{Timer, CPU_MIGRATING, TIMER_PINNED};
use crate::cpu::{CpuId, Task};
use crate::sync::atomic::{spin_hint, Ordering};
use crate::sync::SpinLockIrqGuard;
use crate::{IrqError, IrqSystem};

use super::wheel::TimerBase;

impl Timer {
    /// `lock_timer_base`: locks the base the timer belongs to, waiting out a migration.
    fn lock_base<'a>(&self, sys: &'a IrqSystem) -> (SpinLockIrqGuard<'a, TimerBase>, CpuId) {
        loop {
            let c = self.0.cpu.load(Ordering::Acquire);
            if c != CPU_MIGRATING {
                let g = sys.timers.cpus[CpuId(c)].bases[self.base_index()].lock_irqsave(sys);
                if self.0.cpu.load(Ordering::Acquire) == c {
                    return (g, CpuId(c));
                }
            }
            spin_hint();
        }
    }

    fn publish(&self, sys: &IrqSystem, cpu: CpuId, base: &TimerBase) {
        sys.timers.cpus[cpu].next_hint[self.base_index()]
            .store(base.next_expiry, Ordering::Release);
    }

    /// The common part of `mod_timer`/`add_timer_on`: (re)queue on `target` (or where
    /// the callback runs now). Returns whether the timer was pending.
    fn requeue(&self, sys: &IrqSystem, expires: u64, target: Option<CpuId>) -> bool {
        // Interrupts stay masked across a migration: an interrupt on this CPU that
        // touched the timer while it is marked MIGRATING would spin for ever.
        let flags = sys.local_irq_save();
        let r = self.requeue_irqoff(sys, expires, target);
        sys.local_irq_restore(flags);
        r
    }

    fn requeue_irqoff(&self, sys: &IrqSystem, expires: u64, target: Option<CpuId>) -> bool {
        let (mut g, cur) = self.lock_base(sys);
        let was_pending = g.detach(&self.0);
        let want = match target {
            Some(c) => c,
            None if self.0.flags & TIMER_PINNED != 0 => cur,
            None => sys.current_cpu().unwrap_or(cur),
        };
        // A timer whose callback runs now stays on its base so it cannot run twice at
        // once. add_timer_on moves it anyway, as Linux does (the caller asked for it).
        // A dead base (its CPU went offline) runs nothing, so nothing runs there now.
        if !g.dead && (want == cur || (target.is_none() && g.running == self.addr())) {
            g.forward(sys.jiffies());
            let kick = self.enqueue_on(sys, cur, &mut g, expires);
            drop(g);
            kick_nohz_cpu(sys, kick);
            return was_pending;
        }
        self.0.cpu.store(CPU_MIGRATING, Ordering::Release);
        self.publish(sys, cur, &g);
        drop(g);
        // Only a thread still leaving an offline CPU, or a race with cpu_down, meets a
        // dead base: the timer goes to an online CPU, where timers_dead_cpu would have
        // moved it.
        let online = |c: &CpuId| sys.cpu(*c).is_ok_and(|s| s.online());
        let live = sys.current_cpu().into_iter().chain((0..sys.nr_cpus() as u32).map(CpuId));
        let lock = |c: CpuId| sys.timers.cpus[c].bases[self.base_index()].lock_irqsave(sys);
        let (cpu, mut ng) = core::iter::once(want)
            .chain(live.filter(online))
            .find_map(|c| Some((c, lock(c))).filter(|(_, g)| !g.dead))
            // No CPU online at all (a system whose runtime never marked one): stay.
            .unwrap_or_else(|| (cur, lock(cur)));
        ng.forward(sys.jiffies());
        self.0.cpu.store(cpu.0, Ordering::Release);
        let kick = self.enqueue_on(sys, cpu, &mut ng, expires);
        drop(ng);
        kick_nohz_cpu(sys, kick);
        was_pending
    }

    /// `enqueue_timer` + publishing the base's next expiry. Returns the CPU to wake
    /// (`trigger_dyntick_cpu`): the base is another CPU's, that CPU stopped its tick in
    /// idle, and the timer is now its first. Deferrable timers never wake a CPU.
    fn enqueue_on(
        &self,
        sys: &IrqSystem,
        cpu: CpuId,
        base: &mut TimerBase,
        expires: u64,
    ) -> Option<CpuId> {
        let before = base.next_expiry;
        base.enqueue(self.0.clone(), expires);
        self.publish(sys, cpu, base);
        let remote = sys.current_cpu() != Some(cpu);
        let first = base.next_expiry < before;
        let idle = sys.timers.cpus[cpu].is_idle.load(Ordering::Relaxed);
        (remote && first && idle && !self.is_deferrable()).then_some(cpu)
    }
}

/// `wake_up_nohz_cpu`: a reschedule IPI makes a tickless idle CPU leave its halt and
/// look at its timers again.
fn kick_nohz_cpu(sys: &IrqSystem, cpu: Option<CpuId>) {
    if let Some(c) = cpu {
        // An offline CPU has no tick to restart; its timers move at takeover.
        let _ = sys.platform().send_ipi(c, crate::platform::Ipi::Reschedule);
    }
}

impl Timer {
    /// `mod_timer`: (re)arms the timer to expire at `expires` (absolute jiffies) on
    /// this CPU. Returns whether it was pending before.
    pub fn modify(&self, sys: &IrqSystem, expires: u64) -> bool {
        if self.pending() && self.expires() == expires {
            // Linux's shortcut: re-arming to the same expiry is a no-op.
            let _g = self.lock_base(sys);
            if self.pending() && self.expires() == expires {
                return true;
            }
        }
        self.requeue(sys, expires, None)
    }

    /// `add_timer`: arms an idle timer. Adding a pending timer is a bug Linux BUGs on:
    /// here it is `Busy` and the timer is unchanged.
    pub fn add(&self, sys: &IrqSystem, expires: u64) -> Result<(), IrqError> {
        if self.pending() {
            return Err(IrqError::Busy("add_timer of a pending timer"));
        }
        self.requeue(sys, expires, None);
        Ok(())
    }

    /// `add_timer_on`: arms an idle timer on `cpu`'s wheel. `CpuOffline` for an
    /// offline CPU, `Busy` if pending; the timer is unchanged on error. As in Linux, a
    /// timer moved this way while its callback still runs on the old CPU may start on
    /// the new one before that run ends; `mod_timer` never does that.
    pub fn add_on(&self, sys: &IrqSystem, expires: u64, cpu: CpuId) -> Result<(), IrqError> {
        if !sys.cpu(cpu)?.online() {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        if self.pending() {
            return Err(IrqError::Busy("add_timer_on of a pending timer"));
        }
        self.requeue(sys, expires, Some(cpu));
        Ok(())
    }

    /// `del_timer` (`timer_delete`): disarms; true if it was pending. A callback
    /// already running may still be running on return.
    pub fn del(&self, sys: &IrqSystem) -> bool {
        let (mut g, cpu) = self.lock_base(sys);
        let was = g.detach(&self.0);
        self.publish(sys, cpu, &g);
        was
    }

    /// `del_timer_sync` (`timer_delete_sync`): disarms and waits until the callback is
    /// not running anywhere. May sleep: needs task context; from atomic context it is
    /// `WrongContext` and nothing changes. The callback must not re-arm the timer
    /// unconditionally, or this may wait for ever (as in Linux).
    pub fn del_sync(&self, sys: &IrqSystem, task: &Task) -> Result<bool, IrqError> {
        sys.might_sleep("del_timer_sync")?;
        let mut was = false;
        loop {
            let (mut g, cpu) = self.lock_base(sys);
            was |= g.detach(&self.0);
            self.publish(sys, cpu, &g);
            if g.running != self.addr() {
                return Ok(was);
            }
            drop(g);
            sys.bh_wait_step(task);
        }
    }
}

impl IrqSystem {
    /// `mod_timer` in Linux's spelling.
    pub fn mod_timer(&self, t: &Timer, expires: u64) -> bool {
        t.modify(self, expires)
    }

    /// `add_timer` in Linux's spelling.
    pub fn add_timer(&self, t: &Timer, expires: u64) -> Result<(), IrqError> {
        t.add(self, expires)
    }

    /// `add_timer_on` in Linux's spelling.
    pub fn add_timer_on(&self, t: &Timer, expires: u64, cpu: CpuId) -> Result<(), IrqError> {
        t.add_on(self, expires, cpu)
    }

    /// `del_timer` in Linux's spelling.
    pub fn del_timer(&self, t: &Timer) -> bool {
        t.del(self)
    }

    /// `del_timer_sync` in Linux's spelling.
    pub fn del_timer_sync(&self, t: &Timer, task: &Task) -> Result<bool, IrqError> {
        t.del_sync(self, task)
    }

    /// `timer_pending` in Linux's spelling.
    pub fn timer_pending(&self, t: &Timer) -> bool {
        t.pending()
    }
}
