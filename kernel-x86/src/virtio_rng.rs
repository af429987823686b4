//! A virtio entropy device (`virtio-rng-pci`, transitional: legacy I/O BAR) on one
//! MSI-X vector through irqkit-chips' PCI-MSI domain (Linux drivers/virtio/
//! virtio_pci_legacy.c, virtio_ring.c, drivers/char/hw_random/virtio-rng.c).
//!
//! Probe: reset, ACKNOWLEDGE | DRIVER, no features, MSI-X on (function-masked), queue 0's
//! vector = table entry 0, a split virtqueue in identity-mapped memory, DRIVER_OK, then
//! the irq is requested (activation writes the message into entry 0) and unmasked.
//! [`VirtioRng::request`] posts one 16-byte buffer; the device fills it and raises the
//! queue's MSI-X vector; the handler consumes the used ring.

use alloc::alloc::{alloc_zeroed, Layout};
use alloc::boxed::Box;
use core::sync::atomic::{fence, AtomicPtr, AtomicU16, AtomicU64, Ordering};

use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::IrqError;

use crate::arch::{inb, inl, inw, outb, outl, outw};
use crate::pci::{self, PciDev};
use crate::percpu::{self, MAX_CPUS};
use crate::{pci_msi, platform, x86irq};

const VENDOR: u16 = 0x1AF4;
const DEVICE_TRANSITIONAL_RNG: u16 = 0x1005;
const REG_GUEST_FEATURES: u16 = 0x04;
const REG_QUEUE_PFN: u16 = 0x08;
const REG_QUEUE_NUM: u16 = 0x0C;
const REG_QUEUE_SEL: u16 = 0x0E;
const REG_QUEUE_NOTIFY: u16 = 0x10;
const REG_STATUS: u16 = 0x12;
const REG_CONFIG_VECTOR: u16 = 0x14;
const REG_QUEUE_VECTOR: u16 = 0x16;
const STATUS_ACK: u8 = 1;
const STATUS_DRIVER: u8 = 2;
const STATUS_DRIVER_OK: u8 = 4;
const NO_VECTOR: u16 = 0xFFFF;
const DESC_F_WRITE: u16 = 2;
const BUF: usize = 16;
const ALIGN: usize = 4096;

/// The probed device.
pub struct VirtioRng {
    /// Its PCI function.
    pub dev: PciDev,
    /// Its Linux irq (MSI-X entry 0, queue 0).
    pub irq: u32,
    io: u16,
    qsz: u16,
    ring: usize,
    buf: usize,
    posted: AtomicU16,
    seen: AtomicU16,
}

/// Handler runs per CPU.
pub static RUNS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Buffers completed, and runs that found nothing new (must stay 0).
pub static COMPLETED: AtomicU64 = AtomicU64::new(0);
/// Handler runs that found no new used entry.
pub static EMPTY_RUNS: AtomicU64 = AtomicU64::new(0);
/// OR of every byte the device returned (nonzero: it gave entropy).
pub static BYTES_OR: AtomicU64 = AtomicU64::new(0);

static RNG: AtomicPtr<VirtioRng> = AtomicPtr::new(core::ptr::null_mut());

/// The device, if [`probe`] found it.
pub fn get() -> Option<&'static VirtioRng> {
    let p = RNG.load(Ordering::Acquire);
    // SAFETY: set once from a leaked Box, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

fn avail_off(qsz: u16) -> usize {
    16 * qsz as usize
}

fn used_off(qsz: u16) -> usize {
    (avail_off(qsz) + 6 + 2 * qsz as usize).next_multiple_of(ALIGN)
}

impl VirtioRng {
    fn u16_at(&self, off: usize) -> *mut u16 {
        (self.ring + off) as *mut u16
    }

    /// Posts one device-writable buffer on queue 0 and notifies the device.
    pub fn request(&self) {
        let idx = self.posted.load(Ordering::Relaxed);
        let slot = (idx % self.qsz) as usize;
        let desc = (self.ring + 16 * slot) as *mut u64;
        // SAFETY: the ring was allocated for `qsz` descriptors and the avail ring, is
        // shared only with the device, and only this function (one caller at a time,
        // the self-test) writes the driver-owned parts.
        unsafe {
            desc.write_volatile((self.buf + BUF * slot) as u64);
            (desc.add(1) as *mut u32).write_volatile(BUF as u32);
            ((desc as usize + 12) as *mut u16).write_volatile(DESC_F_WRITE);
            ((desc as usize + 14) as *mut u16).write_volatile(0);
            self.u16_at(avail_off(self.qsz) + 4 + 2 * slot).write_volatile(slot as u16);
            fence(Ordering::SeqCst); // descriptors before the index the device reads
            self.u16_at(avail_off(self.qsz) + 2).write_volatile(idx.wrapping_add(1));
        }
        self.posted.store(idx.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        outw(self.io + REG_QUEUE_NOTIFY, 0);
    }

    /// The handler: consumes new used entries; false if there were none.
    fn complete(&self) -> bool {
        // SAFETY: the used ring lies in the ring allocation; the device writes it, we
        // only read (volatile, after the MSI that says it was updated).
        let used = unsafe { self.u16_at(used_off(self.qsz) + 2).read_volatile() };
        fence(Ordering::Acquire);
        let mut seen = self.seen.load(Ordering::Relaxed);
        let fresh = seen != used;
        while seen != used {
            let slot = (seen % self.qsz) as usize;
            for i in 0..BUF {
                // SAFETY: inside buffer `slot`, which the device has handed back.
                let b = unsafe { ((self.buf + BUF * slot + i) as *const u8).read_volatile() };
                BYTES_OR.fetch_or(b as u64, Ordering::Relaxed);
            }
            COMPLETED.fetch_add(1, Ordering::Release);
            seen = seen.wrapping_add(1);
        }
        self.seen.store(seen, Ordering::Relaxed);
        fresh
    }
}

/// Finds and sets up the device; `Ok(None)` if QEMU was started without it.
pub fn probe() -> Result<Option<&'static VirtioRng>, IrqError> {
    let Some(dev) = pci::find(VENDOR, DEVICE_TRANSITIONAL_RNG) else { return Ok(None) };
    let bar0 = dev.read32(0x10);
    if bar0 & 1 == 0 {
        return Err(IrqError::InvalidArgument("virtio legacy BAR 0 is not I/O"));
    }
    let io = (bar0 & !3) as u16;
    dev.enable(pci::CMD_IO);
    outb(io + REG_STATUS, 0);
    outb(io + REG_STATUS, STATUS_ACK | STATUS_DRIVER);
    let _features = inl(io);
    outl(io + REG_GUEST_FEATURES, 0);
    let sys = platform::system_arc();
    let irq = x86irq::msi_alloc(&sys, dev.rid())?;
    pci_msi::register_msix(irq, dev, 0)?;
    outw(io + REG_CONFIG_VECTOR, NO_VECTOR);
    outw(io + REG_QUEUE_SEL, 0);
    outw(io + REG_QUEUE_VECTOR, 0);
    if inw(io + REG_QUEUE_VECTOR) != 0 {
        return Err(IrqError::NoSpace("virtio: queue vector refused"));
    }
    let qsz = inw(io + REG_QUEUE_NUM);
    if qsz == 0 || qsz > 256 {
        return Err(IrqError::InvalidArgument("virtio: queue 0 size"));
    }
    let size = used_off(qsz) + (6 + 8 * qsz as usize).next_multiple_of(ALIGN);
    let layout = Layout::from_size_align(size, ALIGN).map_err(|_| IrqError::NoSpace("ring"))?;
    let bufs =
        Layout::from_size_align(BUF * qsz as usize, 16).map_err(|_| IrqError::NoSpace("buf"))?;
    // SAFETY: non-zero sizes; the memory is leaked to the device for the machine's life.
    let (ring, buf) = unsafe { (alloc_zeroed(layout) as usize, alloc_zeroed(bufs) as usize) };
    if ring == 0 || buf == 0 {
        return Err(IrqError::NoSpace("virtio ring allocation"));
    }
    // Identity-mapped: the physical page number is the virtual one.
    outl(io + REG_QUEUE_PFN, (ring / ALIGN) as u32);
    outb(io + REG_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_DRIVER_OK);
    let rng: &'static VirtioRng = Box::leak(Box::new(VirtioRng {
        dev,
        irq,
        io,
        qsz,
        ring,
        buf,
        posted: AtomicU16::new(0),
        seen: AtomicU16::new(0),
    }));
    let handler = move |_h: &irqkit_core::HardIrq| {
        let fresh = rng.complete();
        if !fresh {
            EMPTY_RUNS.fetch_add(1, Ordering::Relaxed);
        }
        // Counted last: the self-test posts the next buffer when it sees this, and the
        // used ring must not be read again by this run after that.
        RUNS[percpu::this_cpu()].fetch_add(1, Ordering::Release);
        if fresh {
            IrqReturn::HANDLED
        } else {
            IrqReturn::NONE
        }
    };
    let reg = sys.request_irq(irq, handler, Flags::empty(), "virtio0-input")?;
    core::mem::forget(reg);
    pci_msi::msix_enable(irq, dev)?;
    let _ = inb(io + REG_STATUS);
    RNG.store(rng as *const VirtioRng as *mut VirtioRng, Ordering::Release);
    Ok(Some(rng))
}
