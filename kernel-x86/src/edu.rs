//! QEMU's `edu` teaching device (docs/specs/edu.rst) as a PCI-MSI device: every write
//! to its raise register sends one MSI, which irq `edu`'s handler acknowledges.
//!
//! Probe: find 1234:11e8 on bus 0, map BAR 0 (a 1 MiB register frame below 4 GiB, which
//! boot.rs identity-maps), allocate one vector in the PCI-MSI domain, register the MSI
//! capability, request the irq (activation writes the message into the capability) and
//! enable MSI.

use alloc::boxed::Box;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use irqkit_chips::mmio::Mmio;
use irqkit_chips::mmio_hw::VolatileMmio;
use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::IrqError;

use crate::pci::{self, PciDev};
use crate::percpu::{self, MAX_CPUS};
use crate::{pci_msi, platform, x86irq};

const VENDOR: u16 = 0x1234;
const DEVICE: u16 = 0x11E8;
const REG_ID: usize = 0x00;
const REG_INT_STATUS: usize = 0x24;
const REG_INT_RAISE: usize = 0x60;
const REG_INT_ACK: usize = 0x64;
const FRAME: usize = 0x100;

/// The probed device.
pub struct Edu {
    /// Its PCI function.
    pub dev: PciDev,
    /// Its Linux irq (the MSI).
    pub irq: u32,
    regs: VolatileMmio,
}

/// Handler runs per CPU.
pub static RUNS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Handler runs that found no interrupt status (must stay 0).
pub static EMPTY_RUNS: AtomicU64 = AtomicU64::new(0);

static EDU: AtomicPtr<Edu> = AtomicPtr::new(core::ptr::null_mut());

/// The device, if [`probe`] found it.
pub fn get() -> Option<&'static Edu> {
    let p = EDU.load(Ordering::Acquire);
    // SAFETY: set once from a leaked Box, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

impl Edu {
    /// Raises one interrupt (an MSI while MSI is enabled) with status bit `bit`.
    pub fn raise(&self, bit: u32) {
        self.regs.write32(REG_INT_RAISE, 1 << (bit & 31));
    }

    /// The identification register (0xRRrr00ed).
    pub fn id(&self) -> u32 {
        self.regs.read32(REG_ID)
    }
}

/// Finds and sets up the device; `Ok(None)` if QEMU was started without it.
pub fn probe() -> Result<Option<&'static Edu>, IrqError> {
    let Some(dev) = pci::find(VENDOR, DEVICE) else { return Ok(None) };
    let bar = dev.bar_mem(0).filter(|&b| b != 0 && b + FRAME as u64 <= 1 << 32);
    let bar = bar.ok_or(IrqError::InvalidArgument("edu BAR 0 not below 4 GiB"))?;
    dev.enable(pci::CMD_MEMORY);
    let base = NonNull::new(bar as usize as *mut u8).ok_or(IrqError::InvalidArgument("BAR 0"))?;
    // SAFETY: BAR 0 is the device's register frame, inside the identity-mapped first
    // 4 GiB (checked above) and used by nothing else, for the machine's life.
    let regs = unsafe { VolatileMmio::new(base, FRAME) };
    let sys = platform::system_arc();
    // edu's MSI capability has no per-vector mask bits.
    let irq = x86irq::msi_alloc_nomask(&sys, dev.rid())?;
    pci_msi::register(irq, dev)?;
    let edu: &'static Edu = Box::leak(Box::new(Edu { dev, irq, regs }));
    let handler = move |_h: &irqkit_core::HardIrq| {
        let status = edu.regs.read32(REG_INT_STATUS);
        edu.regs.write32(REG_INT_ACK, status);
        if status == 0 {
            EMPTY_RUNS.fetch_add(1, Ordering::Relaxed);
        }
        // Counted after the acknowledgement: the self-test raises the next one then.
        RUNS[percpu::this_cpu()].fetch_add(1, Ordering::Release);
        if status == 0 {
            IrqReturn::NONE
        } else {
            IrqReturn::HANDLED
        }
    };
    let reg = sys.request_irq(irq, handler, Flags::empty(), "edu")?;
    core::mem::forget(reg);
    pci_msi::enable(irq)?;
    EDU.store(edu as *const Edu as *mut Edu, Ordering::Release);
    Ok(Some(edu))
}
