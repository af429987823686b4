//! `DescRare`: the descriptor fields that most lines never use, behind one box that is
//! allocated the first time one of them is written.
//!
//! A mapped but idle line (most of 65,536 MSI/LPI descriptors) never gets a flow name,
//! a pending affinity move, per-CPU enables, a wake-up setting, a nested parent or a
//! retired action list; it does get PM counts once a driver requests it. Keeping these
//! out of line makes the common descriptor a pointer smaller instead of ~80 bytes
//! bigger. Writers run in task context under the descriptor lock (request, free,
//! `irq_set_irq_wake`, `irq_set_affinity`), so the one allocation never lands on the
//! hard-irq path; readers see Linux's defaults while the box is absent.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::desc::{ActionList, DescInner};
use crate::cpu::CpuMask;

/// PM accounting of a line's actions (`nr_actions`, `no_suspend_depth`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PmCounts {
    /// Number of actions.
    pub nr_actions: u16,
    /// Actions with NO_SUSPEND.
    pub no_suspend_depth: u16,
    /// Actions with COND_SUSPEND.
    pub cond_suspend_depth: u16,
    /// Actions with FORCE_RESUME.
    pub force_resume_depth: u16,
}

/// The rarely written part of a descriptor (see the module docs).
#[derive(Default)]
pub(crate) struct DescRare {
    /// The flow name shown after the hwirq in `/proc/interrupts` ("edge", "fasteoi").
    pub(crate) flow_name: Option<&'static str>,
    /// A pending affinity move, applied from the next interrupt.
    pub(crate) pending_mask: Option<CpuMask>,
    /// Per-CPU lines: CPUs on which the line is enabled.
    pub(crate) percpu_enabled: CpuMask,
    /// Nested `irq_set_irq_wake(on)` count.
    pub(crate) wake_depth: u32,
    /// PM accounting.
    pub(crate) pm: PmCounts,
    /// The parent line of a nested-thread line (for software resend).
    pub(crate) parent_irq: Option<u32>,
    /// NUMA node (`/proc/irq/N/node`).
    pub(crate) node: i32,
    /// Action lists replaced while a flow handler still ran from them (`action_list.rs`).
    pub(crate) retired: Vec<ActionList>,
}

impl DescInner {
    /// The rare fields, if any was ever written.
    #[inline]
    pub(crate) fn rare(&self) -> Option<&DescRare> {
        self.rare.as_deref()
    }

    /// The rare fields for writing (allocated on first use; task context only).
    pub(crate) fn rare_mut(&mut self) -> &mut DescRare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The flow name shown in `/proc/interrupts`, if one was set.
    pub fn flow_name(&self) -> Option<&'static str> {
        self.rare().and_then(|r| r.flow_name)
    }

    /// Sets or clears the flow name (clearing an absent one allocates nothing).
    pub fn set_flow_name(&mut self, name: Option<&'static str>) {
        if name.is_some() || self.rare.is_some() {
            self.rare_mut().flow_name = name;
        }
    }

    /// A pending affinity move, if one waits for the next interrupt.
    pub fn pending_mask(&self) -> Option<CpuMask> {
        self.rare().and_then(|r| r.pending_mask)
    }

    /// Takes the pending affinity move (no allocation when there is none).
    pub(crate) fn take_pending_mask(&mut self) -> Option<CpuMask> {
        self.rare.as_mut().and_then(|r| r.pending_mask.take())
    }

    /// Per-CPU lines: the CPUs on which the line is enabled.
    pub fn percpu_enabled(&self) -> CpuMask {
        self.rare().map(|r| r.percpu_enabled).unwrap_or_default()
    }

    /// Mutable access to the per-CPU enabled mask.
    pub(crate) fn percpu_enabled_mut(&mut self) -> &mut CpuMask {
        &mut self.rare_mut().percpu_enabled
    }

    /// Nested `irq_set_irq_wake(on)` count.
    pub fn wake_depth(&self) -> u32 {
        self.rare().map_or(0, |r| r.wake_depth)
    }

    /// PM accounting of the actions.
    pub fn pm_counts(&self) -> PmCounts {
        self.rare().map(|r| r.pm).unwrap_or_default()
    }

    /// The parent line of a nested-thread line.
    pub fn parent_irq(&self) -> Option<u32> {
        self.rare().and_then(|r| r.parent_irq)
    }

    /// NUMA node (`/proc/irq/N/node`).
    pub fn node(&self) -> i32 {
        self.rare().map_or(0, |r| r.node)
    }
}
