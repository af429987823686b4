//! A tiny shell on COM1: `cat /proc/interrupts`, `cat /proc/softirqs`,
//! `cat /proc/irq/N/smp_affinity`, `echo MASK > /proc/irq/N/smp_affinity`,
//! `cat /sys/kernel/debug/workqueue` (or `wq_dump`), `help`, `poweroff`. The files come
//! from the core's generic IRQ, softirq and workqueue layers.

use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicPtr, Ordering};

use irqkit_core::irq::ProcIrqFile;
use irqkit_core::sched::{KthreadSpec, WaitQueue};
use irqkit_core::{CpuId, IrqSystem};

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

/// Where the shell thread sleeps until the IRQ 4 thread brings input (null before
/// the shell starts: the self-test and the cyclictest boots have no shell).
static INPUT_WAIT: AtomicPtr<WaitQueue> = AtomicPtr::new(core::ptr::null_mut());

/// Called by the IRQ 4 thread after it moved received bytes to [`SERIAL_RX`].
pub fn input_arrived(sys: &IrqSystem) {
    let p = INPUT_WAIT.load(Ordering::Acquire);
    // SAFETY: set once from a leaked Box, never freed.
    if let Some(wq) = unsafe { p.as_ref() } {
        wq.wake_all(sys);
    }
}

/// Starts the shell as the `sh` kernel thread on CPU 0, reading commands from COM1
/// (through the IRQ 4 thread's ring) for ever; the boot context becomes CPU 0's idle
/// loop, so CPU 0 goes tickless between keystrokes like the other CPUs.
pub fn run() -> ! {
    let wq: &'static WaitQueue = Box::leak(Box::new(WaitQueue::new()));
    INPUT_WAIT.store(core::ptr::from_ref(wq).cast_mut(), Ordering::Release);
    let sys = platform::system_arc();
    let s2 = sys.clone();
    let spec = KthreadSpec::bound("sh", CpuId(0));
    let spawned = sys.spawn_kthread(spec, move |task| {
        // Read before printing anything, so the figure is kernel work, not serial
        // output; `run.sh --boot-time` parses this line.
        let us = crate::boot_elapsed_us();
        kprintln!("boot: {}.{:03} ms from kmain to the shell prompt (TSC)", us / 1000, us % 1000);
        kprintln!("irqkit shell; {}", HELP);
        let mut line = String::new();
        kprint!("# ");
        loop {
            while let Some(b) = SERIAL_RX.pop() {
                take_byte(&mut line, b);
            }
            if wq.wait_event(&s2, task, || !SERIAL_RX.is_empty()).is_err() {
                kprintln!("sh: wait_event refused");
                crate::fail_exit();
            }
        }
    });
    if let Err(e) = spawned {
        kprintln!("sh: spawn failed: {}", e);
        crate::fail_exit();
    }
    // This boot context is swapper/0: idle like the core's `cpu_idle_loop`.
    loop {
        platform::idle_once(&sys, CpuId(0));
    }
}

/// One received byte: echo it into the line, or run the line at a newline.
fn take_byte(line: &mut String, b: u8) {
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
