//! Per-CPU GDT and TSS, with an IST stack for every class of vector.
//!
//! The precompiled `core` uses the red zone, so an interrupt must never push onto the
//! stack of the code it interrupts: every IDT gate names an IST slot, so the CPU always
//! switches stacks. Exceptions, NMI, #DF, #MC and device interrupts each get their own
//! stack, so an NMI or #MC arriving inside an interrupt handler does not overwrite it.
//! (A second exception inside an exception handler would reuse IST 1: a known limit,
//! only reachable by a kernel bug, which then dies in #DF on its own stack.)

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;

use crate::percpu::MAX_CPUS;

/// IST slot of the ordinary exceptions (#DE, #UD, #GP, #PF, #BP, ...).
pub const IST_EXCEPTION: u8 = 1;
/// IST slot of NMI.
pub const IST_NMI: u8 = 2;
/// IST slot of #DF.
pub const IST_DOUBLE_FAULT: u8 = 3;
/// IST slot of #MC.
pub const IST_MACHINE_CHECK: u8 = 4;
/// IST slot of external and APIC interrupts.
pub const IST_IRQ: u8 = 5;
const NR_IST: usize = 5;
const IST_STACK_SIZE: usize = 16 * 1024;

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
const KERNEL_DS: u16 = 0x10;
const TSS_SEL: u16 = 0x18;

#[repr(C, packed(4))]
struct Tss {
    _r0: u32,
    rsp: [u64; 3],
    _r1: u64,
    ist: [u64; 7],
    _r2: u64,
    _r3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct Stack([u8; IST_STACK_SIZE]);

#[repr(C, align(16))]
struct CpuTables {
    gdt: [u64; 5],
    tss: Tss,
    ist: [Stack; NR_IST],
}

struct Slots(UnsafeCell<[CpuTables; MAX_CPUS]>);
// SAFETY: slot `n` is written only by CPU `n` during its own bring-up, then read by the
// hardware only.
unsafe impl Sync for Slots {}

static TABLES: Slots = Slots(UnsafeCell::new(
    [const {
        CpuTables {
            gdt: [0; 5],
            tss: Tss { _r0: 0, rsp: [0; 3], _r1: 0, ist: [0; 7], _r2: 0, _r3: 0, iomap_base: 0 },
            ist: [const { Stack([0; IST_STACK_SIZE]) }; NR_IST],
        }
    }; MAX_CPUS],
));

#[repr(C, packed)]
struct DescPtr {
    limit: u16,
    base: u64,
}

/// Builds and loads CPU `cpu`'s GDT and TSS. Must run on that CPU, once.
pub fn init_cpu(cpu: usize) {
    // SAFETY: only CPU `cpu` touches slot `cpu`, and only here (see `Slots`).
    let t = unsafe { &mut (*TABLES.0.get())[cpu] };
    for (i, s) in t.ist.iter().enumerate() {
        t.tss.ist[i] = s.0.as_ptr() as u64 + IST_STACK_SIZE as u64;
    }
    t.tss.iomap_base = size_of::<Tss>() as u16;
    let base = &t.tss as *const Tss as u64;
    let limit = size_of::<Tss>() as u64 - 1;
    t.gdt[0] = 0;
    t.gdt[1] = 0x00AF_9A00_0000_FFFF;
    t.gdt[2] = 0x00CF_9200_0000_FFFF;
    t.gdt[3] = (limit & 0xFFFF)
        | (base & 0xFF_FFFF) << 16
        | 0x89 << 40
        | ((limit >> 16) & 0xF) << 48
        | ((base >> 24) & 0xFF) << 56;
    t.gdt[4] = base >> 32;
    let ptr = DescPtr { limit: (size_of::<[u64; 5]>() - 1) as u16, base: t.gdt.as_ptr() as u64 };
    // SAFETY: the new GDT has the same code/data layout as the boot GDT, so reloading
    // CS (far return) and the data selectors keeps the CPU running the same code; the
    // TSS descriptor is valid and not busy (fresh per CPU).
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov ss, {ds:x}",
            "ltr {tss:x}",
            ptr = in(reg) &ptr,
            cs = in(reg) KERNEL_CS as u64,
            tmp = out(reg) _,
            ds = in(reg) KERNEL_DS as u64,
            tss = in(reg) TSS_SEL as u64,
        );
    }
}
