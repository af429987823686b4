//! The APICs' register pages as `irqkit_chips::mmio::Mmio` frames (volatile accesses
//! through `irqkit_chips::mmio_hw::VolatileMmio`), for the chips' LAPIC and IO-APIC
//! drivers.

use core::ptr::NonNull;

use irqkit_chips::mmio_hw::VolatileMmio;

/// The xAPIC page: each CPU reaches its own local APIC at this address.
const LAPIC_BASE: usize = 0xFEE0_0000;
/// The IO-APIC's IOREGSEL/IOWIN/EOI window.
const IOAPIC_BASE: usize = 0xFEC0_0000;
const IOAPIC_LEN: usize = 0x100;

fn frame(base: usize, len: usize) -> VolatileMmio {
    let p = NonNull::new(base as *mut u8).unwrap_or(NonNull::dangling());
    // SAFETY: boot.rs identity-maps the top GiB of the first 4 GiB uncached (PCD|PWT);
    // these are the APICs' register frames, which no Rust object occupies, for the
    // machine's whole life.
    unsafe { VolatileMmio::new(p, len) }
}

/// The calling CPU's local APIC.
#[inline]
pub fn lapic() -> VolatileMmio {
    frame(LAPIC_BASE, 0x1000)
}

/// The IO-APIC (the chips' glue serialises its index/data pair with `ioapic_lock`).
#[inline]
pub fn ioapic() -> VolatileMmio {
    frame(IOAPIC_BASE, IOAPIC_LEN)
}
