//! The legacy 8259 pair: remapped away from the exception vectors, then masked, as
//! Linux does when the IO-APIC takes over the ISA lines.

use crate::arch::outb;

/// Vector base the 8259s are remapped to before masking (Linux's `ISA_IRQ_VECTOR(0)`),
/// so a spurious 8259 interrupt cannot look like a CPU exception.
pub const PIC_VECTOR_BASE: u8 = 0x30;

/// Remaps and masks both 8259s.
pub fn mask_8259() {
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
}
