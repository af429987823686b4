//! Cascaded 8259A pair model (master at 0x20/0x21, slave at 0xA0/0xA1 on master IRQ 2,
//! ELCR at 0x4D0/0x4D1): ICW1–4, OCW1–3, IRR/ISR/IMR, fixed and rotating priority,
//! specific and non-specific EOI, auto-EOI, and spurious IRQ 7 / 15.
//!
//! # Model
//! Edge inputs latch IRR on a rising edge; as on the real chip (and unlike QEMU) a
//! request withdrawn before INTA clears IRR, which is what produces a spurious IRQ 7:
//! INTA with nothing left to deliver returns vector base + 7 without setting ISR.
//! Level inputs (ELCR) follow the line.

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use crate::signal::{notify, Changed, CpuLines, LineNotifier};

/// Master command port.
pub const PIC_MASTER_CMD: u16 = 0x20;
/// Master data port.
pub const PIC_MASTER_IMR: u16 = 0x21;
/// Slave command port.
pub const PIC_SLAVE_CMD: u16 = 0xA0;
/// Slave data port.
pub const PIC_SLAVE_IMR: u16 = 0xA1;
/// Edge/level control, master.
pub const PIC_ELCR1: u16 = 0x4D0;
/// Edge/level control, slave.
pub const PIC_ELCR2: u16 = 0x4D1;
/// The master input the slave cascades into.
pub const PIC_CASCADE_IR: u8 = 2;

#[derive(Clone, Copy, Default)]
struct Pic {
    irr: u8,
    isr: u8,
    imr: u8,
    input: u8,
    elcr: u8,
    base: u8,
    step: u8,
    icw4: bool,
    single: bool,
    auto_eoi: bool,
    rotate_aeoi: bool,
    read_isr: bool,
    prio_add: u8,
}

impl Pic {
    fn priority(&self, mask: u8) -> Option<u8> {
        (0..8).find(|p| mask & (1 << ((p + self.prio_add) & 7)) != 0)
    }

    fn pending(&self) -> Option<u8> {
        let p = self.priority(self.irr & !self.imr)?;
        let cur = self.priority(self.isr).unwrap_or(8);
        (p < cur).then_some((p + self.prio_add) & 7)
    }

    fn set_input(&mut self, irq: u8, level: bool) {
        let m = 1 << irq;
        let was = self.input & m != 0;
        if level {
            self.input |= m;
            if !was || self.elcr & m != 0 {
                self.irr |= m;
            }
        } else {
            self.input &= !m;
            self.irr &= !m; // request withdrawn (level, or edge before INTA)
        }
    }

    fn intack(&mut self, irq: u8) {
        let m = 1 << irq;
        if self.auto_eoi {
            if self.rotate_aeoi {
                self.prio_add = (irq + 1) & 7;
            }
        } else {
            self.isr |= m;
        }
        if self.elcr & m == 0 {
            self.irr &= !m;
        }
    }

    fn write_cmd(&mut self, v: u8) {
        if v & 0x10 != 0 {
            // ICW1: reset, as QEMU's pic_init_reset.
            *self = Pic { elcr: self.elcr, input: self.input, ..Pic::default() };
            self.step = 1;
            self.icw4 = v & 1 != 0;
            self.single = v & 2 != 0;
        } else if v & 0x08 != 0 {
            if v & 0x02 != 0 {
                self.read_isr = v & 1 != 0;
            }
        } else {
            match v >> 5 {
                0 => self.rotate_aeoi = false,
                4 => self.rotate_aeoi = true,
                1 | 5 => {
                    if let Some(p) = self.priority(self.isr) {
                        let irq = (p + self.prio_add) & 7;
                        self.isr &= !(1 << irq);
                        if v >> 5 == 5 {
                            self.prio_add = (irq + 1) & 7;
                        }
                    }
                }
                3 => self.isr &= !(1 << (v & 7)),
                7 => {
                    self.isr &= !(1 << (v & 7));
                    self.prio_add = ((v & 7) + 1) & 7;
                }
                6 => self.prio_add = ((v & 7) + 1) & 7,
                _ => {}
            }
        }
    }

    fn write_data(&mut self, v: u8) {
        match self.step {
            1 => {
                self.base = v & 0xF8;
                self.step = if self.single {
                    if self.icw4 {
                        3
                    } else {
                        0
                    }
                } else {
                    2
                };
            }
            2 => self.step = if self.icw4 { 3 } else { 0 },
            3 => {
                self.auto_eoi = v & 2 != 0;
                self.step = 0;
            }
            _ => self.imr = v,
        }
    }
}

struct Inner {
    pics: [Pic; 2],
    intr: bool,
    notifier: Option<LineNotifier>,
    spurious: u64,
}

/// A master/slave 8259A pair driving one CPU's INTR line.
pub struct I8259Pair {
    inner: SpinLock<Inner>,
}

impl Default for I8259Pair {
    fn default() -> Self {
        Self::new()
    }
}

impl I8259Pair {
    /// A pair as after power-on (uninitialised, nothing masked).
    pub fn new() -> Self {
        I8259Pair {
            inner: SpinLock::new(Inner {
                pics: [Pic::default(); 2],
                intr: false,
                notifier: None,
                spurious: 0,
            }),
        }
    }

    /// Registers the notifier for INTR changes (reported as CPU 0's `irq`).
    pub fn set_notifier(&self, n: LineNotifier) {
        self.inner.lock().notifier = Some(n);
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let (r, changed, n) = {
            let mut g = self.inner.lock();
            let r = f(&mut g);
            let slave_out = g.pics[1].pending().is_some();
            g.pics[0].set_input(PIC_CASCADE_IR, slave_out);
            let intr = g.pics[0].pending().is_some();
            let mut changed = Changed::default();
            if intr != g.intr {
                g.intr = intr;
                changed.add(0);
            }
            let n = if changed.0 != 0 { g.notifier.clone() } else { None };
            (r, changed, n)
        };
        notify(n.as_ref(), changed, |_| CpuLines { irq: self.intr(), fiq: false });
        r
    }

    /// Whether the INTR output is asserted.
    pub fn intr(&self) -> bool {
        self.inner.lock().intr
    }

    /// Drives ISA IRQ `irq` (0–15; 2 is the cascade and cannot be driven).
    pub fn set_irq(&self, irq: u8, level: bool) -> Result<(), IrqError> {
        if irq >= 16 || irq == PIC_CASCADE_IR {
            return Err(IrqError::InvalidArgument("8259 IRQ"));
        }
        self.with(|g| g.pics[(irq / 8) as usize].set_input(irq & 7, level));
        Ok(())
    }

    /// INTA cycle: the vector the CPU receives (base + 7 of master or slave if spurious).
    pub fn acknowledge(&self) -> u8 {
        self.with(|g| match g.pics[0].pending() {
            Some(PIC_CASCADE_IR) => {
                g.pics[0].intack(PIC_CASCADE_IR);
                match g.pics[1].pending() {
                    Some(irq) => {
                        g.pics[1].intack(irq);
                        g.pics[1].base + irq
                    }
                    None => {
                        g.spurious += 1;
                        g.pics[1].base + 7
                    }
                }
            }
            Some(irq) => {
                g.pics[0].intack(irq);
                g.pics[0].base + irq
            }
            None => {
                g.spurious += 1;
                g.pics[0].base + 7
            }
        })
    }

    /// Number of spurious INTA cycles so far.
    pub fn spurious_count(&self) -> u64 {
        self.inner.lock().spurious
    }

    /// `outb` to a PIC port.
    pub fn outb(&self, port: u16, v: u8) -> Result<(), IrqError> {
        self.with(|g| {
            match port {
                PIC_MASTER_CMD => g.pics[0].write_cmd(v),
                PIC_MASTER_IMR => g.pics[0].write_data(v),
                PIC_SLAVE_CMD => g.pics[1].write_cmd(v),
                PIC_SLAVE_IMR => g.pics[1].write_data(v),
                PIC_ELCR1 => g.pics[0].elcr = v & 0xF8, // IRQ 0-2 are always edge
                PIC_ELCR2 => g.pics[1].elcr = v & 0xDE, // IRQ 8 and 13 are always edge
                _ => return Err(IrqError::InvalidArgument("not an 8259 port")),
            }
            Ok(())
        })
    }

    /// `inb` from a PIC port.
    pub fn inb(&self, port: u16) -> Result<u8, IrqError> {
        let g = self.inner.lock();
        let sel = |p: &Pic| if p.read_isr { p.isr } else { p.irr };
        Ok(match port {
            PIC_MASTER_CMD => sel(&g.pics[0]),
            PIC_MASTER_IMR => g.pics[0].imr,
            PIC_SLAVE_CMD => sel(&g.pics[1]),
            PIC_SLAVE_IMR => g.pics[1].imr,
            PIC_ELCR1 => g.pics[0].elcr,
            PIC_ELCR2 => g.pics[1].elcr,
            _ => return Err(IrqError::InvalidArgument("not an 8259 port")),
        })
    }
}
