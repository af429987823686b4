//! A tiny shell on COM1: `cat /proc/interrupts`, `help`, `poweroff`.

use alloc::string::String;

use crate::irq::SERIAL_RX;
use crate::lapic::{
    CALL_FUNCTION_VECTOR, ERROR_VECTOR, IRQ_WORK_VECTOR, RESCHEDULE_VECTOR, SPURIOUS_VECTOR,
    TIMER_VECTOR,
};
use crate::{arch, irq, kprint, kprintln, percpu};

/// Prints `/proc/interrupts` in Linux's layout for the vectors this kernel handles.
pub fn proc_interrupts(nr_cpus: usize) {
    let mut head = String::from("     ");
    for c in 0..nr_cpus {
        head.push_str(&alloc::format!("{:>11}", alloc::format!("CPU{c}")));
    }
    kprintln!("{}", head);
    let row = |label: &str, vector: u8, desc: &str| {
        let mut line = alloc::format!("{label:>4}:");
        for c in 0..nr_cpus {
            line.push_str(&alloc::format!("{:>11}", percpu::area(c).count(vector)));
        }
        line.push_str("   ");
        line.push_str(desc);
        kprintln!("{}", line);
    };
    row("1", crate::i8042::KBD_VECTOR, "IO-APIC   1-edge      i8042");
    row("4", irq::COM1_VECTOR, "IO-APIC   4-edge      ttyS0");
    row("NMI", 2, "Non-maskable interrupts");
    row("LOC", TIMER_VECTOR, "Local timer interrupts");
    row("SPU", SPURIOUS_VECTOR, "Spurious interrupts");
    row("RES", RESCHEDULE_VECTOR, "Rescheduling interrupts");
    row("CAL", CALL_FUNCTION_VECTOR, "Function call interrupts");
    row("IWI", IRQ_WORK_VECTOR, "IRQ work interrupts");
    let err: u64 = (0..nr_cpus).map(|c| percpu::area(c).count(ERROR_VECTOR)).sum();
    kprintln!("{:>4}:{:>11}", "ERR", err);
}

const HELP: &str = "commands: cat /proc/interrupts, cat /proc/irq/4/smp_affinity, \
                    echo MASK > /proc/irq/4/smp_affinity, help, poweroff";

fn write_affinity(arg: &str) {
    let parsed = u64::from_str_radix(arg.trim().trim_start_matches("0x"), 16)
        .map_err(|_| irqkit_core::IrqError::InvalidArgument("not a hex mask"));
    match parsed.and_then(irq::set_com1_affinity) {
        Ok(cpu) => kprintln!("irq 4 -> CPU{}", cpu),
        Err(e) => kprintln!("write error: {} (errno {})", e, e.errno()),
    }
}

/// Reads commands from COM1 (through the IRQ 4 handler's ring) for ever.
pub fn run(nr_cpus: usize) -> ! {
    kprintln!("irqkit shell; {}", HELP);
    let mut line = String::new();
    kprint!("# ");
    loop {
        while let Some(b) = SERIAL_RX.pop() {
            match b {
                b'\r' | b'\n' => {
                    kprintln!();
                    match line.trim() {
                        "" => {}
                        "cat /proc/interrupts" => proc_interrupts(nr_cpus),
                        "help" => kprintln!("{}", HELP),
                        "cat /proc/irq/4/smp_affinity" => kprintln!("{:x}", irq::com1_affinity()),
                        cmd if cmd.starts_with("echo ")
                            && cmd.ends_with("> /proc/irq/4/smp_affinity") =>
                        {
                            write_affinity(&cmd[5..cmd.len() - "> /proc/irq/4/smp_affinity".len()])
                        }
                        "poweroff" => arch::qemu_exit(0),
                        other => kprintln!("{}: command not found", other),
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
