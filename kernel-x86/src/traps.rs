//! CPU exceptions: classification (fault, trap, abort), register dump, fixup recovery.
//!
//! A *fault* reports the address of the faulting instruction and can be restarted; a
//! *trap* reports the address after it; an *abort* leaves no restartable state (seed
//! 002; Intel SDM vol. 3 §6.5). Faults with an entry in the exception table
//! (`.ex_table`, pairs of faulting address and continuation, as Linux's `_ASM_EXTABLE`)
//! resume at the continuation; traps resume where the CPU left them; anything else is
//! fatal. Each report is also recorded per CPU for the self-test to check.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::idt::TrapFrame;
use crate::percpu::{self, MAX_CPUS};
use crate::{arch, kprintln, platform};

/// How an exception relates to the instruction that raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reported before the instruction completes; restartable.
    Fault,
    /// Reported after the instruction; execution continues after it.
    Trap,
    /// No reliable restart point (#DF, #MC).
    Abort,
    /// The non-maskable interrupt (vector 2): an interrupt, not an exception.
    Interrupt,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Fault => "fault",
            Class::Trap => "trap",
            Class::Abort => "abort",
            Class::Interrupt => "interrupt",
        }
    }
}

/// Mnemonic and class of an exception vector.
pub fn describe(vector: u8) -> (&'static str, Class) {
    match vector {
        0 => ("#DE", Class::Fault),
        1 => ("#DB", Class::Trap),
        2 => ("NMI", Class::Interrupt),
        3 => ("#BP", Class::Trap),
        4 => ("#OF", Class::Trap),
        5 => ("#BR", Class::Fault),
        6 => ("#UD", Class::Fault),
        7 => ("#NM", Class::Fault),
        8 => ("#DF", Class::Abort),
        10 => ("#TS", Class::Fault),
        11 => ("#NP", Class::Fault),
        12 => ("#SS", Class::Fault),
        13 => ("#GP", Class::Fault),
        14 => ("#PF", Class::Fault),
        16 => ("#MF", Class::Fault),
        17 => ("#AC", Class::Fault),
        18 => ("#MC", Class::Abort),
        19 => ("#XM", Class::Fault),
        20 => ("#VE", Class::Fault),
        21 => ("#CP", Class::Fault),
        _ => ("#??", Class::Abort),
    }
}

/// The last exception reported on one CPU (read by the self-test).
pub struct Report {
    /// Number of exceptions reported.
    pub count: AtomicU64,
    /// Vector of the last one.
    pub vector: AtomicU64,
    /// Error code pushed by the CPU (0 if none).
    pub error_code: AtomicU64,
    /// CR2 for #PF, else 0.
    pub cr2: AtomicU64,
    /// 0 fault, 1 trap, 2 abort, 3 interrupt.
    pub class: AtomicU64,
    /// 1 if execution resumed through the exception table.
    pub fixed_up: AtomicU64,
}

static REPORTS: [Report; MAX_CPUS] = [const {
    Report {
        count: AtomicU64::new(0),
        vector: AtomicU64::new(0),
        error_code: AtomicU64::new(0),
        cr2: AtomicU64::new(0),
        class: AtomicU64::new(0),
        fixed_up: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// The exception report of `cpu`.
pub fn report(cpu: usize) -> &'static Report {
    &REPORTS[cpu]
}

/// Class as recorded in [`Report::class`].
pub fn class_code(c: Class) -> u64 {
    match c {
        Class::Fault => 0,
        Class::Trap => 1,
        Class::Abort => 2,
        Class::Interrupt => 3,
    }
}

extern "C" {
    static __ex_table_start: [u64; 2];
    static __ex_table_end: [u64; 2];
}

/// The continuation address registered for a fault at `rip`.
fn search_exception_table(rip: u64) -> Option<u64> {
    // SAFETY: the linker script brackets `.ex_table` with these symbols; it holds
    // 16-byte (fault, continuation) pairs emitted by `ex_table!` sites.
    let table = unsafe {
        let start = core::ptr::addr_of!(__ex_table_start);
        let end = core::ptr::addr_of!(__ex_table_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    };
    table.iter().find(|e| e[0] == rip).map(|e| e[1])
}

fn dump(f: &TrapFrame, name: &str, class: Class, cpu: usize, cr2: u64) {
    kprintln!(
        "exception {} (vector {}, {}) on CPU {}: error {:#x} cr2 {:#x}",
        name,
        f.vector,
        class.name(),
        cpu,
        f.error_code,
        cr2
    );
    kprintln!(
        "  rip {:#018x} cs {:#06x} rflags {:#010x} rsp {:#018x} ss {:#06x}",
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss
    );
    kprintln!("  rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}", f.rax, f.rbx, f.rcx, f.rdx);
    kprintln!("  rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}", f.rsi, f.rdi, f.rbp, f.r8);
    kprintln!("  r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}", f.r9, f.r10, f.r11, f.r12);
    kprintln!("  r13 {:#018x} r14 {:#018x} r15 {:#018x}", f.r13, f.r14, f.r15);
}

/// Handles vectors 0..31.
pub fn handle_exception(f: &mut TrapFrame) {
    let vector = f.vector as u8;
    let cpu = percpu::this_cpu();
    let (name, class) = describe(vector);
    let cr2 = if vector == 14 { arch::read_cr2() } else { 0 };
    let r = &REPORTS[cpu];
    r.vector.store(vector as u64, Ordering::Relaxed);
    r.error_code.store(f.error_code, Ordering::Relaxed);
    r.cr2.store(cr2, Ordering::Relaxed);
    r.class.store(class_code(class), Ordering::Relaxed);
    r.fixed_up.store(0, Ordering::Relaxed);
    if vector == 2 {
        nmi(cpu);
        r.count.fetch_add(1, Ordering::Release);
        return;
    }
    dump(f, name, class, cpu, cr2);
    match class {
        Class::Trap => {
            kprintln!("  trap: resuming after the instruction");
        }
        Class::Fault => match search_exception_table(f.rip) {
            Some(cont) => {
                kprintln!("  fault: fixed up, resuming at {:#x}", cont);
                f.rip = cont;
                r.fixed_up.store(1, Ordering::Relaxed);
            }
            None => fatal(name),
        },
        Class::Abort | Class::Interrupt => fatal(name),
    }
    r.count.fetch_add(1, Ordering::Release);
}

fn nmi(cpu: usize) {
    percpu::area(cpu).vector_counts[2].fetch_add(1, Ordering::Relaxed);
    let Some(sys) = platform::try_system() else { return };
    match sys.nmi_enter() {
        Ok(token) => {
            if !sys.in_nmi() {
                percpu::area(cpu).bad_context.store(true, Ordering::Relaxed);
            }
            sys.nmi_exit(token);
        }
        Err(e) => kprintln!("NMI on CPU {}: {}", cpu, e),
    }
}

fn fatal(name: &str) -> ! {
    kprintln!("  {}: not recoverable, stopping", name);
    crate::fail_exit()
}

/// Registers a fault continuation: `ex_table!("2b", "3f")` inside an `asm!` string list
/// means "a fault at label 2 resumes at label 3".
#[macro_export]
macro_rules! ex_table {
    ($fault:literal, $cont:literal) => {
        concat!(
            ".pushsection .ex_table, \"a\"\n.p2align 3\n.quad ",
            $fault,
            ", ",
            $cont,
            "\n.popsection"
        )
    };
}
