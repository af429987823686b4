//! The context switch behind `Platform::switch_to`, and preemption at interrupt return.
//!
//! Each kernel thread owns a [`ThreadContext`] (its stack and saved stack pointer),
//! kept in the core's per-thread runtime slot. `switch_stacks` saves the callee-saved
//! registers on the old stack, swaps stack pointers and restores the new thread's;
//! everything else is caller-saved at the call into `switch_to`. A CPU's idle thread runs
//! on the stack it booted on and gets an empty context the first time it switches away.
//!
//! Hardware IF across a switch: the lazy mask keeps IF set except while a deferred
//! interrupt waits for replay, and that is a property of the CPU, not of a thread. So
//! after every switch-in IF is set to `!irq_deferred()` for this CPU.
//!
//! Interrupt-return preemption cannot switch on the IST stack (the next interrupt on
//! this CPU would reuse it). Instead [`maybe_preempt`] rewrites the interrupt frame to
//! return into `preempt_irq_trampoline` on the interrupted thread's own stack (below its
//! red zone), with an `iretq` frame for the original context beneath it. The trampoline
//! saves all registers and the SSE state, calls `preempt_schedule_irq` through
//! `irq_exit_preempt`, restores, and `iretq`s back to the interrupted instruction.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use irqkit_core::platform::ThreadBody;
use irqkit_core::sched::Thread;
use irqkit_core::sync::SpinLock;

use crate::idt::TrapFrame;
use crate::{arch, percpu, platform};

const KTHREAD_STACK_SIZE: usize = 32 * 1024;
/// The SysV red zone below the interrupted stack pointer that must be left alone.
const RED_ZONE: u64 = 128;
const RFLAGS_IF: u64 = 1 << 9;

/// A thread's machine context.
pub struct ThreadContext {
    rsp: UnsafeCell<u64>,
    /// Set from the moment a CPU starts switching away from this thread until the new
    /// thread on that CPU has run `finish_switch`: until then `rsp` is not yet saved,
    /// and another CPU that already picked the thread (it was woken meanwhile) must
    /// wait. Linux's `prev->on_cpu` handshake in `finish_task_switch`.
    in_switch: AtomicBool,
    _stack: Vec<u128>,
    body: SpinLock<Option<ThreadBody>>,
    exit: SpinLock<Option<ThreadBody>>,
}

// SAFETY: `rsp` is written only by `switch_stacks` on the CPU switching away from this
// thread, and read only by the CPU switching to it afterwards; the scheduler's run-queue
// locks order the two (a thread is never switched to while it runs).
unsafe impl Sync for ThreadContext {}

// SAFETY (whole block): `switch_stacks` is called only from `switch_to` with valid
// pointers; the trampolines are entered only as set up below.
global_asm!(
    r#"
    .section .text
    .p2align 4
switch_stacks:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .p2align 4
kthread_trampoline:
    mov %r12, %rdi
    and $-16, %rsp
    call kthread_entry
    ud2

    .p2align 4
    .global preempt_irq_trampoline
preempt_irq_trampoline:
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
    call preempt_irq_resched
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
    iretq
"#,
    options(att_syntax)
);

extern "C" {
    fn switch_stacks(save_rsp: *mut u64, load_rsp: u64);
    fn kthread_trampoline();
    fn preempt_irq_trampoline();
}

fn context_of(t: &Thread) -> Option<&ThreadContext> {
    t.runtime_data().and_then(|d| (&**d as &dyn Any).downcast_ref::<ThreadContext>())
}

/// `Platform::spawn_thread`: a fresh stack whose first switch-in "returns" into
/// `kthread_trampoline` with the context in r12.
pub fn spawn(t: &Arc<Thread>, body: ThreadBody, exit: ThreadBody) {
    let stack: Vec<u128> = alloc::vec![0; KTHREAD_STACK_SIZE / 16];
    let ctx = Arc::new(ThreadContext {
        rsp: UnsafeCell::new(0),
        in_switch: AtomicBool::new(false),
        _stack: stack,
        body: SpinLock::new(Some(body)),
        exit: SpinLock::new(Some(exit)),
    });
    let top = ctx._stack.as_ptr() as u64 + KTHREAD_STACK_SIZE as u64;
    // Frame popped by `switch_stacks`: r15 r14 r13 r12 rbx rbp, then the return address.
    let frame: [u64; 8] =
        [0, 0, 0, Arc::as_ptr(&ctx) as u64, 0, 0, kthread_trampoline as *const () as u64, 0];
    let sp = top - 8 * frame.len() as u64;
    // SAFETY: `sp..top` lies inside the stack just allocated, which nothing else uses.
    unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), sp as *mut u64, frame.len()) };
    // SAFETY: no CPU can switch to the thread before `spawn_thread` returns.
    unsafe { *ctx.rsp.get() = sp };
    t.set_runtime_data(ctx);
}

/// Sets IF as the lazy mask requires after a switch-in (see the module doc).
fn finish_switch() {
    let prev = percpu::this_area().switch_prev.swap(0, Ordering::AcqRel) as *const ThreadContext;
    if !prev.is_null() {
        // SAFETY: `switch_to` stored a pointer to the previous thread's context, which
        // that thread's runtime slot keeps alive (threads are never freed while the
        // scheduler can still reach them).
        unsafe { (*prev).in_switch.store(false, Ordering::Release) };
    }
    if let Some(cpu) = platform::system().this_cpu_opt() {
        arch::hw_irq_restore(!cpu.irq_deferred());
    }
}

/// `Platform::switch_to`.
pub fn switch_to(prev: &Arc<Thread>, next: &Arc<Thread>) {
    if context_of(prev).is_none() {
        // The CPU's boot context (its idle thread) switching away for the first time.
        prev.set_runtime_data(Arc::new(ThreadContext {
            rsp: UnsafeCell::new(0),
            in_switch: AtomicBool::new(false),
            _stack: Vec::new(),
            body: SpinLock::new(None),
            exit: SpinLock::new(None),
        }));
    }
    let (Some(p), Some(n)) = (context_of(prev), context_of(next)) else {
        panic!("switch_to: thread without a context");
    };
    arch::hw_irq_save();
    while n.in_switch.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    p.in_switch.store(true, Ordering::Relaxed);
    percpu::this_area().switch_prev.store(p as *const ThreadContext as u64, Ordering::Release);
    // SAFETY: both contexts are alive (held by the threads the caller holds); `next`
    // was switched away from (or freshly built), so its saved rsp points at a
    // `switch_stacks` frame.
    unsafe { switch_stacks(p.rsp.get(), *n.rsp.get()) };
    finish_switch();
}

/// First Rust code of a new thread.
#[no_mangle]
extern "C" fn kthread_entry(ctx: *const ThreadContext) -> ! {
    finish_switch();
    // SAFETY: `ctx` is the context `spawn` made, kept alive by the thread's runtime slot.
    let body = unsafe { (*ctx).body.lock().take() };
    if let Some(body) = body {
        body();
    }
    // SAFETY: as above.
    let exit = unsafe { (*ctx).exit.lock().take() };
    if let Some(exit) = exit {
        exit();
    }
    panic!("kthread_exit returned");
}

/// On the way out of a hardware interrupt: if the interrupted context is preemptible
/// and a reschedule is pending, divert the return through `preempt_irq_trampoline`.
pub fn maybe_preempt(frame: &mut TrapFrame) {
    let sys = platform::system();
    let cpu = sys.this_cpu();
    let area = percpu::this_area();
    if frame.rflags & RFLAGS_IF == 0
        || !cpu.need_resched()
        || cpu.preempt_count() != 0
        || cpu.irqs_disabled()
        || !area.sched_ready.load(Ordering::Relaxed)
    {
        return;
    }
    let sp = ((frame.rsp - RED_ZONE) & !15) - 5 * 8;
    let iret = [frame.rip, frame.cs, frame.rflags, frame.rsp, frame.ss];
    // SAFETY: the interrupted context is a kernel thread on its own stack (IF was set,
    // so it was not an interrupt handler on an IST stack); `sp` is below its red zone,
    // in stack space it has not used yet.
    unsafe { core::ptr::copy_nonoverlapping(iret.as_ptr(), sp as *mut u64, iret.len()) };
    frame.rip = preempt_irq_trampoline as *const () as u64;
    frame.rsp = sp;
    frame.rflags &= !RFLAGS_IF;
    area.irq_preemptions.fetch_add(1, Ordering::Relaxed);
}

/// Called by `preempt_irq_trampoline` on the interrupted thread's stack, IF clear.
#[no_mangle]
extern "C" fn preempt_irq_resched() {
    let sys = platform::system();
    let flags = sys.local_irq_save();
    sys.irq_exit_preempt();
    sys.local_irq_restore(flags);
}
