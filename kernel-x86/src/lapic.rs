//! The local APIC (xAPIC, MMIO at 0xFEE00000): enable, EOI, timer, IPIs, TSC calibration.
//!
//! QEMU's APIC timer counts at a 1 GHz bus clock before the divider; it runs one-shot at
//! divide-by-1 under [`crate::clockevent`]. The TSC is calibrated against a 50 ms
//! one-shot count and then backs `Platform::now_ns`.

use core::sync::atomic::{AtomicU64, Ordering};

use irqkit_chips::mmio::Mmio;

use crate::arch::{hw_irq_restore, hw_irq_save, rdtsc};
use crate::mmio::PhysMmio;

const BASE: usize = 0xFEE0_0000;
const ID: usize = 0x20;
const TPR: usize = 0x80;
const EOI: usize = 0xB0;
const SVR: usize = 0xF0;
const ESR: usize = 0x280;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_ERROR: usize = 0x370;
const TIMER_INIT: usize = 0x380;
const TIMER_CUR: usize = 0x390;
const TIMER_DIV: usize = 0x3E0;

const LVT_MASKED: u32 = 1 << 16;
const ICR_PENDING: u32 = 1 << 12;
const ICR_ASSERT: u32 = 1 << 14;
const ICR_NMI: u32 = 0b100 << 8;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
const ICR_SELF: u32 = 0b01 << 18;

/// The APIC bus clock QEMU models, in Hz.
const BUS_HZ: u64 = 1_000_000_000;

/// `LOCAL_TIMER_VECTOR`.
pub const TIMER_VECTOR: u8 = 0xEC;
/// `IRQ_WORK_VECTOR`.
pub const IRQ_WORK_VECTOR: u8 = 0xF6;
/// `CALL_FUNCTION_VECTOR`.
pub const CALL_FUNCTION_VECTOR: u8 = 0xFC;
/// `RESCHEDULE_VECTOR`.
pub const RESCHEDULE_VECTOR: u8 = 0xFD;
/// `ERROR_APIC_VECTOR`.
pub const ERROR_VECTOR: u8 = 0xFE;
/// `SPURIOUS_APIC_VECTOR`.
pub const SPURIOUS_VECTOR: u8 = 0xFF;

static TSC_PER_MS: AtomicU64 = AtomicU64::new(0);
static TSC_ZERO: AtomicU64 = AtomicU64::new(0);

// SAFETY: the xAPIC page, identity-mapped uncached (boot.rs maps the top GiB PCD|PWT).
static REGS: PhysMmio = unsafe { PhysMmio::new(BASE, 0x1000) };

fn read(reg: usize) -> u32 {
    REGS.read32(reg)
}

fn write(reg: usize, v: u32) {
    REGS.write32(reg, v)
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    read(ID) >> 24
}

/// Enables this CPU's APIC: spurious vector, error vector, TPR 0, LINT0 masked (the
/// IO-APIC replaces the 8259 path), LINT1 left as the BIOS set it (NMI).
pub fn init_cpu() {
    write(TPR, 0);
    write(LVT_ERROR, ERROR_VECTOR as u32);
    write(LVT_LINT0, LVT_MASKED);
    write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(ESR, 0);
    write(ESR, 0);
}

/// Signals end of interrupt for the highest-priority in-service vector.
#[inline]
pub fn eoi() {
    write(EOI, 0);
}

/// Reads and clears the error status register (after the error interrupt).
pub fn read_esr() -> u32 {
    write(ESR, 0);
    read(ESR)
}

/// Puts this CPU's timer in one-shot mode at divide-by-1 (one count per bus-clock
/// nanosecond), unmasked on the timer vector.
pub fn oneshot_mode() {
    write(TIMER_DIV, 0b1011);
    write(LVT_TIMER, TIMER_VECTOR as u32);
}

/// Programs a one-shot timer interrupt `ns` nanoseconds from now. One MMIO write: under
/// TCG each APIC access is a trip into the device model, and this is the hot path of
/// every timer interrupt.
pub fn oneshot_ns(ns: u64) {
    write(TIMER_INIT, (ns * BUS_HZ / 1_000_000_000).clamp(1, u32::MAX as u64) as u32);
}

/// Calibrates the TSC against a 50 ms one-shot APIC count; sets the time origin. The
/// high-resolution timer converts TSC deadlines to APIC counts with this ratio, so its
/// error becomes timer error (0.1% would be 1 µs per 1 ms period).
pub fn calibrate_tsc() {
    const COUNT: u32 = 50_000_000; // 50 ms at 1 GHz, divide-by-1
    write(TIMER_DIV, 0b1011);
    write(LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    let t0 = rdtsc();
    write(TIMER_INIT, COUNT);
    while read(TIMER_CUR) != 0 {
        core::hint::spin_loop();
    }
    let t1 = rdtsc();
    TSC_PER_MS.store(((t1 - t0) / 50).max(1), Ordering::Relaxed);
    TSC_ZERO.store(t0, Ordering::Relaxed);
}

/// TSC ticks per millisecond, as calibrated.
pub fn tsc_per_ms() -> u64 {
    TSC_PER_MS.load(Ordering::Relaxed)
}

/// Nanoseconds since calibration (0 before it).
pub fn now_ns() -> u64 {
    let per_ms = TSC_PER_MS.load(Ordering::Relaxed);
    if per_ms == 0 {
        return 0;
    }
    let d = rdtsc().saturating_sub(TSC_ZERO.load(Ordering::Relaxed));
    (d as u128 * 1_000_000 / per_ms as u128) as u64
}

/// Busy-waits `ns` nanoseconds on the calibrated TSC.
pub fn delay_ns(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {
        core::hint::spin_loop();
    }
}

/// Writes the ICR. Hardware interrupts are masked around the two writes: an interrupt
/// handler on this CPU that sends an IPI in between would otherwise mix the halves.
fn send_icr(apic_id: u32, low: u32) {
    let was = hw_irq_save();
    while read(ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, low);
    while read(ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
    hw_irq_restore(was);
}

/// Sends a fixed-delivery IPI with `vector` to the CPU with `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    send_icr(apic_id, ICR_ASSERT | vector as u32);
}

/// Sends an NMI to the calling CPU.
pub fn send_self_nmi() {
    send_icr(0, ICR_ASSERT | ICR_NMI | ICR_SELF);
}

/// Sends an NMI to the CPU with `apic_id`.
pub fn send_nmi(apic_id: u32) {
    send_icr(apic_id, ICR_ASSERT | ICR_NMI);
}

/// INIT IPI (first step of waking an application processor).
pub fn send_init(apic_id: u32) {
    send_icr(apic_id, ICR_ASSERT | ICR_INIT);
}

/// STARTUP IPI: the AP starts in real mode at `page << 12`.
pub fn send_startup(apic_id: u32, page: u8) {
    send_icr(apic_id, ICR_ASSERT | ICR_STARTUP | page as u32);
}
