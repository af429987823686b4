//! Machines come and go without leaking threads, signal handlers or file descriptors.
//! (Its own test binary: counting the process's threads needs no other test running.)

mod common;

use irqkit_core::CpuId;
use irqkit_hosted::{signals, Machine, MachineConfig};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn two_hundred_machines_leave_no_thread_handler_or_fd_behind() {
    let threads0 = count("/proc/self/task");
    let fds0 = count("/proc/self/fd");
    assert!(!signals::handler_installed());
    for i in 0..200 {
        let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
        assert!(signals::handler_installed());
        if i % 20 == 0 {
            assert_eq!(m.run_on(CpuId(1), |_| 1).unwrap(), 1);
        }
        drop(m);
    }
    // A joined thread has run its last instruction, but the kernel lists it in
    // /proc/self/task until it is reaped, later in its exit (join returns at the tid
    // clear in exit_mm, the task is unhashed in release_task): the last machine's
    // threads, joined just now, may still be listed while the host keeps them off its
    // CPUs. A thread left behind never leaves the list: the wait then times out.
    common::wait_until("threads left behind to exit", || count("/proc/self/task") <= threads0);
    assert_eq!(count("/proc/self/task"), threads0, "threads left behind");
    assert_eq!(count("/proc/self/fd"), fds0, "fds left behind");
    assert!(!signals::handler_installed(), "signal handler left installed");
}
