//! Expiring timers (`run_timer_softirq`) and the tick (`update_process_times`).

use super::{Timer, BASE_DEF, BASE_STD};
use crate::cpu::{CpuId, HardIrq, SoftIrq};
use crate::softirq::SoftirqVec;
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

/// TIMER_SOFTIRQ's action: runs every due timer of this CPU's two bases.
pub(crate) fn run_timer_softirq(sys: &IrqSystem, tok: &SoftIrq) {
    let Some(cpu) = sys.current_cpu() else { return };
    run_timer_base(sys, cpu, BASE_STD, tok);
    run_timer_base(sys, cpu, BASE_DEF, tok);
}

/// `__run_timers`: advances the wheel clock to `jiffies`, collecting due buckets and
/// calling each timer with the base unlocked and `running` naming it.
fn run_timer_base(sys: &IrqSystem, cpu: CpuId, idx: usize, tok: &SoftIrq) {
    let per = &sys.timers.cpus[cpu];
    let jiffies = sys.jiffies();
    if per.next_hint[idx].load(Ordering::Acquire) > jiffies {
        return;
    }
    let mut g = per.bases[idx].lock_irqsave(sys);
    while g.clk <= jiffies && g.next_expiry <= jiffies {
        // Nothing is due before next_expiry: skip the empty jiffies at once.
        if g.clk < g.next_expiry {
            g.clk = g.next_expiry;
        }
        g.collect_expired();
        g.clk += 1;
        g.recalc_next_expiry();
        per.next_hint[idx].store(g.next_expiry, Ordering::Release);
        while let Some(t) = g.pop_expiring() {
            let timer = Timer(t);
            g.running = timer.addr();
            drop(g);
            (timer.0.func)(sys, &timer, tok);
            drop(timer);
            g = per.bases[idx].lock_irqsave(sys);
        }
    }
    g.running = 0;
    per.next_hint[idx].store(g.next_expiry, Ordering::Release);
}

impl IrqSystem {
    /// The tick (`tick_handle_periodic` → `update_process_times`): advances `jiffies`
    /// from `now_ns()`, raises TIMER_SOFTIRQ if a timer on this CPU is due, runs the
    /// scheduler tick and lazy irq_work. The runtime calls it from its timer interrupt
    /// on every CPU.
    pub fn tick(&self, hard: &HardIrq) {
        self.update_jiffies();
        if let Some(cpu) = self.this_cpu_opt() {
            // run_local_timers
            let j = self.jiffies();
            let per = &self.timers.cpus[cpu.id()];
            if per.next_hint.iter().any(|h| h.load(Ordering::Acquire) <= j) {
                self.raise_on(cpu, SoftirqVec::Timer);
            }
        }
        self.scheduler_tick();
        self.irq_work_tick(hard);
    }

    /// `tick_do_update_jiffies64`: brings `jiffies` up to the clock and returns it.
    /// The tick does this; a CPU whose tick is stopped in idle calls it on interrupt
    /// entry and idle exit, so jiffies stay right with every tick stopped. Never moves
    /// jiffies back; raises nothing.
    pub fn update_jiffies(&self) -> u64 {
        let ns_per_jiffy = 1_000_000_000 / self.config().hz as u64;
        let now = self.now_ns() / ns_per_jiffy;
        self.timers.jiffies.fetch_max(now, Ordering::AcqRel).max(now)
    }

    /// `get_next_timer_interrupt` as the idle path calls it before stopping the tick:
    /// [`IrqSystem::next_timer_expiry`], and `cpu`'s base is marked idle under its
    /// lock, so a timer that another CPU queues there first from now on sends `cpu` a
    /// reschedule IPI (`wake_up_nohz_cpu`). Undo with [`IrqSystem::timers_clear_idle`].
    pub fn timers_idle_enter(&self, cpu: CpuId) -> Option<u64> {
        let per = self.timers.cpus.get(cpu)?;
        let g = per.bases[BASE_STD].lock_irqsave(self);
        per.is_idle.store(true, Ordering::Relaxed);
        if g.len() == 0 {
            return None;
        }
        Some(match g.next_bucket_expiry() {
            u64::MAX => g.clk,
            next => next,
        })
    }

    /// `timer_clear_idle`: `cpu` keeps (or restarted) its tick; queueing a timer on
    /// its base no longer wakes it. No lock: cheap on the idle-exit path.
    pub fn timers_clear_idle(&self, cpu: CpuId) {
        if let Some(per) = self.timers.cpus.get(cpu) {
            if per.is_idle.load(Ordering::Relaxed) {
                per.is_idle.store(false, Ordering::Relaxed);
            }
        }
    }

    /// `timers_dead_cpu`: moves every timer of the offline CPU `dead` to this CPU's
    /// wheel, keeping its expiry, so none is lost.
    pub fn timers_takeover(&self, dead: CpuId) -> Result<(), crate::IrqError> {
        let here = self.current_cpu().ok_or(crate::IrqError::WrongContext("takeover off-cpu"))?;
        if self.cpu(dead)?.online() {
            return Err(crate::IrqError::Busy("cpu is still online"));
        }
        if dead == here {
            return Ok(());
        }
        for idx in [BASE_STD, BASE_DEF] {
            // Only hotplug holds two bases, always dead CPU first: no lock-order cycle.
            let mut old = self.timers.cpus[dead].bases[idx].lock_irqsave(self);
            let mut new = self.timers.cpus[here].bases[idx].lock_irqsave(self);
            new.forward(self.jiffies());
            for t in old.drain_all() {
                let expires = t.expires.load(Ordering::Relaxed);
                t.cpu.store(here.0, Ordering::Release);
                new.enqueue(t, expires);
            }
            old.dead = true;
            self.timers.cpus[dead].next_hint[idx].store(u64::MAX, Ordering::Release);
            self.timers.cpus[here].next_hint[idx].store(new.next_expiry, Ordering::Release);
        }
        Ok(())
    }

    /// `timers_prepare_cpu`: the offline `cpu`'s wheel takes timers again (call before
    /// the CPU comes back online). `Busy` while it is online.
    pub fn timers_prepare_cpu(&self, cpu: CpuId) -> Result<(), crate::IrqError> {
        if self.cpu(cpu)?.online() {
            return Err(crate::IrqError::Busy("cpu is still online"));
        }
        for idx in [BASE_STD, BASE_DEF] {
            let mut g = self.timers.cpus[cpu].bases[idx].lock_irqsave(self);
            g.dead = false;
            g.forward(self.jiffies());
        }
        Ok(())
    }

    /// The earliest jiffy at which `cpu` must wake for a (non-deferrable) timer, or
    /// `None` if it has none (`get_next_timer_interrupt`).
    pub fn next_timer_expiry(&self, cpu: CpuId) -> Option<u64> {
        let per = self.timers.cpus.get(cpu)?;
        let g = per.bases[BASE_STD].lock_irqsave(self);
        if g.len() == 0 {
            return None;
        }
        // Only collected-but-unrun timers and no bucket: they are due now.
        Some(match g.next_bucket_expiry() {
            u64::MAX => g.clk,
            next => next,
        })
    }
}
