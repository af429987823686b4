//! PCI configuration space through configuration mechanism #1 (ports 0xCF8/0xCFC,
//! which q35 keeps beside ECAM), bus-0 enumeration and the capability list
//! (Linux arch/x86/pci/direct.c `pci_conf1_read/write`, drivers/pci/probe.c).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{hw_irq_restore, hw_irq_save, inl, inw, outl, outw};

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;
/// Command register: I/O space decoding.
pub const CMD_IO: u16 = 1 << 0;
/// Memory space decoding.
pub const CMD_MEMORY: u16 = 1 << 1;
/// Bus master: the device may write memory, which an MSI is.
pub const CMD_MASTER: u16 = 1 << 2;
/// INTx disable (Linux's `pci_intx(dev, 0)` when MSI is on).
pub const CMD_INTX_DISABLE: u16 = 1 << 10;
/// Capability ID of MSI.
pub const CAP_ID_MSI: u8 = 0x05;
const STATUS_CAP_LIST: u16 = 1 << 4;

/// A function on bus 0: device number and function number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciDev {
    /// Device (slot) number, 0–31.
    pub dev: u8,
    /// Function number, 0–7.
    pub func: u8,
}

/// Linux's `pci_config_lock`: the address/data port pair is shared by every CPU.
static LOCK: AtomicBool = AtomicBool::new(false);

fn with_config<R>(d: PciDev, reg: u8, f: impl FnOnce() -> R) -> R {
    let was = hw_irq_save();
    while LOCK.swap(true, Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let addr = 1u32 << 31 | (d.dev as u32) << 11 | (d.func as u32) << 8 | (reg as u32 & 0xFC);
    outl(CONFIG_ADDRESS, addr);
    let r = f();
    LOCK.store(false, Ordering::Release);
    hw_irq_restore(was);
    r
}

impl PciDev {
    /// The requester ID (bus 0): what the PCI-MSI domain's hwirq is made from.
    pub fn rid(&self) -> u32 {
        (self.dev as u32) << 3 | self.func as u32
    }

    /// Reads the dword at `reg` (low two bits ignored).
    pub fn read32(&self, reg: u8) -> u32 {
        with_config(*self, reg, || inl(CONFIG_DATA))
    }

    /// Writes the dword at `reg`.
    pub fn write32(&self, reg: u8, v: u32) {
        with_config(*self, reg, || outl(CONFIG_DATA, v))
    }

    /// Reads the 16-bit register at `reg` (even).
    pub fn read16(&self, reg: u8) -> u16 {
        with_config(*self, reg, || inw(CONFIG_DATA + (reg as u16 & 2)))
    }

    /// Writes the 16-bit register at `reg` (even), leaving its neighbour alone.
    pub fn write16(&self, reg: u8, v: u16) {
        with_config(*self, reg, || outw(CONFIG_DATA + (reg as u16 & 2), v))
    }

    /// (vendor, device) IDs.
    pub fn ids(&self) -> (u16, u16) {
        let v = self.read32(0);
        (v as u16, (v >> 16) as u16)
    }

    /// Sets bits of the command register.
    pub fn enable(&self, bits: u16) {
        let cmd = self.read16(0x04);
        self.write16(0x04, cmd | bits);
    }

    /// BAR `n`'s memory address as the firmware assigned it (32-bit or 64-bit BAR).
    pub fn bar_mem(&self, n: u8) -> Option<u64> {
        let lo = self.read32(0x10 + 4 * n);
        if lo & 1 != 0 {
            return None; // an I/O BAR
        }
        let hi = if lo & 0b110 == 0b100 { self.read32(0x14 + 4 * n) as u64 } else { 0 };
        Some(hi << 32 | (lo & !0xF) as u64)
    }

    /// Offset of the capability `id` in the capability list.
    pub fn find_capability(&self, id: u8) -> Option<u8> {
        if self.read16(0x06) & STATUS_CAP_LIST == 0 {
            return None;
        }
        let mut ptr = self.read32(0x34) as u8 & 0xFC;
        // At most 48 capabilities fit in 256 bytes: a looped list ends here too.
        for _ in 0..48 {
            if ptr < 0x40 {
                return None;
            }
            let head = self.read16(ptr);
            if head as u8 == id {
                return Some(ptr);
            }
            ptr = (head >> 8) as u8 & 0xFC;
        }
        None
    }
}

/// Every function on bus 0.
pub fn scan_bus0() -> Vec<PciDev> {
    let mut found = Vec::new();
    for dev in 0..32 {
        let f0 = PciDev { dev, func: 0 };
        if f0.ids().0 == 0xFFFF {
            continue;
        }
        let multi = f0.read32(0x0C) >> 16 & 0x80 != 0;
        for func in 0..if multi { 8 } else { 1 } {
            let d = PciDev { dev, func };
            if d.ids().0 != 0xFFFF {
                found.push(d);
            }
        }
    }
    found
}

/// The first function on bus 0 with these IDs.
pub fn find(vendor: u16, device: u16) -> Option<PciDev> {
    scan_bus0().into_iter().find(|d| d.ids() == (vendor, device))
}
