//! Workqueue flags and limits (include/linux/workqueue.h `enum wq_flags`,
//! `WQ_MAX_ACTIVE` and friends), with Linux's values.

/// Run in softirq context on the queueing CPU (BH pools); takes [`BhWork`](super::BhWork) items only.
pub const WQ_BH: u32 = 1 << 0;
/// Not bound to a CPU; served by the shared unbound pool.
pub const WQ_UNBOUND: u32 = 1 << 1;
/// Stops at freeze, resumes at thaw.
pub const WQ_FREEZABLE: u32 = 1 << 2;
/// May be used in memory reclaim: has a rescuer thread.
pub const WQ_MEM_RECLAIM: u32 = 1 << 3;
/// Served by the highpri pools (nice −20).
pub const WQ_HIGHPRI: u32 = 1 << 4;
/// Items leave concurrency management while they run.
pub const WQ_CPU_INTENSIVE: u32 = 1 << 5;
/// Visible in sysfs (accepted, no effect here).
pub const WQ_SYSFS: u32 = 1 << 6;
/// Unbound when `power_efficient` is set, per-CPU otherwise.
pub const WQ_POWER_EFFICIENT: u32 = 1 << 7;
/// Explicitly per-CPU.
pub const WQ_PERCPU: u32 = 1 << 8;
/// Internal: ordered workqueue (one at a time, FIFO).
pub const __WQ_ORDERED: u32 = 1 << 17;
/// Internal: created by the legacy `create_workqueue` helpers.
pub const __WQ_LEGACY: u32 = 1 << 18;
pub(crate) const WQ_ALL_FLAGS: u32 = WQ_BH
    | WQ_UNBOUND
    | WQ_FREEZABLE
    | WQ_MEM_RECLAIM
    | WQ_HIGHPRI
    | WQ_CPU_INTENSIVE
    | WQ_SYSFS
    | WQ_POWER_EFFICIENT
    | WQ_PERCPU
    | __WQ_ORDERED
    | __WQ_LEGACY;

/// `WQ_MAX_ACTIVE`.
pub const WQ_MAX_ACTIVE: u32 = 2048;
/// `WQ_DFL_ACTIVE`: what max_active 0 means.
pub const WQ_DFL_ACTIVE: u32 = 1024;
/// `WQ_NAME_LEN` (names are truncated to one less).
pub const WQ_NAME_LEN: usize = 32;
/// `IDLE_WORKER_TIMEOUT` (300 s), the default of the configurable reaping timeout.
pub const IDLE_WORKER_TIMEOUT_MS: u64 = 300_000;
/// `wq_cpu_intensive_thresh_us` default: 10 ms without sleeping makes a work
/// CPU-intensive.
pub const CPU_INTENSIVE_THRESH_US: u64 = 10_000;
/// Cap of [`IrqSystem::wq_set_idle_spin_ns`](crate::IrqSystem::wq_set_idle_spin_ns):
/// an idle worker holds its CPU at most this long (100 µs) before it sleeps.
pub const MAX_IDLE_SPIN_NS: u64 = 100_000;
/// `work_busy` bit: PENDING set.
pub const WORK_BUSY_PENDING: u32 = 1;
/// `work_busy` bit: executing now.
pub const WORK_BUSY_RUNNING: u32 = 2;
