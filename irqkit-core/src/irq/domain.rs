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
    name: String,
    pub(crate) ops: Arc<dyn DomainOps>,
    parent: Option<Arc<IrqDomain>>,
    kind: RevMap,
    pub(crate) hwirq_max: u64,
    linear: Box<[AtomicU32]>,
    tree: SpinLockIrq<BTreeMap<u64, u32>>,
    pub(crate) mapcount: AtomicU32,
    host_data: Option<Arc<dyn Any + Send + Sync>>,
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

impl IrqSystem {
    /// `irq_domain_create_{linear,tree,nomap}` (+ `_hierarchy` with a parent).
    pub fn irq_domain_create(
        &self,
        name: &str,
        kind: RevMap,
        ops: Arc<dyn DomainOps>,
        parent: Option<Arc<IrqDomain>>,
        host_data: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Result<Arc<IrqDomain>, IrqError> {
        let (slots, hwirq_max) = match kind {
            RevMap::Linear(n) if n == 0 || n > super::NR_IRQS_MAX => {
                return Err(IrqError::InvalidArgument("bad linear domain size"))
            }
            RevMap::Linear(n) => (n as usize, n as u64),
            RevMap::Tree => (0, u64::MAX),
            RevMap::NoMap(max) => (0, max as u64),
        };
        let d = Arc::new(IrqDomain {
            name: name.into(),
            ops,
            parent,
            kind,
            hwirq_max,
            linear: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            tree: SpinLockIrq::new(BTreeMap::new()),
            mapcount: AtomicU32::new(0),
            host_data,
        });
        self.irq.domains.lock_irqsave(self).push(d.clone());
        Ok(d)
    }

    /// `irq_set_default_domain`: the domain `irq_create_mapping(None, ..)` uses.
    pub fn irq_set_default_domain(&self, domain: Option<Arc<IrqDomain>>) {
        *self.irq.default_domain.lock_irqsave(self) = domain;
    }

    /// `irq_domain_remove`: unregisters an unused domain.
    pub fn irq_domain_remove(&self, domain: &Arc<IrqDomain>) -> Result<(), IrqError> {
        if domain.mapcount() != 0 {
            return Err(IrqError::Busy("domain still has mappings"));
        }
        self.irq.domains.lock_irqsave(self).retain(|d| !Arc::ptr_eq(d, domain));
        Ok(())
    }

    fn domain_or_default(
        &self,
        domain: Option<&Arc<IrqDomain>>,
    ) -> Result<Arc<IrqDomain>, IrqError> {
        match domain {
            Some(d) => Ok(d.clone()),
            None => self
                .irq
                .default_domain
                .lock_irqsave(self)
                .clone()
                .ok_or(IrqError::NotFound("no default irq domain")),
        }
    }

    /// `irq_domain_associate`: binds an allocated `virq` to `hwirq` in `domain`.
    pub fn irq_domain_associate(
        &self,
        domain: &Arc<IrqDomain>,
        virq: u32,
        hwirq: u64,
    ) -> Result<(), IrqError> {
        if hwirq >= domain.hwirq_max {
            self.irq.log_line(
                self,
                alloc::format!("error: hwirq 0x{hwirq:x} is too large for {}", domain.name),
            );
            return Err(IrqError::InvalidArgument("hwirq too large for domain"));
        }
        let desc = self.irq_to_desc(virq)?;
        {
            let mut g = desc.inner.lock_irqsave(self);
            if g.data.domain.is_some() {
                return Err(IrqError::Busy("virq already associated"));
            }
            g.data.domain = Some(domain.clone());
            g.data.hwirq = hwirq;
        }
        if let Err(e) = domain.ops.map(self, domain, virq, hwirq) {
            if e != IrqError::WrongContext("") {
                self.irq.log_line(
                    self,
                    alloc::format!(
                        "{} didn't like hwirq-0x{hwirq:x} to VIRQ{virq} mapping ({e})",
                        domain.name
                    ),
                );
            }
            let mut g = desc.inner.lock_irqsave(self);
            g.data.domain = None;
            g.data.hwirq = 0;
            return Err(e);
        }
        domain.mapcount.fetch_add(1, Ordering::Relaxed);
        domain.revmap_set(self, hwirq, Some(virq));
        desc.inner.lock_irqsave(self).settings.remove(super::flags::IrqSettings::NOREQUEST);
        Ok(())
    }

    /// `irq_create_mapping`: the virq of `hwirq`, creating the mapping if needed (an
    /// existing mapping returns the same virq).
    pub fn irq_create_mapping(
        &self,
        domain: Option<&Arc<IrqDomain>>,
        hwirq: u64,
    ) -> Result<u32, IrqError> {
        let domain = self.domain_or_default(domain)?;
        if let Some(v) = domain.find_mapping(self, hwirq) {
            return Ok(v);
        }
        if hwirq >= domain.hwirq_max {
            return Err(IrqError::InvalidArgument("hwirq too large for domain"));
        }
        let virq = match domain.kind {
            RevMap::NoMap(_) => self.irq_alloc_descs(hwirq as u32, 1, true)?,
            _ => {
                let hint = (hwirq % self.irq.descs.nr_irqs() as u64).max(1) as u32;
                self.irq_alloc_descs(hint, 1, false)
                    .or_else(|_| self.irq_alloc_descs(1, 1, false))?
            }
        };
        if let Err(e) = self.irq_domain_associate(&domain, virq, hwirq) {
            let _ = self.irq_free_descs(virq, 1);
            return Err(e);
        }
        Ok(virq)
    }

    /// `irq_find_mapping`.
    pub fn irq_find_mapping(&self, domain: &IrqDomain, hwirq: u64) -> Option<u32> {
        domain.find_mapping(self, hwirq)
    }

    /// `irq_create_fwspec_mapping`: translate, reuse or create, and store the type.
    pub fn irq_create_fwspec_mapping(
        &self,
        domain: &Arc<IrqDomain>,
        fwspec: &[u32],
    ) -> Result<u32, IrqError> {
        let (hwirq, ty) = domain.ops.xlate(domain, fwspec)?;
        if let Some(virq) = domain.find_mapping(self, hwirq) {
            let cur = self.irq_to_desc(virq)?.trigger();
            if ty.is_empty() || ty == cur {
                return Ok(virq);
            }
            if cur.is_empty() {
                self.irq_set_default_trigger(virq, ty)?;
                return Ok(virq);
            }
            self.irq.log_line(
                self,
                alloc::format!("type mismatch, failed to map hwirq-{hwirq} for {}!", domain.name),
            );
            return Err(IrqError::Busy("trigger type mismatch"));
        }
        let virq = if domain.is_hierarchy() {
            self.irq_domain_alloc_irqs(domain, 1, fwspec)?
        } else {
            self.irq_create_mapping(Some(domain), hwirq)?
        };
        if !ty.is_empty() {
            self.irq_set_default_trigger(virq, ty)?;
        }
        Ok(virq)
    }

    /// `irq_dispose_mapping`: undoes a mapping and frees the descriptor.
    pub fn irq_dispose_mapping(&self, virq: u32) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(virq)?;
        let (domain, hwirq, busy) = {
            let g = desc.inner.lock_irqsave(self);
            (g.data.domain.clone(), g.data.hwirq, g.has_action())
        };
        let domain = domain.ok_or(IrqError::NotFound("irq has no domain mapping"))?;
        if busy {
            return Err(IrqError::Busy("irq still has handlers"));
        }
        if domain.is_hierarchy() {
            return self.irq_domain_free_irqs(virq, 1);
        }
        desc.inner.lock_irqsave(self).settings.insert(super::flags::IrqSettings::NOREQUEST);
        self.irq_set_handler(virq, super::FlowHandler::Bad)?;
        self.synchronize_hardirq(virq);
        domain.ops.unmap(self, &domain, virq);
        domain.mapcount.fetch_sub(1, Ordering::Relaxed);
        domain.revmap_set(self, hwirq, None);
        self.irq_free_descs(virq, 1)
    }

    /// `generic_handle_domain_irq`: the entry point of a controller driver —
    /// maps `hwirq` and runs the line's flow handler.
    #[inline]
    pub fn generic_handle_domain_irq(
        &self,
        domain: &IrqDomain,
        hwirq: u64,
        ctx: &crate::HardIrq,
    ) -> Result<(), IrqError> {
        let virq =
            domain.find_mapping(self, hwirq).ok_or(IrqError::NotFound("hwirq not mapped"))?;
        let desc = self.irq_to_desc(virq)?;
        super::flow::generic_handle_irq_desc(self, desc, ctx);
        Ok(())
    }
}
