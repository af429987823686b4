//! Hierarchical domains (irqdomain.c `__irq_domain_alloc_irqs`, activation): one
//! [`IrqData`] level per domain from the outermost (e.g. PCI-MSI) to the root (GIC).
//!
//! Allocation is two-phase, as in Linux: `alloc` reserves resources level by level
//! (each domain's `alloc` calls [`IrqSystem::irq_domain_alloc_irqs_parent`]), and the
//! hardware is programmed only at activation (innermost level first), which happens
//! when a handler is requested.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::Any;

use super::chip::{IrqChip, IrqData};
use super::desc::{DescInner, IrqDesc};
use super::domain::IrqDomain;
use super::flags::IrqdState;
use super::flow::FlowHandler;
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// `irq_domain_alloc_irqs`: allocates `nr` descriptors, one level per domain of the
    /// hierarchy each, and runs `domain`'s `alloc` (which recurses to the parents).
    pub fn irq_domain_alloc_irqs(
        &self,
        domain: &Arc<IrqDomain>,
        nr: u32,
        arg: &[u32],
    ) -> Result<u32, IrqError> {
        let virq = self.irq_alloc_descs(1, nr, false)?;
        for v in virq..virq + nr {
            let desc = self.irq_to_desc(v)?;
            let mut g = desc.inner.lock_irqsave(self);
            let mut chain: Option<Box<IrqData>> = None;
            let mut doms = alloc::vec::Vec::new();
            let mut d = Some(domain.clone());
            while let Some(dom) = d {
                d = dom.parent().cloned();
                doms.push(dom);
            }
            for dom in doms.iter().rev() {
                let mut lvl = IrqData::new(v);
                lvl.domain = Some(dom.clone());
                lvl.parent = chain.take();
                chain = Some(Box::new(lvl));
            }
            if let Some(top) = chain {
                g.data = *top;
            }
        }
        if let Err(e) = domain.ops.alloc(self, domain, virq, nr, arg) {
            let _ = self.irq_free_descs(virq, nr);
            return Err(e);
        }
        for v in virq..virq + nr {
            let desc = self.irq_to_desc(v)?;
            let g = desc.inner.lock_irqsave(self);
            let mut cur = Some(&g.data);
            while let Some(d) = cur {
                if let Some(dom) = &d.domain {
                    if !d.is_no_chip() {
                        dom.mapcount.fetch_add(1, Ordering::Relaxed);
                        dom.revmap_set(self, d.hwirq, Some(v));
                    }
                }
                cur = d.parent();
            }
        }
        Ok(virq)
    }

    /// `irq_domain_alloc_irqs_parent`: for a domain's `alloc` to recurse upwards.
    pub fn irq_domain_alloc_irqs_parent(
        &self,
        domain: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        match domain.parent() {
            Some(p) => p.ops.alloc(self, p, virq, nr, arg),
            None => Err(IrqError::NotFound("domain has no parent")),
        }
    }

    /// `irq_domain_free_irqs_parent`: for a domain's `free` to recurse upwards.
    pub fn irq_domain_free_irqs_parent(&self, domain: &IrqDomain, virq: u32, nr: u32) {
        if let Some(p) = domain.parent() {
            p.ops.free(self, p, virq, nr);
        }
    }

    /// `irq_domain_set_hwirq_and_chip`: fills `domain`'s level of `virq`.
    pub fn irq_domain_set_hwirq_and_chip(
        &self,
        domain: &Arc<IrqDomain>,
        virq: u32,
        hwirq: u64,
        chip: Arc<dyn IrqChip>,
        chip_data: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Result<(), IrqError> {
        let desc = self.irq_to_desc(virq)?;
        set_level(&mut desc.inner.lock_irqsave(self), domain, hwirq, chip, chip_data)
    }

    /// `irq_domain_set_info`: level info plus the descriptor's flow handler and name.
    #[allow(clippy::too_many_arguments)] // Linux's signature, argument for argument
    pub fn irq_domain_set_info(
        &self,
        domain: &Arc<IrqDomain>,
        virq: u32,
        hwirq: u64,
        chip: Arc<dyn IrqChip>,
        chip_data: Option<Arc<dyn Any + Send + Sync>>,
        handler: FlowHandler,
        flow_name: Option<&'static str>,
    ) -> Result<(), IrqError> {
        self.irq_domain_set_hwirq_and_chip(domain, virq, hwirq, chip, chip_data)?;
        let desc = self.irq_to_desc(virq)?;
        let mut g = desc.inner.lock_irqsave(self);
        g.handler = handler;
        g.set_flow_name(flow_name);
        Ok(())
    }

    /// `irq_domain_free_irqs`: frees `nr` hierarchical irqs (no handler may remain).
    pub fn irq_domain_free_irqs(&self, virq: u32, nr: u32) -> Result<(), IrqError> {
        let mut top = None;
        for v in virq..virq.saturating_add(nr) {
            let desc = self.irq_to_desc(v)?;
            let mut g = desc.inner.lock_irqsave(self);
            if g.has_action() {
                return Err(IrqError::Busy("irq still has handlers"));
            }
            irq_deactivate(desc, &mut g);
            let mut cur = Some(&g.data);
            while let Some(d) = cur {
                if let Some(dom) = &d.domain {
                    if !d.is_no_chip() {
                        dom.mapcount.fetch_sub(1, Ordering::Relaxed);
                        dom.revmap_set(self, d.hwirq, None);
                    }
                }
                cur = d.parent();
            }
            top = top.or(g.data.domain.clone());
        }
        if let Some(dom) = top {
            dom.ops.free(self, &dom, virq, nr);
        }
        self.irq_free_descs(virq, nr)
    }
}

/// `irq_domain_activate_irq`: innermost level first; undo on error; sets ACTIVATED.
pub(crate) fn irq_activate(
    _sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
) -> Result<(), IrqError> {
    if desc.is_activated() {
        return Ok(());
    }
    let mut levels: alloc::vec::Vec<&IrqData> = alloc::vec::Vec::new();
    let mut cur = Some(&inner.data);
    while let Some(d) = cur {
        levels.push(d);
        cur = d.parent();
    }
    for (i, d) in levels.iter().enumerate().rev() {
        if let Some(dom) = &d.domain {
            if let Err(e) = dom.ops.activate(dom, d) {
                for done in levels[i + 1..].iter() {
                    if let Some(dd) = &done.domain {
                        dd.ops.deactivate(dd, done);
                    }
                }
                return Err(e);
            }
        }
    }
    desc.irqd_set(IrqdState::ACTIVATED);
    Ok(())
}

/// `irq_domain_deactivate_irq`: outermost first; clears ACTIVATED.
pub(crate) fn irq_deactivate(desc: &IrqDesc, inner: &mut DescInner) {
    if !desc.is_activated() {
        return;
    }
    let mut cur = Some(&inner.data);
    while let Some(d) = cur {
        if let Some(dom) = &d.domain {
            dom.ops.deactivate(dom, d);
        }
        cur = d.parent();
    }
    desc.irqd_clear(IrqdState::ACTIVATED);
}

/// Sets chip, hwirq and data at `domain`'s level of a hierarchical descriptor.
pub(crate) fn set_level(
    inner: &mut DescInner,
    domain: &Arc<IrqDomain>,
    hwirq: u64,
    chip: Arc<dyn IrqChip>,
    chip_data: Option<Arc<dyn Any + Send + Sync>>,
) -> Result<(), IrqError> {
    let mut cur = Some(&mut inner.data);
    while let Some(d) = cur {
        if d.domain.as_ref().is_some_and(|x| Arc::ptr_eq(x, domain)) {
            d.hwirq = hwirq;
            d.chip = chip;
            d.chip_data = chip_data;
            return Ok(());
        }
        cur = d.parent.as_deref_mut();
    }
    Err(IrqError::NotFound("domain is not a level of this irq"))
}
