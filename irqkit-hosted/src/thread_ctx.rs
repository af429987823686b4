//! Per-OS-thread context: which machine, which virtual CPU (if any) this thread holds.
//!
//! Only `const`-initialised `Cell`s of plain pointers: they compile to `%fs`-relative
//! accesses with no lazy registration, so signal handlers and the allocator can read
//! them at any time (a thread-local with a destructor would call `malloc` on first use).

use std::cell::Cell;
use std::ptr;

use irqkit_core::cpu::{CpuPin, CpuState};
use irqkit_core::{CpuId, IrqSystem};

use crate::platform::HostThread;
use crate::shared::Shared;

const NO_CPU: u32 = u32::MAX;

thread_local! {
    static SYS: Cell<*const IrqSystem> = const { Cell::new(ptr::null()) };
    static SHARED: Cell<*const Shared> = const { Cell::new(ptr::null()) };
    static CPU: Cell<u32> = const { Cell::new(NO_CPU) };
    static CPU_STATE: Cell<*const CpuState> = const { Cell::new(ptr::null()) };
    static SIG_BLOCKED: Cell<bool> = const { Cell::new(false) };
    static HOST: Cell<*const HostThread> = const { Cell::new(ptr::null()) };
}

/// Binds this OS thread to a machine. The caller keeps `sys` and `shared` alive (it
/// owns `Arc` clones) until [`unbind_machine`].
pub(crate) fn bind_machine(sys: &IrqSystem, shared: &Shared, host: &HostThread) {
    SYS.with(|c| c.set(sys));
    SHARED.with(|c| c.set(shared));
    HOST.with(|c| c.set(host));
}

/// At interrupt-signal entry: this thread's queued signal has been delivered, so a
/// raiser may send another.
#[inline]
pub(crate) fn signal_delivered() {
    let h = HOST.with(|c| c.get());
    if !h.is_null() {
        // SAFETY: HOST points into the machine's host-thread registry (alive while
        // the thread is bound).
        unsafe { (*h).sig_queued.store(false, std::sync::atomic::Ordering::SeqCst) };
    }
}

/// Forgets the machine (thread exit).
pub(crate) fn unbind_machine() {
    release_cpu();
    SYS.with(|c| c.set(ptr::null()));
    SHARED.with(|c| c.set(ptr::null()));
    HOST.with(|c| c.set(ptr::null()));
}

/// The machine this thread belongs to, if any.
#[inline]
pub(crate) fn machine<'a>() -> Option<(&'a IrqSystem, &'a Shared)> {
    let s = SYS.with(|c| c.get());
    let h = SHARED.with(|c| c.get());
    if s.is_null() || h.is_null() {
        return None;
    }
    // SAFETY: `bind_machine`'s caller keeps both alive while they are set; they are
    // cleared before that caller drops its clones.
    Some(unsafe { (&*s, &*h) })
}

/// Records that this thread now holds `cpu`.
#[inline]
pub(crate) fn acquire_cpu(sys: &IrqSystem, cpu: CpuId) {
    let cs = sys.cpu(cpu).expect("cpu exists");
    CPU_STATE.with(|c| c.set(cs));
    CPU.with(|c| c.set(cpu.0));
}

/// Records that this thread holds no CPU (it parks or exits).
#[inline]
pub(crate) fn release_cpu() {
    CPU.with(|c| c.set(NO_CPU));
    CPU_STATE.with(|c| c.set(ptr::null()));
}

/// The CPU this thread holds.
#[inline]
pub(crate) fn current_cpu() -> Option<CpuId> {
    let c = CPU.with(|c| c.get());
    (c != NO_CPU).then_some(CpuId(c))
}

/// True if the interrupt signal is blocked on this thread by the deferral protocol.
#[inline]
pub(crate) fn sig_blocked() -> bool {
    SIG_BLOCKED.with(|c| c.get())
}

/// Records whether the interrupt signal is blocked on this thread.
#[inline]
pub(crate) fn set_sig_blocked(v: bool) {
    SIG_BLOCKED.with(|c| c.set(v));
}

/// Runs `f` with this thread's CPU soft-masked (no-op off-CPU), replaying interrupts
/// that arrived meanwhile.
#[inline]
pub(crate) fn with_irqs_masked<R>(f: impl FnOnce() -> R) -> R {
    // Pinned from the CPU read through the replay, which runs on that CPU.
    let pin = CpuPin::new();
    let p = CPU_STATE.with(|c| c.get());
    if p.is_null() {
        drop(pin);
        return f();
    }
    // SAFETY: CPU_STATE points into the IrqSystem this thread keeps alive; it is only
    // non-null while the thread holds that CPU, and no switch happens inside `f`
    // (interrupts are masked, so no preemption).
    let cs = unsafe { &*p };
    let flags = cs.irq_save_raw();
    let r = f();
    if cs.irq_restore_raw(flags) {
        if let Some((sys, shared)) = machine() {
            shared.replay(sys, cs);
        }
    }
    drop(pin);
    r
}
