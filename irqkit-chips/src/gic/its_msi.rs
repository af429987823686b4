//! The ITS MSI domain layer (Linux's its_msi_prepare / its_irq_domain_activate /
//! deactivate / set_affinity): per-device ITT allocation and MAPD, one LPI per
//! (device, event) with MAPTI on the target CPU's collection, MOVI on affinity change,
//! DISCARD on deactivation, mask/unmask through the property table and INV.
//!
//! This is the ITS level of the MSI → ITS → GIC hierarchy; the generic IRQ layer's
//! domain wraps it. Collection `n` is CPU `n` (Linux maps one collection per CPU).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::its_driver::{ItsDriver, MsiMsg};
use super::lpi::{FIRST_LPI, LPI_PROP_ENABLED};
use super::v3_driver::DmaMemory;
use crate::mmio::Mmio;

/// Alignment and minimum size Linux gives an ITT (256 bytes).
const ITT_ALIGN: u64 = 256;

struct Device {
    events: Vec<Option<(u32, u32)>>,
}

struct Inner {
    lpi_used: Vec<u64>,
    devices: BTreeMap<u32, Device>,
    next_itt: u64,
}

/// LPI and device bookkeeping of the ITS MSI domain.
pub struct ItsMsiDomain {
    inner: SpinLock<Inner>,
    nr_lpis: u32,
    prop_pa: u64,
    itt_end: u64,
    entry_size: u64,
}

impl ItsMsiDomain {
    /// A domain handing out `nr_lpis` LPIs from 8192, ITTs from `[itt_pa, itt_pa+itt_len)`,
    /// with the LPI property table at `prop_pa`.
    pub fn new(nr_lpis: u32, prop_pa: u64, itt_pa: u64, itt_len: u64) -> Result<Self, IrqError> {
        if nr_lpis == 0 || !itt_pa.is_multiple_of(ITT_ALIGN) {
            return Err(IrqError::InvalidArgument("ITS MSI domain layout"));
        }
        let inner = Inner {
            lpi_used: alloc::vec![0; nr_lpis.div_ceil(64) as usize],
            devices: BTreeMap::new(),
            next_itt: itt_pa,
        };
        let entry_size = super::its::ITS_ITT_ENTRY_SIZE as u64;
        Ok(ItsMsiDomain {
            inner: SpinLock::new(inner),
            nr_lpis,
            prop_pa,
            itt_end: itt_pa.saturating_add(itt_len),
            entry_size,
        })
    }

    /// The chip column of ITS-backed MSIs in `/proc/interrupts`.
    pub const CHIP_NAME: &'static str = "ITS-MSI";

    /// its_msi_prepare: room for `nvecs` events (a power of two, at least 2), MAPD.
    pub fn prepare_device<M: Mmio, D: DmaMemory>(
        &self,
        drv: &ItsDriver,
        its: &M,
        mem: &D,
        dev: u32,
        nvecs: u32,
    ) -> Result<(), IrqError> {
        let n =
            nvecs.max(2).checked_next_power_of_two().ok_or(IrqError::InvalidArgument("nvecs"))?;
        let itt = {
            let mut g = self.inner.lock();
            if g.devices.contains_key(&dev) {
                return Err(IrqError::Busy("ITS device already prepared"));
            }
            let size = (n as u64 * self.entry_size).max(ITT_ALIGN).next_multiple_of(ITT_ALIGN);
            if g.next_itt.saturating_add(size) > self.itt_end {
                return Err(IrqError::NoSpace("ITT pool"));
            }
            let itt = g.next_itt;
            g.next_itt += size;
            g.devices.insert(dev, Device { events: alloc::vec![None; n as usize] });
            itt
        };
        drv.mapd(its, mem, dev, n, itt, true)
    }

    fn alloc_lpi(g: &mut Inner, nr: u32) -> Option<u32> {
        for (w, word) in g.lpi_used.iter_mut().enumerate() {
            if *word != u64::MAX {
                let b = (!*word).trailing_zeros();
                let i = w as u32 * 64 + b;
                if i >= nr {
                    return None;
                }
                *word |= 1 << b;
                return Some(i + FIRST_LPI);
            }
        }
        None
    }

    /// its_irq_domain_activate: allocate an LPI for (dev, event), MAPTI it on `cpu`'s
    /// collection, and return it with the MSI message the device must write.
    pub fn activate<M: Mmio, D: DmaMemory>(
        &self,
        drv: &ItsDriver,
        its: &M,
        mem: &D,
        dev: u32,
        event: u32,
        cpu: u32,
    ) -> Result<(u32, MsiMsg), IrqError> {
        let lpi = {
            let mut g = self.inner.lock();
            let nr = self.nr_lpis;
            let d = g.devices.get(&dev).ok_or(IrqError::NotFound("ITS device not prepared"))?;
            match d.events.get(event as usize) {
                None => return Err(IrqError::InvalidArgument("event beyond the device's ITT")),
                Some(Some(_)) => return Err(IrqError::Busy("event already active")),
                Some(None) => {}
            }
            let lpi = Self::alloc_lpi(&mut g, nr).ok_or(IrqError::NoSpace("LPIs exhausted"))?;
            if let Some(d) = g.devices.get_mut(&dev) {
                d.events[event as usize] = Some((lpi, cpu));
            }
            lpi
        };
        drv.mapti(its, mem, dev, event, lpi, cpu as u16)?;
        drv.sync(its, mem, cpu)?;
        Ok((lpi, drv.msi_msg(event)))
    }

    /// its_irq_domain_deactivate: DISCARD and free the LPI.
    pub fn deactivate<M: Mmio, D: DmaMemory>(
        &self,
        drv: &ItsDriver,
        its: &M,
        mem: &D,
        dev: u32,
        event: u32,
    ) -> Result<(), IrqError> {
        let (lpi, _) = self.take(dev, event)?;
        drv.discard(its, mem, dev, event)?;
        let mut g = self.inner.lock();
        let i = lpi - FIRST_LPI;
        g.lpi_used[(i / 64) as usize] &= !(1 << (i % 64));
        Ok(())
    }

    fn take(&self, dev: u32, event: u32) -> Result<(u32, u32), IrqError> {
        let mut g = self.inner.lock();
        let d = g.devices.get_mut(&dev).ok_or(IrqError::NotFound("ITS device"))?;
        let slot = d.events.get_mut(event as usize).ok_or(IrqError::InvalidArgument("event"))?;
        slot.take().ok_or(IrqError::AlreadyFreed("event not active"))
    }

    /// its_set_affinity: MOVI to `cpu`'s collection when the CPU changes.
    pub fn set_affinity<M: Mmio, D: DmaMemory>(
        &self,
        drv: &ItsDriver,
        its: &M,
        mem: &D,
        dev: u32,
        event: u32,
        cpu: u32,
    ) -> Result<(), IrqError> {
        let old = {
            let mut g = self.inner.lock();
            let d = g.devices.get_mut(&dev).ok_or(IrqError::NotFound("ITS device"))?;
            let slot = d.events.get_mut(event as usize).and_then(Option::as_mut);
            let slot = slot.ok_or(IrqError::NotFound("event not active"))?;
            core::mem::replace(&mut slot.1, cpu)
        };
        if old != cpu {
            drv.movi(its, mem, dev, event, cpu as u16)?;
            drv.sync(its, mem, cpu)?;
        }
        Ok(())
    }

    /// its_mask_irq / its_unmask_irq: flip the Enable bit in the property byte, then INV.
    pub fn set_enabled<M: Mmio, D: DmaMemory>(
        &self,
        drv: &ItsDriver,
        its: &M,
        mem: &D,
        dev: u32,
        event: u32,
        on: bool,
    ) -> Result<(), IrqError> {
        let (lpi, cpu) = {
            let g = self.inner.lock();
            let d = g.devices.get(&dev).ok_or(IrqError::NotFound("ITS device"))?;
            d.events
                .get(event as usize)
                .copied()
                .flatten()
                .ok_or(IrqError::NotFound("event not active"))?
        };
        let pa = self.prop_pa + (lpi - FIRST_LPI) as u64;
        let mut b = [0u8];
        mem.dma_read(pa, &mut b);
        b[0] = if on { b[0] | LPI_PROP_ENABLED } else { b[0] & !LPI_PROP_ENABLED };
        mem.dma_write(pa, &b);
        drv.inv(its, mem, dev, event)?;
        drv.sync(its, mem, cpu)
    }
}
