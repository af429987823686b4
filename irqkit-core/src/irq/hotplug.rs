//! CPU hot-unplug migration and re-plug (kernel/irq/cpuhotplug.c, spec 1.15).
//!
//! When a CPU goes offline every line whose effective affinity contains it is moved to
//! another online CPU of its mask; a non-managed line with no such CPU is "broken" to
//! all online CPUs; a managed line is shut down instead (its vector belonged to that
//! CPU) and started again, with its depth intact, when a CPU of its mask returns.

use alloc::format;

use super::chip::ChipCallbacks;
use super::chip_state::{irq_shutdown_and_deactivate, irq_startup_managed, mask_irq, unmask_irq};
use super::desc::{DescInner, IrqDesc};
use super::flags::{ChipFlags, IrqdState};
use crate::cpu::CpuId;
use crate::{IrqError, IrqSystem};

/// `migrate_one_irq`; returns true if the affinity had to be broken.
fn migrate_one_irq(sys: &IrqSystem, desc: &IrqDesc, g: &mut DescInner, dying: CpuId) -> bool {
    if !g.data.chip.callbacks().contains(ChipCallbacks::SET_AFFINITY) {
        return false;
    }
    let online = sys.online_mask();
    let pending = g.take_pending_mask();
    desc.irqd_clear(IrqdState::SETAFFINITY_PENDING);
    if desc.is_per_cpu() || !desc.is_started() {
        return false;
    }
    let eff = if g.effective.is_empty() { g.affinity.get() } else { g.effective.get() };
    if !eff.contains(dying) {
        return false;
    }
    let mut target = match pending {
        Some(p) if p.intersects(&online) => p,
        _ => g.affinity.get(),
    };
    let masked_here = g.data.chip.flags().contains(ChipFlags::MOVE_DEFERRED) && !desc.is_masked();
    if masked_here {
        mask_irq(desc, g);
    }
    let mut broken = false;
    if !target.intersects(&online) {
        if desc.is_managed() {
            desc.irqd_set(IrqdState::MANAGED_SHUTDOWN);
            irq_shutdown_and_deactivate(sys, desc, g);
            return false;
        }
        target = online;
        broken = true;
    }
    let mut res = super::affinity::irq_do_set_affinity(sys, desc, g, &target, false);
    // Out of vectors on the target: a non-managed line falls back to all online CPUs.
    if matches!(res, Err(IrqError::NoSpace(_))) && !desc.is_managed() && target != online {
        broken = true;
        res = super::affinity::irq_do_set_affinity(sys, desc, g, &online, false);
    }
    if let Err(e) = res {
        sys.irq.log_line(sys, format!("IRQ{}: set affinity failed({}).", desc.irq(), -e.errno()));
    }
    if masked_here {
        unmask_irq(desc, g);
    }
    if broken {
        sys.irq.log_line(sys, format!("IRQ {}: no longer affine to CPU{}", desc.irq(), dying.0));
    }
    broken
}

impl IrqSystem {
    /// `irq_migrate_all_off_this_cpu`: call after `cpu` left the online mask. Returns
    /// how many lines had their affinity broken.
    pub fn irq_migrate_all_off_cpu(&self, cpu: CpuId) -> Result<usize, IrqError> {
        self.cpu(cpu)?;
        let mut broken = 0;
        for desc in self.irq.descs.iter() {
            let mut g = desc.inner.lock_irqsave(self);
            broken += migrate_one_irq(self, desc, &mut g, cpu) as usize;
        }
        Ok(broken)
    }

    /// `irq_affinity_online_cpu`: call after `cpu` joined the online mask; restarts
    /// managed lines shut down for lack of a CPU and re-applies their affinity.
    pub fn irq_affinity_online_cpu(&self, cpu: CpuId) -> Result<(), IrqError> {
        self.cpu(cpu)?;
        for desc in self.irq.descs.iter() {
            let mut g = desc.inner.lock_irqsave(self);
            if !desc.is_managed() || !g.has_action() || !g.affinity.contains(cpu) {
                continue;
            }
            if desc.irqd().contains(IrqdState::MANAGED_SHUTDOWN) {
                irq_startup_managed(self, desc, &mut g);
            } else if !desc.irqd().contains(IrqdState::SINGLE_TARGET) {
                let m = g.affinity.get();
                let _ = super::affinity::irq_do_set_affinity(self, desc, &mut g, &m, false);
            }
        }
        Ok(())
    }

    /// `remove_cpu` as far as interrupts go: marks `cpu` offline and migrates.
    pub fn irq_cpu_offline(&self, cpu: CpuId) -> Result<usize, IrqError> {
        self.cpu(cpu)?.set_online(false);
        self.irq_migrate_all_off_cpu(cpu)
    }

    /// `add_cpu` as far as interrupts go: marks `cpu` online and restores managed lines.
    pub fn irq_cpu_online(&self, cpu: CpuId) -> Result<(), IrqError> {
        self.cpu(cpu)?.set_online(true);
        self.irq_affinity_online_cpu(cpu)
    }
}
