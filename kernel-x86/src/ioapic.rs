//! The IO-APIC (MMIO at 0xFEC00000) and masking of the legacy 8259 pair.
//!
//! ISA IRQ 4 (COM1) arrives on IO-APIC pin 4 in QEMU (only IRQ 0 is overridden, to pin
//! 2). It is routed edge-triggered, active-high, fixed delivery, physical destination.
//! The index/data register pair is shared by every CPU (chip callbacks run on any CPU),
//! so each access holds [`IoApicLock`] with hardware interrupts off.

use core::sync::atomic::{AtomicBool, Ordering};

use irqkit_chips::mmio::Mmio;

use crate::arch::{hw_irq_restore, hw_irq_save, outb};
use crate::mmio::PhysMmio;

const BASE: usize = 0xFEC0_0000;
const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_VER: u32 = 0x01;
const REDTBL: u32 = 0x10;
const RTE_MASKED: u32 = 1 << 16;

/// Vector base the 8259s are remapped to before masking (Linux's `ISA_IRQ_VECTOR(0)`),
/// so a spurious 8259 interrupt cannot look like a CPU exception.
pub const PIC_VECTOR_BASE: u8 = 0x30;

const RTE_LEVEL: u32 = 1 << 15;

// SAFETY: the IO-APIC's register window, identity-mapped uncached. Every access to the
// index/data pair goes through `read`/`write`, which hold `LOCK`.
static REGS: PhysMmio = unsafe { PhysMmio::new(BASE, 0x20) };

/// Linux's `ioapic_lock`: a raw spinlock taken with hardware interrupts off, so a
/// handler on the same CPU can never spin on it.
struct IoApicLock(AtomicBool);

static LOCK: IoApicLock = IoApicLock(AtomicBool::new(false));

impl IoApicLock {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let was = hw_irq_save();
        while self.0.swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
        let r = f();
        self.0.store(false, Ordering::Release);
        hw_irq_restore(was);
        r
    }
}

fn read(reg: u32) -> u32 {
    LOCK.with(|| {
        REGS.write32(IOREGSEL, reg);
        REGS.read32(IOWIN)
    })
}

fn write(reg: u32, v: u32) {
    LOCK.with(|| write_locked(reg, v))
}

fn write_locked(reg: u32, v: u32) {
    REGS.write32(IOREGSEL, reg);
    REGS.write32(IOWIN, v);
}

/// Number of redirection entries.
pub fn nr_pins() -> u32 {
    ((read(REG_VER) >> 16) & 0xFF) + 1
}

/// Remaps and masks both 8259s, and masks every IO-APIC pin.
pub fn init() {
    // ICW1..ICW4: edge, cascade, vectors PIC_VECTOR_BASE / +8, 8086 mode; then mask all.
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, PIC_VECTOR_BASE);
    outb(0xA1, PIC_VECTOR_BASE + 8);
    outb(0x21, 0x04);
    outb(0xA1, 0x02);
    outb(0x21, 0x01);
    outb(0xA1, 0x01);
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);
    for pin in 0..nr_pins() {
        write(REDTBL + 2 * pin, RTE_MASKED);
        write(REDTBL + 2 * pin + 1, 0);
    }
}

/// Routes `pin` to `vector` on the CPU with `apic_id` (edge or level triggered) and
/// leaves its mask bit as `masked`. The entry is masked while it is rewritten.
pub fn program(pin: u32, vector: u8, apic_id: u32, level: bool, masked: bool) {
    let low = vector as u32 | if level { RTE_LEVEL } else { 0 };
    LOCK.with(|| {
        write_locked(REDTBL + 2 * pin, RTE_MASKED | low);
        write_locked(REDTBL + 2 * pin + 1, apic_id << 24);
        write_locked(REDTBL + 2 * pin, low | if masked { RTE_MASKED } else { 0 });
    })
}

/// Sets or clears the mask bit of `pin`, keeping the rest of the entry.
pub fn set_masked(pin: u32, masked: bool) {
    LOCK.with(|| {
        REGS.write32(IOREGSEL, REDTBL + 2 * pin);
        let low = REGS.read32(IOWIN);
        let new = if masked { low | RTE_MASKED } else { low & !RTE_MASKED };
        REGS.write32(IOWIN, new);
    })
}

/// Points `pin` at the CPU with `apic_id` (the high dword alone; the vector stays).
pub fn set_destination(pin: u32, apic_id: u32) {
    write(REDTBL + 2 * pin + 1, apic_id << 24);
}
