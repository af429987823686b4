//! Small x86_64 primitives: port I/O, MSRs, CR2, TSC, the interrupt flag.

use core::arch::asm;

/// Writes a byte to an I/O port.
#[inline]
pub fn outb(port: u16, v: u8) {
    // SAFETY: port I/O has no memory effects visible to Rust; every port this kernel
    // writes (COM1, the 8259 pair, isa-debug-exit) belongs to a device it drives.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
#[inline]
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as for `outb`; reading a UART register only consumes device state.
    unsafe {
        asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    v
}

/// Writes a 32-bit value to an I/O port.
#[inline]
pub fn outl(port: u16, v: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a 32-bit value from an I/O port.
#[inline]
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as for `inb` (the PCI configuration data port).
    unsafe {
        asm!("in eax, dx", out("eax") v, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    v
}

/// Writes a 16-bit value to an I/O port.
#[inline]
pub fn outw(port: u16, v: u16) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") v, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a 16-bit value from an I/O port.
#[inline]
pub fn inw(port: u16) -> u16 {
    let v: u16;
    // SAFETY: as for `inb`.
    unsafe {
        asm!("in ax, dx", out("ax") v, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    v
}

/// Writes a model-specific register.
///
/// # Safety
/// The write must not break the running kernel (e.g. EFER, the GS base of another
/// per-CPU area).
#[inline]
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: the caller vouches for the effect.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32,
             options(nostack, preserves_flags))
    }
}

/// The time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the counter.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (hi as u64) << 32 | lo as u64
}

/// CR2, the faulting linear address of the last page fault.
#[inline]
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// True if RFLAGS.IF is set.
#[inline]
pub fn hw_irqs_enabled() -> bool {
    let f: u64;
    // SAFETY: pushfq/pop only reads RFLAGS through the stack.
    unsafe { asm!("pushfq", "pop {}", out(reg) f, options(nomem, preserves_flags)) }
    f & (1 << 9) != 0
}

/// Clears RFLAGS.IF and returns whether it was set (the hardware half of the lazy mask).
#[inline]
pub fn hw_irq_save() -> bool {
    let was = hw_irqs_enabled();
    // SAFETY: masking interrupts is always sound.
    unsafe { asm!("cli", options(nomem, nostack)) }
    was
}

/// Sets RFLAGS.IF again if `was` says it was set.
#[inline]
pub fn hw_irq_restore(was: bool) {
    if was {
        // SAFETY: the IDT and every per-CPU IST stack are installed before any code
        // path reaches this with interrupts previously enabled.
        unsafe { asm!("sti", options(nomem, nostack)) }
    }
}

/// Enables interrupts and halts until one arrives (`sti; hlt` is atomic: the sti
/// shadow covers the hlt, so no wake-up is lost).
#[inline]
pub fn enable_and_halt() {
    // SAFETY: see `hw_irq_restore`; hlt only waits.
    unsafe { asm!("sti", "hlt", options(nomem, nostack)) }
}

/// Masks interrupts and halts for ever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: stopping the CPU is always sound.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}

/// Asks QEMU's isa-debug-exit device (port 0xf4) to exit with status `2 * code + 1`.
pub fn qemu_exit(code: u32) -> ! {
    outl(0xf4, code);
    halt_forever()
}

/// CPUID leaf 1, ECX bit 24: the local APIC timer has TSC-deadline mode.
pub fn has_tsc_deadline() -> bool {
    // SAFETY: CPUID exists on every x86_64 CPU and only reads identification data.
    #[allow(unused_unsafe)]
    let r = unsafe { core::arch::x86_64::__cpuid(1) };
    r.ecx & (1 << 24) != 0
}

/// Orders earlier stores (an LVT write to MMIO) before a following WRMSR.
#[inline]
pub fn mfence() {
    // SAFETY: a fence has no effect beyond ordering.
    unsafe { asm!("mfence", options(nostack, preserves_flags)) }
}
