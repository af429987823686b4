//! `Thread`: a kernel thread's scheduling identity — name, class, affinity, state.

use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;
use core::fmt;

use crate::cpu::{CpuId, CpuMask};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use crate::sync::SpinLock;

use super::SchedHooks;

/// A kernel thread's id, unique within one `IrqSystem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub u64);

/// Scheduling class and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_FIFO` with a priority 1..=99 (higher runs first).
    Fifo(u8),
    /// `SCHED_NORMAL` with a nice value -20..=19.
    Normal(i8),
    /// The per-CPU idle thread: runs only when nothing else can.
    Idle,
}

impl Policy {
    /// A rank for comparisons: FIFO 100+prio, normal 1, idle 0.
    pub(crate) fn rank(&self) -> u32 {
        match self {
            Policy::Fifo(p) => 100 + *p as u32,
            Policy::Normal(_) => 1,
            Policy::Idle => 0,
        }
    }

    /// The CFS load weight of a nice value (kernel/sched/core.c `sched_prio_to_weight`
    /// is a 1.25× step per nice level; 1024 at nice 0).
    pub fn weight(&self) -> u32 {
        const W: [u32; 40] = [
            88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100,
            4904, 3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172,
            137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
        ];
        match self {
            Policy::Normal(n) => W[(*n as i32 + 20).clamp(0, 39) as usize],
            _ => 1024,
        }
    }
}

/// Where a thread may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    /// Bound to one CPU (per-CPU kthreads: ksoftirqd, bound kworkers).
    Bound(CpuId),
    /// Any online CPU of the mask.
    Unbound(CpuMask),
}

/// Lifecycle state of a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// Created, not yet woken for the first time.
    New = 0,
    /// Running or runnable.
    Runnable = 1,
    /// Blocked: off every run queue until woken.
    Sleeping = 2,
    /// Finished; will never run again.
    Dead = 3,
}

impl ThreadState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ThreadState::New,
            1 => ThreadState::Runnable,
            2 => ThreadState::Sleeping,
            _ => ThreadState::Dead,
        }
    }
}

/// What to create: name, class, affinity, optional scheduler hooks.
#[derive(Clone)]
pub struct KthreadSpec {
    /// Linux-style name (`ksoftirqd/0`, `irq/33-eth0`); at most 15 bytes are shown by
    /// the host's `ps`, the full name by irqkit's views.
    pub name: String,
    /// Scheduling class.
    pub policy: Policy,
    /// Where it may run.
    pub affinity: Affinity,
    /// Sleep/run notifications (workqueue workers).
    pub hooks: Option<Arc<dyn SchedHooks>>,
}

impl KthreadSpec {
    /// A normal-class (nice 0) thread bound to `cpu`.
    pub fn bound(name: impl Into<String>, cpu: CpuId) -> Self {
        KthreadSpec {
            name: name.into(),
            policy: Policy::Normal(0),
            affinity: Affinity::Bound(cpu),
            hooks: None,
        }
    }

    /// Sets the scheduling class.
    pub fn policy(mut self, p: Policy) -> Self {
        self.policy = p;
        self
    }
}

/// A kernel thread as the scheduler sees it.
pub struct Thread {
    id: ThreadId,
    name: SpinLock<String>,
    /// Encoded [`Policy`]: lock-free, because wake-ups read it in hard-irq context.
    policy: AtomicU32,
    /// `Bound` CPU, or `UNBOUND` with the mask in `affinity_mask`. Lock-free for the
    /// same reason; a wake-up racing with a change may use the old or the new value.
    affinity_cpu: AtomicU32,
    affinity_mask: [AtomicU64; 4],
    pub(crate) hooks: Option<Arc<dyn SchedHooks>>,
    state: AtomicU8,
    /// True while some CPU's `curr` is this thread (from pick until it switches away).
    pub(crate) on_cpu: AtomicBool,
    /// True while the thread sits on a run queue.
    pub(crate) queued: AtomicBool,
    /// Serialises wake-ups against the thread putting itself to sleep.
    pub(crate) wake_lock: SpinLock<()>,
    cpu: AtomicU32,
    pub(crate) saved_preempt_count: AtomicU32,
    pub(crate) slice_ticks: AtomicU32,
    stop: AtomicBool,
    /// A per-CPU "smpboot" thread (ksoftirqd/N, irq_work/N): it parks with its CPU
    /// instead of keeping the CPU from going offline.
    percpu_smpboot: AtomicBool,
    nvcsw: AtomicU64,
    nivcsw: AtomicU64,
    runtime: spin_once::Once<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread").field("id", &self.id).field("name", &*self.name.lock()).finish()
    }
}

impl Thread {
    pub(crate) fn new(id: ThreadId, spec: &KthreadSpec, cpu: CpuId) -> Self {
        let t = Thread {
            id,
            name: SpinLock::new(spec.name.clone()),
            policy: AtomicU32::new(encode_policy(spec.policy)),
            affinity_cpu: AtomicU32::new(UNBOUND),
            affinity_mask: core::array::from_fn(|_| AtomicU64::new(0)),
            hooks: spec.hooks.clone(),
            state: AtomicU8::new(ThreadState::New as u8),
            on_cpu: AtomicBool::new(false),
            queued: AtomicBool::new(false),
            wake_lock: SpinLock::new(()),
            cpu: AtomicU32::new(cpu.0),
            saved_preempt_count: AtomicU32::new(0),
            slice_ticks: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            percpu_smpboot: AtomicBool::new(false),
            nvcsw: AtomicU64::new(0),
            nivcsw: AtomicU64::new(0),
            runtime: spin_once::Once::new(),
        };
        t.set_affinity(spec.affinity);
        t
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The thread's name.
    pub fn name(&self) -> String {
        self.name.lock().clone()
    }

    /// Renames the thread (kworkers append their current workqueue, as Linux does).
    pub fn set_name(&self, name: impl Into<String>) {
        *self.name.lock() = name.into();
    }

    /// The scheduling class.
    pub fn policy(&self) -> Policy {
        decode_policy(self.policy.load(Ordering::Relaxed))
    }

    /// Changes the scheduling class; takes effect at the next enqueue.
    pub fn set_policy(&self, p: Policy) {
        self.policy.store(encode_policy(p), Ordering::Relaxed);
    }

    /// Where the thread may run.
    pub fn affinity(&self) -> Affinity {
        let c = self.affinity_cpu.load(Ordering::Acquire);
        if c != UNBOUND {
            return Affinity::Bound(CpuId(c));
        }
        let mut m = CpuMask::new();
        for (w, word) in self.affinity_mask.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            while bits != 0 {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                m.set(CpuId(w as u32 * 64 + b));
            }
        }
        Affinity::Unbound(m)
    }

    /// Changes where the thread may run; takes effect at the next wake-up.
    pub fn set_affinity(&self, a: Affinity) {
        match a {
            Affinity::Bound(c) => self.affinity_cpu.store(c.0, Ordering::Release),
            Affinity::Unbound(m) => {
                for (w, word) in self.affinity_mask.iter().enumerate() {
                    let mut v = 0u64;
                    for b in 0..64 {
                        if m.contains(CpuId(w as u32 * 64 + b)) {
                            v |= 1 << b;
                        }
                    }
                    word.store(v, Ordering::Relaxed);
                }
                self.affinity_cpu.store(UNBOUND, Ordering::Release);
            }
        }
    }

    /// The lifecycle state.
    pub fn state(&self) -> ThreadState {
        ThreadState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, s: ThreadState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// The CPU the thread last ran or is queued on.
    pub fn cpu(&self) -> CpuId {
        CpuId(self.cpu.load(Ordering::Acquire))
    }

    pub(crate) fn set_cpu(&self, cpu: CpuId) {
        self.cpu.store(cpu.0, Ordering::Release);
    }

    /// True once `kthread_stop` was called for this thread.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub(crate) fn set_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Marks a per-CPU smpboot thread (`smpboot_register_percpu_thread`): CPU
    /// hotplug parks it with its CPU rather than refusing to offline the CPU.
    pub fn set_percpu_smpboot(&self) {
        self.percpu_smpboot.store(true, Ordering::Release);
    }

    /// True for a per-CPU smpboot thread (see [`Thread::set_percpu_smpboot`]).
    pub fn is_percpu_smpboot(&self) -> bool {
        self.percpu_smpboot.load(Ordering::Acquire)
    }

    /// Voluntary context switches (the thread blocked).
    pub fn nvcsw(&self) -> u64 {
        self.nvcsw.load(Ordering::Relaxed)
    }

    /// Involuntary context switches (the thread was preempted).
    pub fn nivcsw(&self) -> u64 {
        self.nivcsw.load(Ordering::Relaxed)
    }

    pub(crate) fn count_switch(&self, voluntary: bool) {
        if voluntary {
            self.nvcsw.fetch_add(1, Ordering::Relaxed);
        } else {
            self.nivcsw.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True if the thread may run on `cpu`.
    pub fn allowed_on(&self, cpu: CpuId) -> bool {
        match self.affinity() {
            Affinity::Bound(c) => c == cpu,
            Affinity::Unbound(m) => m.contains(cpu),
        }
    }

    /// Runtime-private data (the hosted runtime's parking word and OS thread id).
    /// Set once by the platform in `spawn_thread`.
    pub fn set_runtime_data(&self, data: Arc<dyn Any + Send + Sync>) {
        self.runtime.call_once(|| data);
    }

    /// The runtime-private data, if set.
    pub fn runtime_data(&self) -> Option<&Arc<dyn Any + Send + Sync>> {
        self.runtime.get()
    }
}

const UNBOUND: u32 = u32::MAX;

fn encode_policy(p: Policy) -> u32 {
    match p {
        Policy::Fifo(prio) => 0x100 | prio as u32,
        Policy::Normal(nice) => 0x200 | (nice as u8) as u32,
        Policy::Idle => 0x300,
    }
}

fn decode_policy(v: u32) -> Policy {
    match v >> 8 {
        1 => Policy::Fifo(v as u8),
        2 => Policy::Normal(v as u8 as i8),
        _ => Policy::Idle,
    }
}

/// A minimal set-once cell (no_std, no dependency): the platform sets it once before
/// the thread first runs.
mod spin_once {
    use crate::sync::atomic::{spin_hint, AtomicU8, Ordering};
    use core::cell::UnsafeCell;

    pub struct Once<T> {
        state: AtomicU8,
        val: UnsafeCell<Option<T>>,
    }

    // SAFETY: `val` is written once while `state` goes 0 -> 1 (exclusive by CAS) and only
    // read after `state` is 2 (Acquire), so no read races a write.
    unsafe impl<T: Send + Sync> Sync for Once<T> {}
    // SAFETY: as above; moving the cell moves `T`, which is Send.
    unsafe impl<T: Send> Send for Once<T> {}

    impl<T> Once<T> {
        pub fn new() -> Self {
            Once { state: AtomicU8::new(0), val: UnsafeCell::new(None) }
        }

        pub fn call_once(&self, f: impl FnOnce() -> T) {
            if self.state.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire).is_ok() {
                // SAFETY: the CAS made us the only writer; readers wait for state 2.
                unsafe { *self.val.get() = Some(f()) };
                self.state.store(2, Ordering::Release);
            } else {
                while self.state.load(Ordering::Acquire) != 2 {
                    spin_hint();
                }
            }
        }

        pub fn get(&self) -> Option<&T> {
            if self.state.load(Ordering::Acquire) == 2 {
                // SAFETY: state 2 means the single write finished and is visible.
                unsafe { (*self.val.get()).as_ref() }
            } else {
                None
            }
        }
    }
}
