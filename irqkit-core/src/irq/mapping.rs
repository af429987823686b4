//! Plain domain mappings (irqdomain.c `irq_domain_associate`, `irq_create_mapping`,
//! `irq_create_fwspec_mapping`, `irq_dispose_mapping`) and the controller entry point
//! `generic_handle_domain_irq`.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::any::Any;

use super::domain::{DomainOps, IrqDomain, RevMap};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::SpinLockIrq;
use crate::{IrqError, IrqSystem};

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
                alloc::format!("error: hwirq 0x{hwirq:x} is too large for {}", domain.name()),
            );
            return Err(IrqError::InvalidArgument("hwirq too large for domain"));
        }
        let desc = self.irq_to_desc(virq)?;
        {
            let mut g = desc.inner.lock_irqsave(self);
            if g.data.domain.is_some() {
                return Err(IrqError::InvalidArgument("virq already associated"));
            }
            g.data.domain = Some(domain.clone());
            g.data.hwirq = hwirq;
        }
        if let Err(e) = domain.ops.map(self, domain, virq, hwirq) {
            if !matches!(e, IrqError::WrongContext(_)) {
                self.irq.log_line(
                    self,
                    alloc::format!(
                        "{} didn't like hwirq-0x{hwirq:x} to VIRQ{virq} mapping ({e})",
                        domain.name()
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
                alloc::format!("type mismatch, failed to map hwirq-{hwirq} for {}!", domain.name()),
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
