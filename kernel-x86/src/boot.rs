//! Multiboot v1 entry and the 32-bit → 64-bit trampoline of the bootstrap CPU.
//!
//! QEMU's `-kernel` loads a multiboot v1 ELF32 image (the linked ELF64 is re-labelled
//! with `objcopy -O elf32-i386`; the code stays 64-bit) and jumps to `_start` in 32-bit
//! protected mode, paging off. The trampoline:
//!
//! 1. zeroes `.bss` and switches to the boot stack;
//! 2. identity-maps the first 4 GiB with 2 MiB pages (the top GiB, which holds the local
//!    APIC and IO-APIC registers, uncached);
//! 3. enables PAE, SSE (CR4.OSFXSR|OSXMMEXCPT, CR0.MP, CR0.EM off — the precompiled
//!    `core` uses SSE), long mode (EFER.LME) and paging;
//! 4. far-jumps to 64-bit code, which calls [`crate::kmain`] with the multiboot magic and
//!    info pointer.
//!
//! Application processors reuse the page tables and the boot GDT through
//! [`crate::smp`]'s real-mode trampoline.

use core::arch::global_asm;

/// Bytes of the bootstrap CPU's boot stack (it keeps it as its kernel stack).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

// SAFETY (whole block): this is the image's entry point, reached only from the
// multiboot loader in 32-bit protected mode; it touches only memory the linker script
// reserves for it (`.bss`, the page tables, the boot stack).
global_asm!(
    r#"
    .section .multiboot, "a"
    .p2align 2
multiboot_header:
    .long 0x1BADB002
    .long 0x00000000
    .long -(0x1BADB002 + 0x00000000)

    .section .rodata
    .p2align 4
    .global boot_gdt
boot_gdt:
    .quad 0                      /* null */
    .quad 0x00AF9A000000FFFF     /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF     /* 0x10: data */
    .quad 0x00CF9A000000FFFF     /* 0x18: 32-bit code (AP trampoline) */
boot_gdt_end:
    .p2align 4
    .global boot_gdtr
boot_gdtr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .bss
    .p2align 12
    .global boot_pml4
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .p2align 4
boot_stack_bottom:
    .skip {stack_size}
    .global boot_stack_top
boot_stack_top:
boot_magic: .skip 4
boot_info:  .skip 4

    .section .text.boot, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    /* keep the multiboot registers across the bss wipe: edi/ebx are not touched by it
       except edi, so stash eax in esi and ebx in ebp */
    mov %eax, %esi
    mov %ebx, %ebp
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov %esi, boot_magic
    mov %ebp, boot_info
    mov $boot_stack_top, %esp

    /* PML4[0] -> PDPT, PDPT[0..4] -> PD[0..4] */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $0x3, %eax
    mov %eax, boot_pdpt
    add $4096, %eax
    mov %eax, boot_pdpt + 8
    add $4096, %eax
    mov %eax, boot_pdpt + 16
    add $4096, %eax
    mov %eax, boot_pdpt + 24

    /* 2048 2 MiB pages: present|writable|huge; the last 512 (3..4 GiB, MMIO) also PCD|PWT */
    xor %ecx, %ecx
1:
    mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    cmp $1536, %ecx
    jb 2f
    or $0x18, %eax
2:
    mov %eax, boot_pd(,%ecx,8)
    movl $0, boot_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 1b

    .global boot_enter_long_mode
boot_enter_long_mode:
    /* CR4: PAE | OSFXSR | OSXMMEXCPT */
    mov %cr4, %eax
    or $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    /* EFER.LME */
    mov $0xC0000080, %ecx
    rdmsr
    or $(1 << 8), %eax
    wrmsr
    /* CR0: PG | PE | MP, EM off */
    mov %cr0, %eax
    and $~(1 << 2), %eax
    or $((1 << 31) | (1 << 1) | 1), %eax
    mov %eax, %cr0
    lgdt boot_gdtr
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    xor %ebp, %ebp
    mov boot_magic(%rip), %edi
    mov boot_info(%rip), %esi
    call kmain
3:
    cli
    hlt
    jmp 3b
"#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);
