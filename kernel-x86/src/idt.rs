//! The IDT and the 256-entry stub table, in the manner of Linux's `irq_entries_start`.
//!
//! Stub `v` sits at `irq_entries_start + 16 * v`. It pushes a zero error code when the
//! CPU does not push one, then the vector, and jumps to `common_entry`, which saves the
//! general registers and the SSE state (`fxsave64`: the precompiled `core` uses SSE),
//! and calls [`crate::irq::do_vector`] with a pointer to the [`TrapFrame`]. The
//! handler may edit the frame (exception fixups move `rip`; the lazy mask clears
//! `IF` in `rflags`) before `iretq`.

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;

use crate::gdt::{IST_DOUBLE_FAULT, IST_EXCEPTION, IST_IRQ, IST_MACHINE_CHECK, IST_NMI, KERNEL_CS};

/// Byte distance between two stubs.
const STUB_SIZE: u64 = 16;

/// The registers saved by `common_entry` plus the hardware frame, lowest address first.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Pushed by the stub.
    pub vector: u64,
    /// Pushed by the CPU for #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX; else 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// SAFETY (whole block): entered only by the CPU through IDT gates, on an IST stack
// (every gate names one), with interrupts masked (interrupt gates). It restores every
// register it saved before `iretq`.
global_asm!(
    r#"
    .section .text
    .p2align 4
    .global irq_entries_start
irq_entries_start:
    .set vec, 0
    .rept 256
    .p2align 4
    .if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
    .else
    pushq $0
    .endif
    pushq $vec
    jmp common_entry
    .set vec, vec + 1
    .endr

    .p2align 4
common_entry:
    cld
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rbx
    sub $512, %rsp
    and $-16, %rsp
    fxsave64 (%rsp)
    mov %rbx, %rdi
    call do_vector
    fxrstor64 (%rsp)
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
"#,
    options(att_syntax)
);

extern "C" {
    static irq_entries_start: u8;
}

#[repr(C, align(16))]
struct Idt(UnsafeCell<[[u64; 2]; 256]>);
// SAFETY: written once by the bootstrap CPU before any CPU loads it.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([[0; 2]; 256]));

/// The IST slot a vector's gate names.
fn ist_for(vector: usize) -> u8 {
    match vector {
        2 => IST_NMI,
        8 => IST_DOUBLE_FAULT,
        18 => IST_MACHINE_CHECK,
        0..=31 => IST_EXCEPTION,
        _ => IST_IRQ,
    }
}

/// Fills the IDT: 256 interrupt gates (IF cleared on entry) to the stubs.
pub fn init() {
    // SAFETY: taking the address of an assembly label.
    let base = unsafe { &irq_entries_start as *const u8 as u64 };
    // SAFETY: runs once on the bootstrap CPU before any `load` (see `Idt`).
    let idt = unsafe { &mut *IDT.0.get() };
    for (v, gate) in idt.iter_mut().enumerate() {
        let off = base + STUB_SIZE * v as u64;
        gate[0] = (off & 0xFFFF)
            | (KERNEL_CS as u64) << 16
            | (ist_for(v) as u64) << 32
            | 0x8E << 40
            | ((off >> 16) & 0xFFFF) << 48;
        gate[1] = off >> 32;
    }
}

/// Loads the IDT on the calling CPU.
pub fn load() {
    #[repr(C, packed)]
    struct DescPtr {
        limit: u16,
        base: u64,
    }
    let ptr = DescPtr { limit: 256 * 16 - 1, base: IDT.0.get() as u64 };
    // SAFETY: the IDT is fully built by `init` and 'static.
    unsafe { asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags)) };
}
