//! `HostPlatform`: irqkit-core's `Platform` on OS threads, futexes and signals.
//!
//! A virtual CPU is a token: the thread named in its run queue's `curr` holds it and
//! every other machine thread is parked on its own futex word. `switch_to` passes the
//! token: mark the next thread's word, wake it, park on our own.
//!
//! An idle CPU's thread polls, then sleeps on a futex: `idle.rs`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use irqkit_core::cpu::CpuState;
use irqkit_core::platform::ThreadBody;
use irqkit_core::sched::{Policy, Thread, ThreadState};
use irqkit_core::{CpuId, Ipi, IrqError, Platform};

use crate::shared::Shared;
use crate::{futex, signals, thread_ctx, vectors};

/// Runtime data of one kernel thread: its parking word and OS thread id.
pub(crate) struct HostThread {
    /// 1 when the thread has been given a CPU and may run.
    run: AtomicU32,
    /// Which CPU it was given.
    run_cpu: AtomicU32,
    pub(crate) tid: AtomicI32,
    /// An interrupt signal to this thread is in flight (sent, not yet delivered).
    /// At most one is queued per thread, so unblocking never stacks a burst of
    /// signal frames (the kernel delivers every pending unblocked signal at once).
    pub(crate) sig_queued: AtomicBool,
}

impl HostThread {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(HostThread {
            run: AtomicU32::new(0),
            run_cpu: AtomicU32::new(0),
            tid: AtomicI32::new(0),
            sig_queued: AtomicBool::new(false),
        })
    }

    fn of(t: &Thread) -> &HostThread {
        t.runtime_data()
            .and_then(|d| d.downcast_ref::<HostThread>())
            .expect("every machine thread carries HostThread data")
    }

    /// Gives the thread `cpu`; true if it had to be woken from its futex.
    fn grant(&self, cpu: CpuId) -> bool {
        self.run_cpu.store(cpu.0, Ordering::Relaxed);
        // Only a waiter that announced it sleeps in the futex needs the syscall.
        let asleep = self.run.swap(GRANTED, Ordering::AcqRel) == SLEEPING;
        if asleep {
            futex::wake(&self.run, 1);
        }
        asleep
    }

    /// Parks until some CPU is granted; returns it. Spins briefly first: a handoff
    /// between two threads of one CPU usually comes back within a microsecond, and
    /// catching it without a futex sleep saves the host's wake-up latency.
    fn wait_grant(&self) -> CpuId {
        let start = Instant::now();
        let mut i = 0u32;
        while self.run.load(Ordering::Acquire) != GRANTED {
            std::hint::spin_loop();
            i += 1;
            if i.is_multiple_of(16) && start.elapsed() > SPIN_BEFORE_SLEEP {
                break;
            }
        }
        loop {
            match self.run.compare_exchange(WAITING, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) | Err(SLEEPING) => futex::wait(&self.run, SLEEPING),
                Err(_) => {
                    // GRANTED: take it.
                    self.run.store(WAITING, Ordering::Relaxed);
                    return CpuId(self.run_cpu.load(Ordering::Relaxed));
                }
            }
        }
    }
}

/// `HostThread::run` states: not granted, granted, sleeping in the futex.
const WAITING: u32 = 0;
const GRANTED: u32 = 1;
const SLEEPING: u32 = 2;
/// How long `wait_grant` spins before sleeping: long enough to catch a same-CPU
/// handoff round trip, short enough not to steal much host time from running CPUs.
const SPIN_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_micros(3);

pub(crate) fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The `Platform` implementation of the hosted machine.
pub struct HostPlatform {
    pub(crate) shared: Arc<Shared>,
    start: Instant,
    /// [`crate::MachineConfig::idle_poll_ns`].
    idle_poll_ns: u64,
}

impl HostPlatform {
    pub(crate) fn new(shared: Arc<Shared>, idle_poll_ns: u64) -> Self {
        HostPlatform { shared, start: Instant::now(), idle_poll_ns }
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl Platform for HostPlatform {
    #[inline]
    fn current_cpu(&self) -> Option<CpuId> {
        thread_ctx::current_cpu()
    }

    fn current_cpu_fn(&self) -> Option<fn() -> Option<CpuId>> {
        Some(thread_ctx::current_cpu)
    }

    /// A thread preempted at interrupt exit outside a per-CPU access may resume on
    /// another CPU (as Linux's stopper moves it off a CPU going down).
    fn moves_irq_preempted(&self) -> bool {
        true
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn send_ipi(&self, cpu: CpuId, ipi: Ipi) -> Result<(), IrqError> {
        let sys = self.shared.system().ok_or(IrqError::Shutdown)?;
        if ipi == Ipi::Reschedule && !sys.cpu(cpu)?.online() {
            // Takes no interrupt, but the idle thread of an offline CPU still runs
            // the per-CPU threads parked there when they are woken (to stop).
            self.shared.wake_idle(cpu);
            return Err(IrqError::CpuOffline(cpu.0));
        }
        let v = match ipi {
            Ipi::Reschedule => vectors::RESCHEDULE_VECTOR,
            Ipi::CallFunction => vectors::CALL_FUNCTION_VECTOR,
            Ipi::IrqWork => vectors::IRQ_WORK_VECTOR,
        };
        self.shared.raise(&sys, cpu, v)
    }

    fn replay_irqs(&self, cpu: &CpuState) {
        if let Some((sys, shared)) = thread_ctx::machine() {
            shared.replay(sys, cpu);
        }
    }

    fn spawn_thread(
        &self,
        thread: &Arc<Thread>,
        body: ThreadBody,
        exit: ThreadBody,
    ) -> Result<(), IrqError> {
        let host = HostThread::new();
        thread.set_runtime_data(host.clone());
        thread_ctx::with_irqs_masked(|| self.shared.register_host_thread(&host));
        let shared = self.shared.clone();
        let sys = shared.system().ok_or(IrqError::Shutdown)?;
        let name = thread.name();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        // pthread names are limited to 15 bytes: keep the tail, which identifies it.
        let os_name: String = name.chars().take(15).collect();
        // Spawning calls glibc's malloc directly: mask interrupts around it so no
        // handler can land inside that allocation.
        let spawned = thread_ctx::with_irqs_masked(|| {
            std::thread::Builder::new().name(os_name).stack_size(512 * 1024).spawn(move || {
                let _sig = signals::ThreadSignals::setup();
                thread_ctx::bind_machine(&sys, &shared, &host);
                host.tid.store(current_tid(), Ordering::SeqCst);
                let _ = ready_tx.send(());
                let cpu = host.wait_grant();
                thread_ctx::acquire_cpu(&sys, cpu);
                if cfg!(debug_assertions) {
                    let taken = shared.cpus[cpu.index()].occupied.swap(true, Ordering::SeqCst);
                    assert!(!taken, "cpu {cpu:?} granted to a new thread while held");
                }
                shared.after_handoff(&sys, cpu);
                if let Err(p) = catch_unwind(AssertUnwindSafe(body)) {
                    shared.record_panic(name, &*p);
                }
                exit();
                thread_ctx::unbind_machine();
            })
        });
        let handle = spawned.map_err(|_| IrqError::NoSpace("cannot create OS thread"))?;
        let _ = ready_rx.recv();
        thread_ctx::with_irqs_masked(|| {
            self.shared.joins.lock().unwrap_or_else(|e| e.into_inner()).push(handle)
        });
        Ok(())
    }

    fn switch_to(&self, cpu: CpuId, prev: &Arc<Thread>, next: &Arc<Thread>) {
        let ph = HostThread::of(prev);
        let nh = HostThread::of(next);
        if cfg!(debug_assertions) {
            self.shared.cpus[cpu.index()].occupied.store(false, Ordering::SeqCst);
        }
        thread_ctx::release_cpu();
        let np: *const HostThread = nh;
        self.shared.cpus[cpu.index()].holder.store(np.cast_mut(), Ordering::SeqCst);
        // Pairs with `set_pending`'s fence: the next holder's re-check after the grant
        // sees any bit whose raiser read the old holder.
        std::sync::atomic::fence(Ordering::SeqCst);
        let hc = &self.shared.cpus[cpu.index()];
        if next.policy() == Policy::Idle {
            hc.poll_armed.store(true, Ordering::Relaxed);
        }
        if nh.grant(cpu) {
            hc.counters.handoff_wakeups.fetch_add(1, Ordering::Relaxed);
        }
        if prev.state() == ThreadState::Dead {
            return;
        }
        // A signal that hit the masked switch is still blocked on this thread, and
        // its replay is the old CPU's business (its next holder sees the pending
        // word). Unblock it here, off-CPU, where the handler does nothing: kept
        // blocked, it would make this thread deaf on whichever CPU it resumes.
        if thread_ctx::sig_blocked() {
            thread_ctx::set_sig_blocked(false);
            crate::signals::unblock_irq_signal();
        }
        let newcpu = ph.wait_grant();
        if let Some((sys, shared)) = thread_ctx::machine() {
            thread_ctx::acquire_cpu(sys, newcpu);
            if cfg!(debug_assertions) {
                let taken = shared.cpus[newcpu.index()].occupied.swap(true, Ordering::SeqCst);
                assert!(!taken, "cpu {newcpu:?} granted to {} while held", prev.name());
            }
            shared.after_handoff(sys, newcpu);
        }
    }

    fn idle_wait(&self, cpu: CpuId) {
        crate::idle::idle_wait(&self.shared, self.idle_poll_ns, cpu);
    }
}

/// Registers the calling OS thread as the holder of an idle thread (`swapper/N`).
pub(crate) fn adopt_idle(shared: &Shared, t: &Thread) -> Arc<HostThread> {
    let host = HostThread::new();
    host.tid.store(current_tid(), Ordering::SeqCst);
    t.set_runtime_data(host.clone());
    shared.register_host_thread(&host);
    host
}
