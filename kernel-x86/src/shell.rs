//! A tiny shell on COM1: `cat /proc/interrupts`, `cat /proc/softirqs`,
//! `cat /proc/irq/N/smp_affinity`, `echo MASK > /proc/irq/N/smp_affinity`,
//! `cat /sys/kernel/debug/workqueue` (or `wq_dump`), `help`, `poweroff`. The files come
//! from the core's generic IRQ, softirq and workqueue layers.

use alloc::string::String;

use irqkit_core::irq::ProcIrqFile;

use crate::devices::SERIAL_RX;
use crate::{arch, kprint, kprintln, platform, serial};

/// Prints `/proc/interrupts` (`show_interrupts`, arch rows from `IrqHooks`).
pub fn proc_interrupts() {
    serial::write_str(&platform::system().show_interrupts());
}

/// Prints `/proc/softirqs`.
pub fn proc_softirqs() {
    serial::write_str(&platform::system().proc_softirqs());
}

/// Prints the workqueue dump (pools, workers, workqueues; `tools/workqueue/wq_dump.py`).
pub fn wq_dump() {
    serial::write_str(&platform::system().wq_dump());
}

const HELP: &str = "commands: cat /proc/interrupts, cat /proc/softirqs, \
                    cat /proc/irq/N/smp_affinity, echo MASK > /proc/irq/N/smp_affinity, \
                    cat /sys/kernel/debug/workqueue (wq_dump), help, poweroff";

/// `N` of a `/proc/irq/N/smp_affinity` path.
fn affinity_path(path: &str) -> Option<u32> {
    path.trim().strip_prefix("/proc/irq/")?.strip_suffix("/smp_affinity")?.parse().ok()
}

/// One command line; returns false for an unknown command.
pub fn execute(cmd: &str) -> bool {
    let sys = platform::system();
    match cmd {
        "" => {}
        "cat /proc/interrupts" => proc_interrupts(),
        "cat /proc/softirqs" => proc_softirqs(),
        "cat /sys/kernel/debug/workqueue" | "wq_dump" => wq_dump(),
        "help" => kprintln!("{}", HELP),
        "poweroff" => arch::qemu_exit(0),
        _ => {
            if let Some(irq) = cmd.strip_prefix("cat ").and_then(affinity_path) {
                match sys.proc_irq_read(irq, ProcIrqFile::SmpAffinity) {
                    Ok(s) => serial::write_str(&s),
                    Err(e) => kprintln!("cat: {} (errno {})", e, e.errno()),
                }
            } else if let Some((val, path)) =
                cmd.strip_prefix("echo ").and_then(|r| r.split_once('>'))
            {
                let Some(irq) = affinity_path(path) else { return false };
                match sys.proc_irq_write(irq, ProcIrqFile::SmpAffinity, val.trim()) {
                    Ok(_) => {}
                    Err(e) => kprintln!("write error: {} (errno {})", e, e.errno()),
                }
            } else {
                return false;
            }
        }
    }
    true
}

/// Reads commands from COM1 (through the IRQ 4 thread's ring) for ever.
pub fn run() -> ! {
    // Read before printing anything, so the figure is kernel work, not serial output;
    // `run.sh --boot-time` parses this line.
    let us = crate::boot_elapsed_us();
    kprintln!("boot: {}.{:03} ms from kmain to the shell prompt (TSC)", us / 1000, us % 1000);
    kprintln!("irqkit shell; {}", HELP);
    let mut line = String::new();
    kprint!("# ");
    loop {
        while let Some(b) = SERIAL_RX.pop() {
            match b {
                b'\r' | b'\n' => {
                    kprintln!();
                    if !execute(line.trim()) {
                        kprintln!("{}: command not found", line.trim());
                    }
                    line.clear();
                    kprint!("# ");
                }
                0x20..=0x7e if line.len() < 128 => {
                    line.push(b as char);
                    crate::serial::write_str(core::str::from_utf8(&[b]).unwrap_or("?"));
                }
                _ => {}
            }
        }
        arch::enable_and_halt();
    }
}
