//! COM1 (16550A at 0x3F8): the console, and the receive side of the serial-input test.
//!
//! Output is polled under a spinlock that also masks hardware interrupts, so a handler
//! printing on the same CPU cannot deadlock against the code it interrupted. Input
//! arrives through the IO-APIC (ISA IRQ 4) into a lock-free single-producer ring
//! ([`RxRing`]), filled by the interrupt handler and drained by task code.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::arch::{hw_irq_restore, hw_irq_save, inb, outb};

const COM1: u16 = 0x3F8;
/// Line status: receive data ready.
const LSR_DR: u8 = 1 << 0;
/// Line status: transmit holding register empty.
const LSR_THRE: u8 = 1 << 5;

static LOCK: AtomicBool = AtomicBool::new(false);

/// Programs COM1 for 115200 8N1 with FIFOs, and enables the receive interrupt.
pub fn init() {
    outb(COM1 + 1, 0x00); // IER off while programming
    outb(COM1 + 3, 0x80); // DLAB
    outb(COM1, 0x01); // divisor 1: 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1
    outb(COM1 + 2, 0xC7); // FIFO on, clear both, 14-byte trigger
    outb(COM1 + 4, 0x0B); // DTR | RTS | OUT2 (OUT2 gates the IRQ line on PCs)
    while inb(COM1 + 5) & LSR_DR != 0 {
        let _ = inb(COM1);
    }
    outb(COM1 + 1, 0x01); // IER: receive data available
}

fn putb(b: u8) {
    while inb(COM1 + 5) & LSR_THRE == 0 {
        core::hint::spin_loop();
    }
    outb(COM1, b);
}

/// Writes `s` atomically with respect to other CPUs and to interrupts on this one.
pub fn write_str(s: &str) {
    let was = hw_irq_save();
    while LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        core::hint::spin_loop();
    }
    for b in s.bytes() {
        if b == b'\n' {
            putb(b'\r');
        }
        putb(b);
    }
    LOCK.store(false, Ordering::Release);
    hw_irq_restore(was);
}

/// Formats to the console. Lines of one `kprintln!` may interleave with other CPUs'
/// lines only at `write_str` boundaries, so callers format a whole line first.
pub fn print(args: fmt::Arguments<'_>) {
    let mut line = crate::fmtbuf::FmtBuf::<256>::new();
    if line.write_fmt(args).is_err() {
        line.truncated();
    }
    write_str(line.as_str());
}

/// Serialises receive draining: the UART's LSR/RBR pair and the ring's producer side
/// need one owner at a time. Only irq 4's thread drains today (one thread, never an
/// interrupt handler, so holding this across a preemption cannot deadlock); the lock
/// keeps `drain_rx` safe for any other caller.
static RX_LOCK: AtomicBool = AtomicBool::new(false);

/// Drains every byte the UART holds into `ring` (called by irq 4's threaded handler).
pub fn drain_rx(ring: &RxRing) -> u32 {
    while RX_LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err()
    {
        core::hint::spin_loop();
    }
    let mut n = 0;
    while inb(COM1 + 5) & LSR_DR != 0 {
        ring.push(inb(COM1));
        n += 1;
    }
    RX_LOCK.store(false, Ordering::Release);
    n
}

/// Size of the receive ring; a power of two so indices wrap with a mask.
const RX_SIZE: usize = 1024;

/// A single-producer single-consumer byte ring: one irq thread at a time fills it
/// (`drain_rx`'s lock, or a line's single thread), task code drains it.
pub struct RxRing {
    buf: [core::sync::atomic::AtomicU8; RX_SIZE],
    head: AtomicU32,
    tail: AtomicU32,
    dropped: AtomicU32,
}

impl RxRing {
    /// An empty ring.
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const Z: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);
        RxRing {
            buf: [Z; RX_SIZE],
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            dropped: AtomicU32::new(0),
        }
    }

    /// Appends a byte (the single producer); counts it as dropped if the ring is full.
    pub fn push(&self, b: u8) {
        let h = self.head.load(Ordering::Relaxed);
        if h.wrapping_sub(self.tail.load(Ordering::Acquire)) as usize >= RX_SIZE {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.buf[h as usize % RX_SIZE].store(b, Ordering::Relaxed);
        self.head.store(h.wrapping_add(1), Ordering::Release);
    }

    /// Takes the oldest byte, if any.
    pub fn pop(&self) -> Option<u8> {
        let t = self.tail.load(Ordering::Relaxed);
        if t == self.head.load(Ordering::Acquire) {
            return None;
        }
        let b = self.buf[t as usize % RX_SIZE].load(Ordering::Relaxed);
        self.tail.store(t.wrapping_add(1), Ordering::Release);
        Some(b)
    }

    /// True if no byte waits.
    pub fn is_empty(&self) -> bool {
        self.tail.load(Ordering::Relaxed) == self.head.load(Ordering::Acquire)
    }

    /// Bytes lost because the ring was full.
    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// `println!` to COM1.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::serial::write_str("\n") };
    ($($t:tt)*) => { $crate::serial::print(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` to COM1.
#[macro_export]
macro_rules! kprint {
    ($($t:tt)*) => { $crate::serial::print(format_args!($($t)*)) };
}
