//! `Thread`: a kernel thread's scheduling identity — name, class, affinity, state.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;
use core::fmt;

use once_cell::race::OnceBox;

use crate::cpu::{CpuId, CpuMask};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use crate::sync::SpinLock;

use super::{Affinity, KthreadSpec, Policy, SchedHooks, ThreadId, ThreadState};

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
    /// Switched out by preemption at interrupt exit inside a pinned per-CPU access
    /// (`cpu::pin`: between finding its CPU and using that CPU's state, such as the
    /// soft irq mask or the preempt count), or on a platform without pin marks, so it
    /// resumes on that CPU. Any later switch clears it; only then may it migrate.
    pub(crate) irq_preempted: AtomicBool,
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
    runtime: OnceBox<Arc<dyn Any + Send + Sync>>,
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
            irq_preempted: AtomicBool::new(false),
            wake_lock: SpinLock::new(()),
            cpu: AtomicU32::new(cpu.0),
            saved_preempt_count: AtomicU32::new(0),
            slice_ticks: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            percpu_smpboot: AtomicBool::new(false),
            nvcsw: AtomicU64::new(0),
            nivcsw: AtomicU64::new(0),
            runtime: OnceBox::new(),
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

    /// True if the thread was last preempted at interrupt exit inside a pinned per-CPU
    /// access (or on a platform without pin marks) and has not switched since: it may
    /// not migrate yet.
    pub fn pinned_by_irq_preemption(&self) -> bool {
        self.irq_preempted.load(Ordering::Relaxed)
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
        // A second call keeps the first value, as the contract says it never comes.
        let _ = self.runtime.set(Box::new(data));
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
