//! The MSI and MSI-X capabilities of PCI functions driven by irqkit-chips' PCI-MSI
//! domain (Linux drivers/pci/msi/msi.c `msi_capability_init`, `msix_capability_init`,
//! `pci_write_msg_msi`, `pci_write_msg_msix`).
//!
//! A driver allocates its vectors in the domain (`X86Irq::msi_alloc`), [`register`]s
//! which function and capability a virq belongs to, requests the irq — activation
//! makes the domain write the composed message here ([`write_msg`], through the
//! kernel's `X86Ports`) — and then [`enable`]s MSI. Every affinity change rewrites the
//! message the same way; an MSI-X entry is masked while it changes. An MSI function
//! without per-vector masking (allocated with `x86irq::msi_alloc_nomask`) is moved by
//! irqkit-chips from its old CPU's next interrupt in two steps (Linux's
//! `msi_set_affinity`), so a device write between the address and data words is
//! neither misreported nor lost.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use irqkit_chips::mmio::Mmio;
use irqkit_chips::mmio_hw::VolatileMmio;
use irqkit_chips::x86::msi::{MsiMessage, MSIX_ENTRY_CTRL_MASKBIT, MSIX_ENTRY_SIZE};
use irqkit_core::IrqError;

use crate::pci::{PciDev, CAP_ID_MSI, CMD_INTX_DISABLE, CMD_MASTER, CMD_MEMORY};

const MSI_FLAGS: u8 = 2;
const FLAGS_ENABLE: u16 = 1 << 0;
const FLAGS_MME: u16 = 0b111 << 4;
const FLAGS_64BIT: u16 = 1 << 7;
const CAP_ID_MSIX: u8 = 0x11;
const MSIX_ENABLE: u16 = 1 << 15;
const MSIX_MASKALL: u16 = 1 << 14;
/// Registry value marking an MSI-X binding: the rest is the table entry's address.
const KIND_MSIX: u64 = 1 << 63;
const FREE: u32 = u32::MAX;

/// virq → where its message lives. MSI: `dev << 16 | func << 8 | capability offset`;
/// MSI-X: [`KIND_MSIX`] | the (identity-mapped) address of its table entry.
static VIRQS: [AtomicU32; 8] = [const { AtomicU32::new(FREE) }; 8];
static WHERE: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn bind(virq: u32, at: u64) -> Result<(), IrqError> {
    let i = (0..VIRQS.len())
        .find(|&i| {
            VIRQS[i].compare_exchange(FREE, FREE - 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
        })
        .ok_or(IrqError::NoSpace("MSI device table full"))?;
    WHERE[i].store(at, Ordering::Relaxed);
    VIRQS[i].store(virq, Ordering::Release);
    Ok(())
}

fn binding(virq: u32) -> Option<u64> {
    let i = VIRQS.iter().position(|v| v.load(Ordering::Acquire) == virq)?;
    Some(WHERE[i].load(Ordering::Relaxed))
}

fn lookup(virq: u32) -> Option<(PciDev, u8)> {
    let at = binding(virq).filter(|a| a & KIND_MSIX == 0)?;
    Some((PciDev { dev: (at >> 16) as u8, func: (at >> 8) as u8 }, at as u8))
}

/// Records that `virq` is the (single) MSI of `d`; MSI stays off until [`enable`].
pub fn register(virq: u32, d: PciDev) -> Result<u8, IrqError> {
    let cap = d.find_capability(CAP_ID_MSI).ok_or(IrqError::NotFound("no MSI capability"))?;
    let flags = d.read16(cap + MSI_FLAGS);
    d.write16(cap + MSI_FLAGS, flags & !(FLAGS_ENABLE | FLAGS_MME));
    let at = (d.dev as u64) << 16 | (d.func as u64) << 8 | cap as u64;
    bind(virq, at)?;
    Ok(cap)
}

/// The MSI-X table entry `entry` of `d` as a register frame (16 bytes).
fn msix_entry(d: PciDev, cap: u8, entry: u16) -> Result<u64, IrqError> {
    let size = (d.read16(cap + 2) & 0x7FF) + 1;
    if entry >= size {
        return Err(IrqError::InvalidArgument("MSI-X entry beyond the table"));
    }
    let table = d.read32(cap + 4);
    let bar = d.bar_mem((table & 7) as u8).filter(|&b| b != 0 && b < 1 << 32);
    let bar = bar.ok_or(IrqError::InvalidArgument("MSI-X table BAR not below 4 GiB"))?;
    Ok(bar + (table & !7) as u64 + MSIX_ENTRY_SIZE as u64 * entry as u64)
}

fn entry_frame(addr: u64) -> VolatileMmio {
    let p = NonNull::new(addr as usize as *mut u8).unwrap_or(NonNull::dangling());
    // SAFETY: an MSI-X table entry inside a memory BAR below 4 GiB (checked when it was
    // bound), identity-mapped, device registers no Rust object occupies.
    unsafe { VolatileMmio::new(p, MSIX_ENTRY_SIZE) }
}

/// Records that `virq` is MSI-X table entry `entry` of `d`; turns MSI-X on with every
/// vector masked (function mask) until [`msix_enable`], as `msix_capability_init`.
pub fn register_msix(virq: u32, d: PciDev, entry: u16) -> Result<(), IrqError> {
    let cap = d.find_capability(CAP_ID_MSIX).ok_or(IrqError::NotFound("no MSI-X capability"))?;
    let addr = msix_entry(d, cap, entry)?;
    d.enable(CMD_MEMORY);
    let ctrl = d.read16(cap + 2);
    d.write16(cap + 2, ctrl | MSIX_ENABLE | MSIX_MASKALL);
    entry_frame(addr).write32(12, MSIX_ENTRY_CTRL_MASKBIT);
    bind(virq, KIND_MSIX | addr)
}

/// Unmasks `virq`'s MSI-X entry and the function: its interrupts flow.
pub fn msix_enable(virq: u32, d: PciDev) -> Result<(), IrqError> {
    let at = binding(virq).filter(|a| a & KIND_MSIX != 0);
    let at = at.ok_or(IrqError::NotFound("no MSI-X registered for irq"))?;
    let cap = d.find_capability(CAP_ID_MSIX).ok_or(IrqError::NotFound("no MSI-X capability"))?;
    entry_frame(at & !KIND_MSIX).write32(12, 0);
    d.enable(CMD_MEMORY | CMD_MASTER | CMD_INTX_DISABLE);
    let ctrl = d.read16(cap + 2);
    d.write16(cap + 2, (ctrl | MSIX_ENABLE) & !MSIX_MASKALL);
    Ok(())
}

/// `pci_write_msg_msi` for the function behind `virq` (nothing if none registered).
pub fn write_msg(virq: u32, msg: &MsiMessage) {
    match binding(virq) {
        Some(at) if at & KIND_MSIX != 0 => {
            // A maskable vector: masked while its words change (`pci_write_msg_msix`).
            let e = entry_frame(at & !KIND_MSIX);
            let ctrl = e.read32(12);
            e.write32(12, ctrl | MSIX_ENTRY_CTRL_MASKBIT);
            let [lo, hi, data, _] = msg.to_msix_entry(false);
            e.write32(0, lo);
            e.write32(4, hi);
            e.write32(8, data);
            e.write32(12, ctrl);
            return;
        }
        _ => {}
    }
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

/// The message the function behind `virq` holds (read back from its capability or its
/// MSI-X table entry).
pub fn read_msg(virq: u32) -> Option<MsiMessage> {
    if let Some(at) = binding(virq).filter(|a| a & KIND_MSIX != 0) {
        let e = entry_frame(at & !KIND_MSIX);
        return Some(MsiMessage::from_msix_entry([0, 4, 8, 12].map(|o| e.read32(o))).0);
    }
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
