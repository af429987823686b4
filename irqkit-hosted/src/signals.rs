//! The process-wide signal handlers that deliver interrupts (one RT signal) and NMIs
//! (another, which ignores the soft mask).
//!
//! Installed when the first machine starts and restored when the last one is dropped;
//! the handler dispatches on the thread-local machine pointer, so threads that belong
//! to no machine (test harness threads) treat the signals as stray and return.

use std::sync::Mutex;

use irqkit_core::cpu::CpuPin;

use crate::thread_ctx;

struct Installed {
    users: usize,
    old_irq: libc::sigaction,
    old_nmi: libc::sigaction,
}

// SAFETY: sigaction is plain data.
unsafe impl Send for Installed {}

static INSTALLED: Mutex<Option<Installed>> = Mutex::new(None);

/// The interrupt signal: SIGRTMIN+2 (glibc reserves the first two for itself).
pub fn irq_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

/// The NMI signal: SIGRTMIN+3.
pub fn nmi_signal() -> i32 {
    libc::SIGRTMIN() + 3
}

extern "C" fn on_signal(sig: libc::c_int, _info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: __errno_location returns this thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    if sig == irq_signal() {
        thread_ctx::signal_delivered();
    }
    // Pinned until the interrupt entry, which finds its CPU again: a nested signal
    // must not move this thread between the CPU read and the deferral marks.
    let mut pin = Some(CpuPin::new());
    if let (Some((sys, shared)), Some(cpu)) = (thread_ctx::machine(), thread_ctx::current_cpu()) {
        let cs = sys.cpu(cpu).expect("cpu exists");
        if sig == nmi_signal() {
            shared.drain_nmi(sys, cpu);
        } else if cs.irqs_disabled() {
            // Masked: keep the signal blocked on return so bursts queue in the kernel
            // (a software ring would overflow), and replay at local_irq_enable.
            // SAFETY: the kernel passes a valid ucontext_t for SA_SIGINFO handlers; its
            // uc_sigmask is the mask restored at sigreturn.
            unsafe {
                let uc = uctx as *mut libc::ucontext_t;
                libc::sigaddset(&mut (*uc).uc_sigmask, irq_signal());
            }
            thread_ctx::set_sig_blocked(true);
            cs.set_irq_deferred(true);
        } else {
            // The interrupted code's own pin decides whether this entry's preemption
            // may move the thread.
            drop(pin.take());
            shared.irq_entry(sys);
        }
    }
    drop(pin);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn install_one(sig: i32) -> libc::sigaction {
    // SAFETY: zeroed sigaction is a valid starting value; sigaction writes the old one.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART | libc::SA_NODEFER;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &sa, &mut old);
        old
    }
}

/// Installs the handlers (first user) or counts another user.
pub(crate) fn acquire() {
    let mut g = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    match &mut *g {
        Some(i) => i.users += 1,
        None => {
            let old_irq = install_one(irq_signal());
            let old_nmi = install_one(nmi_signal());
            *g = Some(Installed { users: 1, old_irq, old_nmi });
        }
    }
}

/// Drops a user; the last one discards pending signals (SIG_IGN) and restores the
/// previous dispositions. All machine threads must be joined first.
pub(crate) fn release() {
    let mut g = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let last = match &mut *g {
        Some(i) => {
            i.users -= 1;
            i.users == 0
        }
        None => false,
    };
    if last {
        let i = g.take().expect("installed");
        // SAFETY: setting SIG_IGN then the saved actions; both are valid sigactions.
        unsafe {
            let mut ign: libc::sigaction = std::mem::zeroed();
            ign.sa_sigaction = libc::SIG_IGN;
            libc::sigaction(irq_signal(), &ign, std::ptr::null_mut());
            libc::sigaction(nmi_signal(), &ign, std::ptr::null_mut());
            libc::sigaction(irq_signal(), &i.old_irq, std::ptr::null_mut());
            libc::sigaction(nmi_signal(), &i.old_nmi, std::ptr::null_mut());
        }
    }
}

/// True if the interrupt signal currently has irqkit's handler (for leak tests).
pub fn handler_installed() -> bool {
    // SAFETY: querying with a null new action only reads the current one.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(irq_signal(), std::ptr::null(), &mut cur);
        cur.sa_sigaction == on_signal as *const () as usize
    }
}

/// Sends the interrupt (or NMI) signal to thread `tid` of process `pid`.
pub(crate) fn send(pid: i32, tid: i32, nmi: bool) {
    if tid <= 0 {
        return;
    }
    let sig = if nmi { nmi_signal() } else { irq_signal() };
    // SAFETY: tgkill only sends a signal; a stale tid yields ESRCH, which the
    // per-CPU pending words make harmless (the next holder re-checks them).
    unsafe {
        libc::syscall(libc::SYS_tgkill, pid, tid, sig);
    }
}

/// Unblocks the interrupt signal on this thread (replay of deferred interrupts).
pub(crate) fn unblock_irq_signal() {
    // SAFETY: building a one-signal set and unblocking it on the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, irq_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Prepares a new machine thread: its own alternate signal stack (std's 8 KiB one is
/// too small for nested interrupts) and both signals unblocked (threads inherit the
/// creator's mask, which may have the interrupt signal blocked).
pub(crate) struct ThreadSignals {
    /// The mapping: one guard page, then the stack proper.
    map: *mut libc::c_void,
}

/// Usable alternate-stack size. Interrupt entry, softirqs run at its exit, a nested
/// interrupt and an NMI can all be on it at once; unoptimised builds overflowed 256 KiB
/// under load (the kernel logs "overflowed sigaltstack"). Pages are committed only
/// when touched, so the size costs address space, not memory.
const ALT_STACK: usize = 1024 * 1024;
/// A PROT_NONE page below the stack: an overflow faults there instead of silently
/// overwriting whatever the allocator placed below.
const GUARD: usize = 4096;

impl ThreadSignals {
    pub(crate) fn setup() -> Self {
        // SAFETY: an anonymous private mapping owned by this struct; the guard page is
        // made inaccessible; the alt stack is registered only on success and disabled
        // in Drop before the mapping goes away. The signal-mask calls only change this
        // thread's mask.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                GUARD + ALT_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            assert!(map != libc::MAP_FAILED, "mmap of the interrupt stack failed");
            libc::mprotect(map, GUARD, libc::PROT_NONE);
            let ss = libc::stack_t {
                ss_sp: (map as *mut u8).add(GUARD) as *mut libc::c_void,
                ss_flags: 0,
                ss_size: ALT_STACK,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, irq_signal());
            libc::sigaddset(&mut set, nmi_signal());
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            thread_ctx::set_sig_blocked(false);
            ThreadSignals { map }
        }
    }
}

impl Drop for ThreadSignals {
    fn drop(&mut self) {
        // SAFETY: block both signals so none lands after the alt stack goes away, then
        // disable the alt stack, then unmap it (it is no longer registered).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, irq_signal());
            libc::sigaddset(&mut set, nmi_signal());
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let ss = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            libc::munmap(self.map, GUARD + ALT_STACK);
        }
    }
}
