//! The local APIC through `irqkit_chips`' `LapicDriver` on the real xAPIC page:
//! enable, EOI, IPIs, the timer (one-shot or TSC-deadline), and TSC calibration.
//!
//! QEMU's APIC timer counts at a 1 GHz bus clock before the divider; it runs one-shot at
//! divide-by-1 under [`crate::clockevent`] unless the CPU has TSC-deadline mode (QEMU's
//! TCG does not offer it). The TSC is calibrated against the APIC count
//! ([`calibrate_tsc`]) and then backs `Platform::now_ns`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use irqkit_chips::x86::apic_driver::{IpiDest, LapicDriver};
use irqkit_chips::x86::lapic_hw::divide;
pub use irqkit_chips::x86::vector::{
    CALL_FUNCTION_VECTOR, ERROR_APIC_VECTOR as ERROR_VECTOR, IRQ_WORK_VECTOR,
    LOCAL_TIMER_VECTOR as TIMER_VECTOR, RESCHEDULE_VECTOR, SPURIOUS_APIC_VECTOR as SPURIOUS_VECTOR,
};

use crate::arch::{self, hw_irq_restore, hw_irq_save, rdtsc};
use crate::mmio::lapic;

/// The APIC bus clock QEMU models, in Hz.
const BUS_HZ: u64 = 1_000_000_000;
/// IA32_TSC_DEADLINE.
const MSR_TSC_DEADLINE: u32 = 0x6E0;

/// APIC time between the two calibration samples: long against a sample's bracket
/// (a few µs under TCG), so the rate is good to a few parts in 10^4.
const CALIBRATION_NS: u64 = 30_000_000;
/// Bracketed current-count reads per calibration sample; the narrowest is kept.
const BRACKET_TRIES: usize = 8;

static TSC_PER_MS: AtomicU64 = AtomicU64::new(0);
/// ns = (tsc delta × `TSC_NS_MULT`) >> [`TSC_NS_SHIFT`]: a clocksource-style mult/shift,
/// so a clock read is one 64×64→128 multiply instead of a 128-bit division (a
/// software `__udivti3` loop, slow under TCG) on every timer-path clock read.
static TSC_NS_MULT: AtomicU64 = AtomicU64::new(0);
/// 2^40: `TSC_NS_MULT` keeps ~39 significant bits (1e6 << 40 / ticks per ms, ticks per
/// ms far below 2^21 × 1e6), a relative error below 1e-11; the product of a 64-bit delta
/// and the multiplier fits 128 bits.
const TSC_NS_SHIFT: u32 = 40;
static TSC_ZERO: AtomicU64 = AtomicU64::new(0);
static TSC_DEADLINE: AtomicBool = AtomicBool::new(false);

/// This CPU's APIC id.
pub fn id() -> u32 {
    LapicDriver::id(&lapic())
}

/// setup_local_APIC: TPR, spurious and error vectors, LINT0 masked (the IO-APIC
/// replaces the 8259 path), LINT1 the NMI input on the boot CPU only.
pub fn init_cpu(bsp: bool) {
    let apic = lapic();
    LapicDriver::setup(&apic);
    if bsp {
        LapicDriver::setup_lint1_nmi(&apic);
    }
}

/// Signals end of interrupt for the highest-priority in-service vector.
#[inline]
pub fn eoi() {
    LapicDriver::eoi(&lapic());
}

/// Reads and clears the error status register (after the error interrupt).
pub fn read_esr() -> u32 {
    LapicDriver::read_esr(&lapic())
}

/// Whether the timer runs in TSC-deadline mode (decided once, by [`calibrate_tsc`]).
pub fn tsc_deadline_mode() -> bool {
    TSC_DEADLINE.load(Ordering::Relaxed)
}

/// Puts this CPU's timer in TSC-deadline mode if the CPU has it, else in *periodic*
/// mode at divide-by-1 (one count per bus-clock nanosecond), unmasked on the timer
/// vector. Every event is programmed by writing the initial count, which restarts the
/// period, so it behaves as one-shot — except that if nobody writes it again the timer
/// fires once more a period later, the backstop that lets [`crate::clockevent`] skip a
/// reprogramming (see there).
pub fn clockevent_mode() {
    let apic = lapic();
    if tsc_deadline_mode() {
        let _ = LapicDriver::timer_tsc_deadline(&apic, TIMER_VECTOR);
        arch::mfence();
    } else {
        let _ = LapicDriver::timer_periodic(&apic, TIMER_VECTOR, divide::BY_1);
    }
}

/// Programs the next timer interrupt for absolute time `at_ns`, `delta_ns` from now.
/// One MMIO write or one MSR write: this is the hot path of every timer interrupt.
pub fn program_ns(at_ns: u64, delta_ns: u64) {
    if tsc_deadline_mode() {
        let tsc = TSC_ZERO.load(Ordering::Relaxed)
            + (at_ns as u128 * TSC_PER_MS.load(Ordering::Relaxed) as u128 / 1_000_000) as u64;
        // SAFETY: IA32_TSC_DEADLINE only arms this CPU's timer (mode set by clockevent_mode).
        unsafe { arch::wrmsr(MSR_TSC_DEADLINE, tsc.max(1)) };
    } else {
        let count = (delta_ns * BUS_HZ / 1_000_000_000).clamp(1, u32::MAX as u64) as u32;
        LapicDriver::timer_arm(&lapic(), count);
    }
}

/// Calibrates the TSC against the APIC timer: the timer counts down from 2^32 − 1 at
/// divide-by-1 (one count per bus-clock ns) and is sampled twice, [`CALIBRATION_NS`]
/// apart; each sample is a current-count read bracketed by two TSC reads, the
/// narrowest of [`BRACKET_TRIES`], and stands at the bracket's midpoint. A stall
/// *between* the two samples (the vCPU descheduled by a loaded host) moves both clocks
/// alike and costs nothing; only a stall inside every bracket of a sample would, and
/// the narrowest of several is almost never one. (Timing whole one-shot rounds, as
/// before, needed a round free of stalls: under a host load of 10, 4 of 16 boots came
/// out 3–11% off, and a TSC clock running slow against the APIC turns every timer
/// interrupt into an early one plus a reprogrammed remainder.) Sets the time origin
/// and picks the timer mode (CPUID.01H:ECX.TSC_DEADLINE).
pub fn calibrate_tsc() {
    let apic = lapic();
    let _ = LapicDriver::timer_oneshot(&apic, TIMER_VECTOR, divide::BY_1, true);
    LapicDriver::timer_arm(&apic, u32::MAX);
    // (TSC at the bracket's midpoint, current count), narrowest bracket first.
    let sample = || {
        let (mut best, mut width) = ((0u64, 0u32), u64::MAX);
        for _ in 0..BRACKET_TRIES {
            let t0 = rdtsc();
            let count = LapicDriver::timer_current(&apic);
            let t1 = rdtsc();
            if t1.wrapping_sub(t0) < width {
                width = t1.wrapping_sub(t0);
                best = (t0 + width / 2, count);
            }
        }
        best
    };
    let (tsc_a, count_a) = sample();
    let span = (CALIBRATION_NS * BUS_HZ / 1_000_000_000) as u32;
    while count_a.saturating_sub(LapicDriver::timer_current(&apic)) < span {
        core::hint::spin_loop();
    }
    let (tsc_b, count_b) = sample();
    let ns = (count_a.saturating_sub(count_b) as u64 * 1_000_000_000 / BUS_HZ).max(1);
    let per_ms = (tsc_b.saturating_sub(tsc_a) as u128 * 1_000_000 / ns as u128) as u64;
    LapicDriver::timer_arm(&apic, 0);
    TSC_PER_MS.store(per_ms.max(1), Ordering::Relaxed);
    TSC_NS_MULT
        .store(((1_000_000u128 << TSC_NS_SHIFT) / per_ms.max(1) as u128) as u64, Ordering::Relaxed);
    TSC_ZERO.store(tsc_a, Ordering::Relaxed);
    TSC_DEADLINE.store(arch::has_tsc_deadline(), Ordering::Relaxed);
}

/// TSC ticks per millisecond, as calibrated.
pub fn tsc_per_ms() -> u64 {
    TSC_PER_MS.load(Ordering::Relaxed)
}

/// Nanoseconds since calibration (0 before it).
#[inline]
pub fn now_ns() -> u64 {
    tsc_to_ns(rdtsc())
}

/// The clock time (ns since calibration) of TSC value `tsc` (0 before calibration).
#[inline]
pub fn tsc_to_ns(tsc: u64) -> u64 {
    let d = tsc.saturating_sub(TSC_ZERO.load(Ordering::Relaxed));
    ((d as u128 * TSC_NS_MULT.load(Ordering::Relaxed) as u128) >> TSC_NS_SHIFT) as u64
}

/// Busy-waits `ns` nanoseconds on the calibrated TSC.
pub fn delay_ns(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {
        core::hint::spin_loop();
    }
}

/// Runs an ICR send with hardware interrupts off: a handler on this CPU that sends an
/// IPI between the driver's ICR2 and ICR writes would change the destination.
fn with_icr<R>(f: impl FnOnce() -> R) -> R {
    let was = hw_irq_save();
    let r = f();
    hw_irq_restore(was);
    r
}

/// Sends a fixed-delivery IPI with `vector` to the CPU with `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    // Fails only for a vector below 0x20 or an ID above 0xFF, neither of which the
    // kernel uses, or an ICR that never idles (the APIC is gone).
    let _ = with_icr(|| LapicDriver::send_ipi(&lapic(), IpiDest::Apic(apic_id), vector, false));
}

/// Sends an NMI to the calling CPU.
pub fn send_self_nmi() {
    send_nmi(id());
}

/// Sends an NMI to the CPU with `apic_id`.
pub fn send_nmi(apic_id: u32) {
    let _ = with_icr(|| LapicDriver::send_nmi(&lapic(), apic_id));
}

/// INIT IPI (first step of waking an application processor).
pub fn send_init(apic_id: u32) {
    let _ = with_icr(|| LapicDriver::send_init(&lapic(), apic_id));
}

/// STARTUP IPI: the AP starts in real mode at `page << 12`.
pub fn send_startup(apic_id: u32, page: u8) {
    let _ = with_icr(|| LapicDriver::send_startup(&lapic(), apic_id, page));
}

/// The TSC value at the clock's origin (`tsc_to_ns(tsc_zero() + d)` converts a TSC
/// difference `d`).
pub fn tsc_zero() -> u64 {
    TSC_ZERO.load(Ordering::Relaxed)
}
