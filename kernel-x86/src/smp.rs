//! SMP bring-up: INIT-SIPI-SIPI with a real-mode trampoline copied to 0x8000.
//!
//! Each application processor starts in real mode at 0x8000, loads the boot GDT,
//! enters 32-bit protected mode, reuses the bootstrap CPU's page tables to enter long
//! mode, and jumps to `ap_long_entry`, which picks up the stack and CPU number the
//! bootstrap CPU left in `AP_BOOT_STACK`/`AP_BOOT_CPU` and calls [`crate::ap_main`].
//! APs start one at a time, so those two words need no more protocol than "the AP
//! reports online before the next one is started".

use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::percpu::{self, MAX_CPUS};
use crate::{kprintln, lapic};

/// Physical address the trampoline is copied to (page 8, below 1 MiB).
const TRAMPOLINE: usize = 0x8000;
const AP_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct ApStacks([[u8; AP_STACK_SIZE]; MAX_CPUS]);
static mut AP_STACKS: ApStacks = ApStacks([[0; AP_STACK_SIZE]; MAX_CPUS]);

/// Stack top for the AP being started (read by `ap_long_entry`).
#[no_mangle]
static AP_BOOT_STACK: AtomicU64 = AtomicU64::new(0);
/// CPU number of the AP being started.
#[no_mangle]
static AP_BOOT_CPU: AtomicU32 = AtomicU32::new(0);

// SAFETY (whole block): `ap_tramp_start..ap_tramp_end` is position-dependent code that
// only runs after being copied to TRAMPOLINE (all its own addresses are computed
// relative to that); it reaches long mode exactly as the BSP's `_start` does.
global_asm!(
    r#"
    .section .text
    .p2align 4
    .code16
    .global ap_tramp_start
ap_tramp_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl (ap_tramp_gdtr - ap_tramp_start + 0x8000)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $(ap_tramp_32 - ap_tramp_start + 0x8000)
    .code32
ap_tramp_32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $(1 << 8), %eax
    wrmsr
    mov %cr0, %eax
    and $~(1 << 2), %eax
    or $((1 << 31) | (1 << 1) | 1), %eax
    mov %eax, %cr0
    ljmp $0x08, $ap_long_entry
    .p2align 3
ap_tramp_gdtr:
    .word 31
    .long boot_gdt
    .global ap_tramp_end
ap_tramp_end:

    .code64
ap_long_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov AP_BOOT_STACK(%rip), %rsp
    mov AP_BOOT_CPU(%rip), %edi
    xor %ebp, %ebp
    call ap_main
1:
    cli
    hlt
    jmp 1b
"#,
    options(att_syntax)
);

extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
}

/// Starts the APs with APIC ids `ids[1..]` (`ids[0]` is the caller, CPU 0) as CPUs
/// 1, 2, ...; returns how many came online.
pub fn start_aps(ids: &[u32]) -> usize {
    // SAFETY: copying the trampoline's bytes to the free low page TRAMPOLINE; the
    // source range is the assembled trampoline, the destination is identity-mapped RAM
    // that nothing else uses.
    unsafe {
        let src = &ap_tramp_start as *const u8;
        let len = &ap_tramp_end as *const u8 as usize - src as usize;
        core::ptr::copy_nonoverlapping(src, TRAMPOLINE as *mut u8, len);
    }
    let mut online = 1;
    for (cpu, &apic_id) in ids.iter().enumerate().skip(1).take(MAX_CPUS - 1) {
        // SAFETY: only the address of this CPU's stack is taken; the AP is its only user.
        let top =
            unsafe { core::ptr::addr_of_mut!(AP_STACKS.0[cpu]) as u64 + AP_STACK_SIZE as u64 };
        AP_BOOT_STACK.store(top, Ordering::SeqCst);
        AP_BOOT_CPU.store(cpu as u32, Ordering::SeqCst);
        lapic::send_init(apic_id);
        lapic::delay_ns(10_000_000);
        for _ in 0..2 {
            lapic::send_startup(apic_id, (TRAMPOLINE >> 12) as u8);
            lapic::delay_ns(200_000);
            if percpu::area(cpu).online.load(Ordering::Acquire) {
                break;
            }
        }
        let deadline = lapic::now_ns() + 1_000_000_000;
        while !percpu::area(cpu).online.load(Ordering::Acquire) && lapic::now_ns() < deadline {
            core::hint::spin_loop();
        }
        if percpu::area(cpu).online.load(Ordering::Acquire) {
            online += 1;
        } else {
            kprintln!("smp: CPU {} (APIC {}) did not come online", cpu, apic_id);
            break;
        }
    }
    online
}
