//! IRQ domains (kernel/irq/irqdomain.c, spec 1.17): translation from a controller's
//! hwirq to a Linux irq number, plain and hierarchical.
//!
//! A domain has a reverse map: a linear array for small dense hwirq spaces (GIC SPIs),
//! a tree for large sparse ones (ITS LPIs, MSI), or none (hwirq == virq). A plain
//! domain maps one level; a hierarchical domain (MSI → ITS → GIC) gives each descriptor
//! one [`IrqData`] per level, allocated outermost-first by each domain's `alloc`
//! (which calls its parent's), and activated innermost-first: resources are reserved
//! at allocation, hardware is programmed at activation.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;

use super::chip::IrqData;
use super::flags::Trigger;
pub(crate) use super::hierarchy::{irq_activate, irq_deactivate};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};

/// The reverse-map kind of a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevMap {
    /// An array of this many slots (`irq_domain_create_linear`).
    Linear(u32),
    /// A tree; any hwirq (`irq_domain_create_tree`).
    Tree,
    /// hwirq == virq up to this bound (`irq_domain_create_nomap`).
    NoMap(u32),
}

/// A domain's callbacks (`struct irq_domain_ops`); all optional.
pub trait DomainOps: Send + Sync {
    /// Binds chip and flow handler to a new plain mapping (`ops->map`).
    fn map(
        &self,
        _sys: &IrqSystem,
        _domain: &IrqDomain,
        _virq: u32,
        _hwirq: u64,
    ) -> Result<(), IrqError> {
        Ok(())
    }
    /// Undoes `map`.
    fn unmap(&self, _sys: &IrqSystem, _domain: &IrqDomain, _virq: u32) {}
    /// Translates a firmware specifier to (hwirq, trigger); default: one or two cells.
    fn xlate(&self, _domain: &IrqDomain, fwspec: &[u32]) -> Result<(u64, Trigger), IrqError> {
        xlate_onetwocell(fwspec)
    }
    /// Hierarchy: sets up this level for `nr` irqs from `virq` and calls the parent.
    fn alloc(
        &self,
        _sys: &IrqSystem,
        _domain: &Arc<IrqDomain>,
        _virq: u32,
        _nr: u32,
        _arg: &[u32],
    ) -> Result<(), IrqError> {
        Err(IrqError::Unsupported("domain has no alloc"))
    }
    /// Hierarchy: releases what `alloc` set up.
    fn free(&self, _sys: &IrqSystem, _domain: &IrqDomain, _virq: u32, _nr: u32) {}
    /// Programs the hardware for this level (`ops->activate`).
    fn activate(&self, _domain: &IrqDomain, _d: &IrqData) -> Result<(), IrqError> {
        Ok(())
    }
    /// Undoes `activate`.
    fn deactivate(&self, _domain: &IrqDomain, _d: &IrqData) {}
}

/// `irq_domain_xlate_onecell`: (cell 0, no type).
pub fn xlate_onecell(fwspec: &[u32]) -> Result<(u64, Trigger), IrqError> {
    fwspec
        .first()
        .map(|h| (*h as u64, Trigger::NONE))
        .ok_or(IrqError::InvalidArgument("empty fwspec"))
}

/// `irq_domain_xlate_twocell`: (cell 0, cell 1 as trigger type).
pub fn xlate_twocell(fwspec: &[u32]) -> Result<(u64, Trigger), IrqError> {
    match fwspec {
        [h, t, ..] => Ok((*h as u64, Trigger::from_bits_truncate(*t & Trigger::SENSE_MASK.bits()))),
        _ => Err(IrqError::InvalidArgument("twocell fwspec needs two cells")),
    }
}

/// `irq_domain_xlate_onetwocell`.
pub fn xlate_onetwocell(fwspec: &[u32]) -> Result<(u64, Trigger), IrqError> {
    if fwspec.len() >= 2 {
        xlate_twocell(fwspec)
    } else {
        xlate_onecell(fwspec)
    }
}

/// An interrupt domain (`struct irq_domain`).
pub struct IrqDomain {
    pub(crate) name: String,
    pub(crate) ops: Arc<dyn DomainOps>,
    pub(crate) parent: Option<Arc<IrqDomain>>,
    pub(crate) kind: RevMap,
    pub(crate) hwirq_max: u64,
    pub(crate) linear: Box<[AtomicU32]>,
    pub(crate) tree: SpinLockIrq<BTreeMap<u64, u32>>,
    pub(crate) mapcount: AtomicU32,
    pub(crate) host_data: Option<Arc<dyn Any + Send + Sync>>,
}

impl IrqDomain {
    /// The domain's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The parent domain (hierarchy).
    pub fn parent(&self) -> Option<&Arc<IrqDomain>> {
        self.parent.as_ref()
    }
    /// True for a hierarchical domain (has a parent or an `alloc`).
    pub fn is_hierarchy(&self) -> bool {
        self.parent.is_some()
    }
    /// The reverse-map kind.
    pub fn revmap_kind(&self) -> RevMap {
        self.kind
    }
    /// Number of live mappings.
    pub fn mapcount(&self) -> u32 {
        self.mapcount.load(Ordering::Relaxed)
    }
    /// The controller's private data.
    pub fn host_data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.host_data.as_ref().and_then(|d| d.downcast_ref())
    }

    /// `irq_find_mapping`: the virq of `hwirq`, lock-free for linear domains.
    #[inline]
    pub fn find_mapping(&self, sys: &IrqSystem, hwirq: u64) -> Option<u32> {
        if let RevMap::NoMap(max) = self.kind {
            return (hwirq < max as u64).then_some(hwirq as u32);
        }
        if let Some(slot) = self.linear.get(hwirq as usize) {
            let v = slot.load(Ordering::Acquire);
            return (v != 0).then_some(v);
        }
        self.tree.lock_irqsave(sys).get(&hwirq).copied()
    }

    pub(crate) fn revmap_set(&self, sys: &IrqSystem, hwirq: u64, virq: Option<u32>) {
        if let RevMap::NoMap(_) = self.kind {
            return;
        }
        match self.linear.get(hwirq as usize) {
            Some(slot) => slot.store(virq.unwrap_or(0), Ordering::Release),
            None => {
                let mut t = self.tree.lock_irqsave(sys);
                match virq {
                    Some(v) => t.insert(hwirq, v),
                    None => t.remove(&hwirq),
                };
            }
        }
    }
}
