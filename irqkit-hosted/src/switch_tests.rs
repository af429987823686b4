//! A thread whose interrupt signal is still blocked when it switches out (a signal
//! hit its masked path into `schedule`) must still take interrupts once it runs
//! again: the block is per host thread, the replay flag per CPU.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::sched::KthreadSpec;
use irqkit_core::timer::msleep;
use irqkit_core::CpuId;

use crate::{signals, thread_ctx, Machine, MachineConfig};

#[test]
fn a_signal_blocked_across_a_switch_does_not_leave_the_thread_deaf() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    m.set_vector_handler(0x90, move |_, _, _| {
        h.fetch_add(1, SeqCst);
    })
    .unwrap();
    let (ready, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (r, st, h, sys) = (ready.clone(), stop.clone(), hits.clone(), m.sys().clone());
    m.spawn(KthreadSpec::bound("deaf", CpuId(1)), move |task| {
        // What the signal handler leaves behind when a signal finds the CPU masked
        // just before a switch: the signal blocked on this thread.
        // SAFETY: building a one-signal set and blocking it on the calling thread.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signals::irq_signal());
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        thread_ctx::set_sig_blocked(true);
        msleep(&sys, task, 2).unwrap();
        r.store(true, SeqCst);
        // Interrupts enabled, no sleep: only a signal can deliver the vector now.
        while h.load(SeqCst) == 0 && !st.load(SeqCst) {
            std::hint::spin_loop();
        }
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.load(SeqCst) {
        assert!(Instant::now() < deadline, "the thread never woke");
        std::thread::yield_now();
    }
    m.raise(CpuId(1), 0x90).unwrap();
    while hits.load(SeqCst) == 0 {
        if Instant::now() > deadline {
            stop.store(true, SeqCst);
            panic!("CPU 1 never took the vector: its holder kept the signal blocked");
        }
        std::thread::yield_now();
    }
    stop.store(true, SeqCst);
}
