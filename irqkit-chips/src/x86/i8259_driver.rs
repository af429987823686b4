//! 8259A driver over port I/O: Linux's init_8259A (ICW1–4 with vectors 0x30/0x38),
//! mask/unmask, specific EOI, and the spurious-IRQ7/15 check (read ISR through OCW3).

use irqkit_core::IrqError;

use super::i8259::*;
use super::vector::ISA_IRQ_VECTOR_BASE;

/// Port I/O (`inb`/`outb`).
pub trait PortIo {
    /// Reads a byte from `port`.
    fn inb(&self, port: u16) -> u8;
    /// Writes a byte to `port`.
    fn outb(&self, port: u16, v: u8);
}

impl PortIo for I8259Pair {
    fn inb(&self, port: u16) -> u8 {
        I8259Pair::inb(self, port).unwrap_or(0xFF)
    }
    fn outb(&self, port: u16, v: u8) {
        let _ = I8259Pair::outb(self, port, v);
    }
}

/// The legacy PIC driver.
pub struct I8259Driver;

fn ports(irq: u8) -> (u16, u16) {
    if irq < 8 {
        (PIC_MASTER_CMD, PIC_MASTER_IMR)
    } else {
        (PIC_SLAVE_CMD, PIC_SLAVE_IMR)
    }
}

impl I8259Driver {
    /// The chip column `/proc/interrupts` shows for legacy PIC lines.
    pub const CHIP_NAME: &'static str = "XT-PIC";

    /// init_8259A: everything masked, master vectors 0x30–0x37, slave 0x38–0x3F on IR2,
    /// normal EOI; then the cascade unmasked.
    pub fn init(io: &impl PortIo) {
        io.outb(PIC_MASTER_IMR, 0xFF);
        io.outb(PIC_SLAVE_IMR, 0xFF);
        io.outb(PIC_MASTER_CMD, 0x11);
        io.outb(PIC_MASTER_IMR, ISA_IRQ_VECTOR_BASE);
        io.outb(PIC_MASTER_IMR, 1 << PIC_CASCADE_IR);
        io.outb(PIC_MASTER_IMR, 0x01);
        io.outb(PIC_SLAVE_CMD, 0x11);
        io.outb(PIC_SLAVE_IMR, ISA_IRQ_VECTOR_BASE + 8);
        io.outb(PIC_SLAVE_IMR, PIC_CASCADE_IR);
        io.outb(PIC_SLAVE_IMR, 0x01);
        io.outb(PIC_MASTER_IMR, !(1 << PIC_CASCADE_IR));
        io.outb(PIC_SLAVE_IMR, 0xFF);
    }

    fn check(irq: u8) -> Result<(), IrqError> {
        if irq >= 16 {
            return Err(IrqError::InvalidArgument("ISA IRQ"));
        }
        Ok(())
    }

    /// mask_8259A_irq.
    pub fn mask(io: &impl PortIo, irq: u8) -> Result<(), IrqError> {
        Self::check(irq)?;
        let (_, d) = ports(irq);
        io.outb(d, io.inb(d) | 1 << (irq & 7));
        Ok(())
    }

    /// unmask_8259A_irq.
    pub fn unmask(io: &impl PortIo, irq: u8) -> Result<(), IrqError> {
        Self::check(irq)?;
        let (_, d) = ports(irq);
        io.outb(d, io.inb(d) & !(1 << (irq & 7)));
        Ok(())
    }

    /// Whether `irq` is really in service (ISR read via OCW3), i.e. not spurious.
    pub fn is_real(io: &impl PortIo, irq: u8) -> Result<bool, IrqError> {
        Self::check(irq)?;
        let (c, _) = ports(irq);
        io.outb(c, 0x0B);
        let isr = io.inb(c);
        io.outb(c, 0x0A);
        Ok(isr & (1 << (irq & 7)) != 0)
    }

    /// mask_and_ack_8259A: mask, then specific EOI (slave, then master's cascade).
    /// A spurious IRQ 7/15 gets no EOI on its own chip (Linux: only the master's
    /// cascade EOI for 15); returns `Ok(false)` for it.
    pub fn mask_and_ack(io: &impl PortIo, irq: u8) -> Result<bool, IrqError> {
        Self::check(irq)?;
        let real = (irq & 7) != 7 || Self::is_real(io, irq)?;
        Self::mask(io, irq)?;
        if irq >= 8 {
            if real {
                io.outb(PIC_SLAVE_CMD, 0x60 + (irq & 7));
            }
            io.outb(PIC_MASTER_CMD, 0x60 + PIC_CASCADE_IR);
        } else if real {
            io.outb(PIC_MASTER_CMD, 0x60 + irq);
        }
        Ok(real)
    }
}
