//! Interrupt affinity (manage.c, spec 1.13): requested vs effective masks, the default
//! mask, pending moves, and managed spreading of multi-queue vectors.
//!
//! The requested mask is what the user or driver asked; the chip programs a subset of
//! its online CPUs and reports it back as the *effective* mask (often one CPU). A
//! managed interrupt's mask is the kernel's (spread over CPUs at allocation); users may
//! not change it, and CPU hotplug shuts it down rather than breaking its affinity.

use alloc::vec::Vec;

use super::chip::{ChipCallbacks, SetResult};
use super::desc::{DescInner, IrqDesc};
use super::flags::{ChipFlags, IrqdState, ThreadFlags};
use crate::cpu::{CpuId, CpuMask};
use crate::{IrqError, IrqSystem};

/// `irq_do_set_affinity`: program the chip, record requested and effective masks.
pub(crate) fn irq_do_set_affinity(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
    mask: &CpuMask,
    force: bool,
) -> Result<(), IrqError> {
    let chip = inner.data.chip.clone();
    if !chip.callbacks().contains(ChipCallbacks::SET_AFFINITY) {
        return Err(IrqError::InvalidArgument("chip cannot set affinity"));
    }
    let target = if force { *mask } else { mask.and(&sys.online_mask()) };
    if target.is_empty() {
        return Err(IrqError::InvalidArgument("affinity mask has no online cpu"));
    }
    let (res, eff) = chip.set_affinity(&inner.data, &target, force)?;
    if res != SetResult::NoCopy {
        inner.affinity.set(mask);
    }
    inner.effective.set(&eff);
    if eff.is_empty() {
        sys.irq.log_line(
            sys,
            alloc::format!(
                "irq_chip {} did not update eff. affinity mask of irq {}",
                chip.name(),
                desc.irq()
            ),
        );
    }
    for a in inner.actions.iter().flat_map(|l| l.iter()) {
        a.test_and_set_thread_flag(ThreadFlags::AFFINITY);
    }
    Ok(())
}

/// `irq_set_affinity_locked`.
pub(crate) fn irq_set_affinity_locked(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
    mask: &CpuMask,
    force: bool,
) -> Result<(), IrqError> {
    let st = desc.irqd();
    if !st.contains(IrqdState::ACTIVATED) && st.contains(IrqdState::AFFINITY_ON_ACTIVATE) {
        inner.affinity.set(mask);
        inner.effective.set(mask);
    } else if !inner.data.chip.flags().contains(ChipFlags::MOVE_DEFERRED)
        && inner.pending_mask().is_none()
    {
        irq_do_set_affinity(sys, desc, inner, mask, force)?;
    } else {
        // Linux queues any mask and drops one with no online CPU when the move is due
        // (irq_move_masked_irq); refusing it here reports the error to the caller.
        if !force && !mask.intersects(&sys.online_mask()) {
            return Err(IrqError::InvalidArgument("affinity mask has no online cpu"));
        }
        inner.rare_mut().pending_mask = Some(*mask);
        desc.irqd_set(IrqdState::SETAFFINITY_PENDING);
    }
    desc.irqd_set(IrqdState::AFFINITY_SET);
    Ok(())
}

/// `irq_setup_affinity` at startup: keep a managed/user mask that still has an online
/// CPU, else use the default mask; restrict to online CPUs.
pub(crate) fn irq_setup_affinity(sys: &IrqSystem, desc: &IrqDesc, inner: &mut DescInner) {
    let st = desc.irqd();
    if st.intersects(IrqdState::PER_CPU | IrqdState::NO_BALANCING)
        || !inner.data.chip.callbacks().contains(ChipCallbacks::SET_AFFINITY)
    {
        return;
    }
    let online = sys.online_mask();
    let mut mask = inner.affinity.get();
    if !(st.intersects(IrqdState::AFFINITY_MANAGED | IrqdState::AFFINITY_SET)
        && mask.intersects(&online))
    {
        desc.irqd_clear(IrqdState::AFFINITY_SET);
        mask = sys.irq.default_affinity(sys);
    }
    let mut target = mask.and(&online);
    if target.is_empty() {
        target = online;
    }
    let _ = irq_do_set_affinity(sys, desc, inner, &target, false);
    // Keep the requested mask as asked (Linux stores the unfiltered mask).
    if desc.irqd().contains(IrqdState::AFFINITY_SET) || desc.is_managed() {
        return;
    }
    inner.affinity.set(&mask);
}

/// `irq_create_affinity_masks` (simplified `group_cpus_evenly`, one node): spreads
/// `nvec` vectors over `nr_cpus` CPUs in contiguous groups, sizes differing by at most
/// one; with more vectors than CPUs the CPUs are reused round-robin.
pub fn irq_create_affinity_masks(nvec: usize, nr_cpus: usize) -> Vec<CpuMask> {
    let mut out = Vec::with_capacity(nvec);
    if nvec == 0 || nr_cpus == 0 {
        return out;
    }
    if nvec >= nr_cpus {
        for v in 0..nvec {
            out.push(CpuMask::single(CpuId((v % nr_cpus) as u32)));
        }
        return out;
    }
    let (base, extra) = (nr_cpus / nvec, nr_cpus % nvec);
    let mut cpu = 0;
    for v in 0..nvec {
        let n = base + (v < extra) as usize;
        let mut m = CpuMask::new();
        for c in cpu..cpu + n {
            m.set(CpuId(c as u32));
        }
        cpu += n;
        out.push(m);
    }
    out
}

impl IrqSystem {
    fn check_mask(&self, mask: &CpuMask) -> Result<(), IrqError> {
        if !mask.is_subset_of(&CpuMask::first_n(self.nr_cpus())) {
            return Err(IrqError::InvalidArgument("affinity mask names a cpu that does not exist"));
        }
        Ok(())
    }

    /// `irq_set_affinity`: route `irq` to the online CPUs of `mask`.
    pub fn irq_set_affinity(&self, irq: u32, mask: &CpuMask) -> Result<(), IrqError> {
        self.check_mask(mask)?;
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        if desc.irqd().intersects(IrqdState::PER_CPU | IrqdState::NO_BALANCING) {
            return Err(IrqError::InvalidArgument("irq is not balanceable"));
        }
        irq_set_affinity_locked(self, desc, &mut g, mask, false)
    }

    /// `irq_force_affinity`: like `irq_set_affinity` but the mask is not filtered by the
    /// online mask (CPU bring-up code).
    pub fn irq_force_affinity(&self, irq: u32, mask: &CpuMask) -> Result<(), IrqError> {
        self.check_mask(mask)?;
        let desc = self.irq_to_desc(irq)?;
        irq_set_affinity_locked(self, desc, &mut desc.inner.lock_irqsave(self), mask, true)
    }

    /// Marks `irq` as managed with `mask` (what `pci_alloc_irq_vectors_affinity` does
    /// for multi-queue devices before the driver requests the vectors).
    pub fn irq_set_managed_affinity(&self, irq: u32, mask: &CpuMask) -> Result<(), IrqError> {
        self.check_mask(mask)?;
        if mask.is_empty() {
            return Err(IrqError::InvalidArgument("empty managed mask"));
        }
        let desc = self.irq_to_desc(irq)?;
        let mut g = desc.inner.lock_irqsave(self);
        g.affinity.set(mask);
        desc.irqd_set(IrqdState::AFFINITY_MANAGED);
        Ok(())
    }

    /// `irqd_set_single_target`: the controller delivers `irq` to exactly one CPU of its
    /// effective mask (x86 vectors, GIC SPIs). Enables the edge flow's "affinity just
    /// moved here" wait instead of a lost edge (chip.c `irq_can_handle_pm`).
    pub fn irq_set_single_target(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        let _g = desc.inner.lock_irqsave(self);
        desc.irqd_set(IrqdState::SINGLE_TARGET);
        Ok(())
    }

    /// `irq_can_set_affinity_usr`: balanceable, chip setter, not managed.
    pub fn irq_can_set_affinity_usr(&self, irq: u32) -> bool {
        let Ok(desc) = self.irq_to_desc(irq) else { return false };
        let g = desc.inner.lock_irqsave(self);
        !desc
            .irqd()
            .intersects(IrqdState::PER_CPU | IrqdState::NO_BALANCING | IrqdState::AFFINITY_MANAGED)
            && g.data.chip.callbacks().contains(ChipCallbacks::SET_AFFINITY)
    }

    /// The requested affinity (the pending one while a move is pending).
    pub fn irq_get_affinity(&self, irq: u32) -> Result<CpuMask, IrqError> {
        let g = self.irq_to_desc(irq)?.inner.lock_irqsave(self);
        Ok(g.pending_mask().unwrap_or_else(|| g.affinity.get()))
    }

    /// The effective affinity.
    pub fn irq_get_effective_affinity(&self, irq: u32) -> Result<CpuMask, IrqError> {
        Ok(self.irq_to_desc(irq)?.inner.lock_irqsave(self).effective.get())
    }

    /// Sets `irq_default_affinity`; it must contain an online CPU.
    pub fn irq_set_default_affinity(&self, mask: &CpuMask) -> Result<(), IrqError> {
        self.check_mask(mask)?;
        if !mask.intersects(&self.online_mask()) {
            return Err(IrqError::InvalidArgument("default affinity has no online cpu"));
        }
        self.irq.store_default_affinity(self, *mask);
        Ok(())
    }

    /// `irq_move_masked_irq`: applies a pending affinity move; chips with
    /// MOVE_DEFERRED call it from their interrupt path (outside the flow handler,
    /// which holds the descriptor lock). Cheap when no move is pending. A `Busy`
    /// chip (a previous vector move not cleaned up yet) keeps the move pending for
    /// the next interrupt, as Linux does on -EBUSY.
    pub fn irq_move_pending(&self, irq: u32) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(irq)?;
        if !desc.irqd().contains(IrqdState::SETAFFINITY_PENDING) {
            return Ok(());
        }
        let mut g = desc.inner.lock_irqsave(self);
        let Some(mask) = g.take_pending_mask() else { return Ok(()) };
        desc.irqd_clear(IrqdState::SETAFFINITY_PENDING);
        let r = irq_do_set_affinity(self, desc, &mut g, &mask, false);
        if matches!(r, Err(IrqError::Busy(_))) {
            g.rare_mut().pending_mask = Some(mask);
            desc.irqd_set(IrqdState::SETAFFINITY_PENDING);
        }
        r
    }
}
