//! The PS/2 keyboard behind the i8042 controller (ISA IRQ 1 through the IO-APIC).
//!
//! The firmware leaves the controller with scan-code translation on (set 1 codes reach
//! the CPU). Init drains stale bytes and sets the keyboard-interrupt bit of the
//! controller's configuration byte; irq 1's threaded handler moves each scan code into
//! a ring.

use crate::arch::{inb, outb};
use crate::serial::RxRing;

const DATA: u16 = 0x60;
const STATUS_CMD: u16 = 0x64;
const STATUS_OUTPUT_FULL: u8 = 1 << 0;
const STATUS_INPUT_FULL: u8 = 1 << 1;
const CMD_READ_CONFIG: u8 = 0x20;
const CMD_WRITE_CONFIG: u8 = 0x60;
const CONFIG_KBD_IRQ: u8 = 1 << 0;
/// Bounded polling: a missing controller must not hang the boot.
const SPIN_LIMIT: u32 = 100_000;

/// IO-APIC pin of IRQ 1.
pub const KBD_PIN: u32 = 1;

/// Scan codes received.
pub static SCANCODES: RxRing = RxRing::new();

fn wait_input_empty() -> bool {
    (0..SPIN_LIMIT).any(|_| inb(STATUS_CMD) & STATUS_INPUT_FULL == 0)
}

fn wait_output_full() -> bool {
    (0..SPIN_LIMIT).any(|_| inb(STATUS_CMD) & STATUS_OUTPUT_FULL != 0)
}

/// Enables the keyboard interrupt in the controller. False if it does not answer.
pub fn init() -> bool {
    while inb(STATUS_CMD) & STATUS_OUTPUT_FULL != 0 {
        let _ = inb(DATA);
    }
    if !wait_input_empty() {
        return false;
    }
    outb(STATUS_CMD, CMD_READ_CONFIG);
    if !wait_output_full() {
        return false;
    }
    let config = inb(DATA) | CONFIG_KBD_IRQ;
    if !wait_input_empty() {
        return false;
    }
    outb(STATUS_CMD, CMD_WRITE_CONFIG);
    if !wait_input_empty() {
        return false;
    }
    outb(DATA, config);
    true
}

/// irq 1's threaded handler body: takes every byte the controller holds.
pub fn drain() {
    while inb(STATUS_CMD) & STATUS_OUTPUT_FULL != 0 {
        SCANCODES.push(inb(DATA));
    }
}
