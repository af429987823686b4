//! The MSI capability of PCI functions driven by irqkit-chips' PCI-MSI domain
//! (Linux drivers/pci/msi/msi.c `msi_capability_init`, `pci_write_msg_msi`).
//!
//! A driver allocates its vectors in the domain (`X86Irq::msi_alloc`), [`register`]s
//! which function and capability a virq belongs to, requests the irq — activation
//! makes the domain write the composed message here ([`write_msg`], through the
//! kernel's `X86Ports`) — and then [`enable`]s MSI. Every affinity change rewrites the
//! message the same way. The functions used here have one vector and no per-vector
//! mask bit; a message rewritten while the device fires could be seen half-updated
//! (Linux's intermediate-vector dance for such devices is not done), so the self-test
//! only moves the line while the device is quiet.

use core::sync::atomic::{AtomicU64, Ordering};

use irqkit_chips::x86::msi::MsiMessage;
use irqkit_core::IrqError;

use crate::pci::{PciDev, CAP_ID_MSI, CMD_INTX_DISABLE, CMD_MASTER, CMD_MEMORY};

const MSI_FLAGS: u8 = 2;
const FLAGS_ENABLE: u16 = 1 << 0;
const FLAGS_MME: u16 = 0b111 << 4;
const FLAGS_64BIT: u16 = 1 << 7;
const EMPTY: u64 = 0;

/// virq → function: `virq << 32 | dev << 16 | func << 8 | capability offset`.
static DEVICES: [AtomicU64; 4] = [const { AtomicU64::new(EMPTY) }; 4];

fn pack(virq: u32, d: PciDev, cap: u8) -> u64 {
    (virq as u64) << 32 | (d.dev as u64) << 16 | (d.func as u64) << 8 | cap as u64
}

fn lookup(virq: u32) -> Option<(PciDev, u8)> {
    DEVICES
        .iter()
        .map(|e| e.load(Ordering::Acquire))
        .find(|&e| e != EMPTY && (e >> 32) as u32 == virq)
        .map(|e| (PciDev { dev: (e >> 16) as u8, func: (e >> 8) as u8 }, e as u8))
}

/// Records that `virq` is the (single) MSI of `d`; masks MSI off until [`enable`].
pub fn register(virq: u32, d: PciDev) -> Result<u8, IrqError> {
    let cap = d.find_capability(CAP_ID_MSI).ok_or(IrqError::NotFound("no MSI capability"))?;
    let flags = d.read16(cap + MSI_FLAGS);
    d.write16(cap + MSI_FLAGS, flags & !(FLAGS_ENABLE | FLAGS_MME));
    let slot = DEVICES
        .iter()
        .find(|e| {
            e.compare_exchange(EMPTY, pack(virq, d, cap), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
        .ok_or(IrqError::NoSpace("MSI device table full"))?;
    let _ = slot;
    Ok(cap)
}

/// `pci_write_msg_msi` for the function behind `virq` (nothing if none registered).
pub fn write_msg(virq: u32, msg: &MsiMessage) {
    let Some((d, cap)) = lookup(virq) else { return };
    let flags = d.read16(cap + MSI_FLAGS);
    d.write32(cap + 4, msg.address_lo);
    let data = if flags & FLAGS_64BIT != 0 {
        d.write32(cap + 8, msg.address_hi);
        cap + 12
    } else {
        cap + 8
    };
    d.write16(data, msg.data as u16);
}

/// The message the function behind `virq` holds (read back from its capability).
pub fn read_msg(virq: u32) -> Option<MsiMessage> {
    let (d, cap) = lookup(virq)?;
    let wide = d.read16(cap + MSI_FLAGS) & FLAGS_64BIT != 0;
    let address_hi = if wide { d.read32(cap + 8) } else { 0 };
    let data = d.read16(if wide { cap + 12 } else { cap + 8 }) as u32;
    Some(MsiMessage { address_lo: d.read32(cap + 4), address_hi, data })
}

/// `msi_capability_init`'s last step: one vector (MME 0), MSI on, INTx off, bus
/// mastering on (an MSI is a memory write by the device).
pub fn enable(virq: u32) -> Result<(), IrqError> {
    let (d, cap) = lookup(virq).ok_or(IrqError::NotFound("no MSI registered for irq"))?;
    d.enable(CMD_MEMORY | CMD_MASTER | CMD_INTX_DISABLE);
    let flags = d.read16(cap + MSI_FLAGS) & !FLAGS_MME;
    d.write16(cap + MSI_FLAGS, flags | FLAGS_ENABLE);
    Ok(())
}
