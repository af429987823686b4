//! `Shared`: the runtime state every machine thread and raiser sees.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;

use crossbeam_utils::CachePadded;
use irqkit_core::sync::SpinLock;
use irqkit_core::{CpuId, HardIrq, IrqError, IrqSystem, Nmi};

use crate::hostcpu::HostCpu;
use crate::platform::HostThread;
use crate::publish::Published;
use crate::thread_ctx;

/// A device-vector handler: runs in hard-irq context on the CPU that took the vector.
pub type VectorHandler = Arc<dyn Fn(&IrqSystem, &HardIrq, CpuId) + Send + Sync>;
/// An NMI handler: must not allocate or take locks (it ignores the soft mask).
pub type NmiHandler = Box<dyn Fn(&IrqSystem, &Nmi, CpuId) + Send + Sync>;
/// A function run on a CPU in hard-irq context through the call-function IPI.
pub type CallFn = Box<dyn FnOnce(&IrqSystem, &HardIrq) + Send>;
/// Called on every tick of every CPU, in hard-irq context.
pub type TickHook = Arc<dyn Fn(&IrqSystem, &HardIrq, CpuId) + Send + Sync>;

/// Fires the tick on a CPU through a controller line.
pub(crate) type TickSource = Arc<dyn Fn(CpuId) + Send + Sync>;

/// A kernel thread that panicked: its name and the panic message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KthreadPanic {
    /// The kernel thread's name (`irq/33-eth0`, `run_on/1`, ...).
    pub thread: String,
    /// The panic message.
    pub message: String,
}

pub(crate) struct Shared {
    pub(crate) cpus: Box<[CachePadded<HostCpu>]>,
    pub(crate) pid: i32,
    pub(crate) sys: OnceLock<Weak<IrqSystem>>,
    /// Device-vector handlers, read by the entry without a lock (`publish.rs`).
    pub(crate) handlers: Box<[Published<VectorHandler>]>,
    /// The NMI handler; replaced ones live until machine drop (an NMI may run one).
    pub(crate) nmi_handler: Published<NmiHandler>,
    pub(crate) calls: Box<[SpinLock<VecDeque<CallFn>>]>,
    /// Copy-on-write: the tick clones the `Arc` (no allocation on the hard-irq path);
    /// adding a hook builds a new list.
    pub(crate) tick_hooks: SpinLock<Arc<Vec<TickHook>>>,
    pub(crate) panics: Mutex<Vec<KthreadPanic>>,
    pub(crate) joins: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) stopping: AtomicBool,
    /// Every host thread ever made, kept until the machine drops so that a raiser
    /// holding a stale `holder` pointer never reads freed memory.
    pub(crate) host_threads: Mutex<Vec<Arc<HostThread>>>,
    /// `/proc/interrupts` arch rows in arm64's style (IPI0..IPI6, Err) once a GIC is
    /// attached; x86's (NMI, LOC, ...) otherwise.
    pub(crate) arm64_rows: AtomicBool,
    /// Fires the tick on a CPU through a controller's timer line instead of the LOC
    /// vector (the GIC's arch timer PPI). Only the tick thread reads it.
    pub(crate) tick_source: Mutex<Option<TickSource>>,
}

impl Shared {
    pub(crate) fn new(nr_cpus: usize) -> Self {
        Shared {
            cpus: (0..nr_cpus).map(|_| CachePadded::new(HostCpu::new())).collect(),
            // SAFETY: getpid has no preconditions.
            pid: unsafe { libc::getpid() },
            sys: OnceLock::new(),
            handlers: (0..256).map(|_| Published::new()).collect(),
            nmi_handler: Published::new(),
            calls: (0..nr_cpus).map(|_| SpinLock::new(VecDeque::new())).collect(),
            tick_hooks: SpinLock::new(Arc::new(Vec::new())),
            panics: Mutex::new(Vec::new()),
            joins: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            host_threads: Mutex::new(Vec::new()),
            arm64_rows: AtomicBool::new(false),
            tick_source: Mutex::new(None),
        }
    }

    /// The system, for threads that start running on the machine.
    pub(crate) fn system(&self) -> Option<Arc<IrqSystem>> {
        self.sys.get().and_then(|w| w.upgrade())
    }

    pub(crate) fn hc(&self, cpu: CpuId) -> Result<&HostCpu, IrqError> {
        self.cpus.get(cpu.index()).map(|c| &**c).ok_or(IrqError::NotFound("no such cpu"))
    }

    /// Records a contained kernel-thread panic (task context).
    pub(crate) fn record_panic(&self, thread: String, payload: &(dyn std::any::Any + Send)) {
        let message = crate::platform::panic_message(payload);
        thread_ctx::with_irqs_masked(|| {
            self.panics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(KthreadPanic { thread, message })
        });
    }

    pub(crate) fn register_host_thread(&self, h: &Arc<HostThread>) {
        self.host_threads.lock().unwrap_or_else(|e| e.into_inner()).push(h.clone());
    }

    /// Raises vector `v` on `cpu`.
    pub(crate) fn raise(&self, sys: &IrqSystem, cpu: CpuId, v: u8) -> Result<(), IrqError> {
        let hc = self.hc(cpu)?;
        if !sys.cpu(cpu)?.online() {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        hc.set_pending(v);
        self.kick(sys, cpu, false);
        Ok(())
    }

    /// `balance_push` for a CPU going offline: asks the thread running there to
    /// reschedule (the scheduler then switches it out for migration). Unlike
    /// [`Shared::raise`] this reaches an offline CPU.
    pub(crate) fn push_off(&self, sys: &IrqSystem, cpu: CpuId) -> Result<(), IrqError> {
        let hc = self.hc(cpu)?;
        sys.cpu(cpu)?.set_need_resched(true);
        hc.set_pending(crate::vectors::RESCHEDULE_VECTOR);
        self.kick(sys, cpu, false);
        Ok(())
    }

    /// Queues `f` for `cpu`'s call-function interrupt and raises it.
    pub(crate) fn call_on(&self, sys: &IrqSystem, cpu: CpuId, f: CallFn) -> Result<(), IrqError> {
        let calls = self.calls.get(cpu.index()).ok_or(IrqError::NotFound("no such cpu"))?;
        thread_ctx::with_irqs_masked(|| calls.lock().push_back(f));
        self.raise(sys, cpu, crate::vectors::CALL_FUNCTION_VECTOR)
    }

    /// Wakes `cpu`'s idle thread from its idle or dead sleep (it re-checks why it
    /// sleeps: the CPU came online, or the machine stops).
    pub(crate) fn wake_idle(&self, cpu: CpuId) {
        if let Ok(hc) = self.hc(cpu) {
            hc.idle_seq.fetch_add(1, Ordering::SeqCst);
            crate::futex::wake(&hc.idle_seq, 1);
        }
    }

    /// Raises an NMI on `cpu`.
    pub(crate) fn raise_nmi(&self, sys: &IrqSystem, cpu: CpuId) -> Result<(), IrqError> {
        let hc = self.hc(cpu)?;
        if !sys.cpu(cpu)?.online() {
            return Err(IrqError::CpuOffline(cpu.0));
        }
        hc.nmi_pending.fetch_add(1, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        self.kick(sys, cpu, true);
        Ok(())
    }

    /// Gets `cpu`'s attention: deliver locally, wake it if idle, else signal its holder.
    fn kick(&self, sys: &IrqSystem, cpu: CpuId, nmi: bool) {
        let hc = &self.cpus[cpu.index()];
        if thread_ctx::current_cpu() == Some(cpu) {
            let cs = sys.cpu(cpu).expect("cpu exists");
            if nmi && !cs.in_nmi() {
                self.drain_nmi(sys, cpu);
                return;
            }
            // A self-IPI: taken as soon as this CPU has interrupts enabled.
            cs.set_irq_deferred(true);
            if !cs.irqs_disabled() {
                self.replay(sys, cs);
            }
            return;
        }
        // Polling: it sees our bit (set before our fence) without help.
        if hc.polling.load(Ordering::SeqCst) {
            return;
        }
        if hc.idle.load(Ordering::SeqCst) {
            self.wake_idle(cpu);
            return;
        }
        let holder = hc.holder.load(Ordering::SeqCst);
        if holder.is_null() {
            return;
        }
        // SAFETY: holders are registered in `host_threads`, alive until drop.
        let holder = unsafe { &*holder };
        if nmi || !holder.sig_queued.swap(true, Ordering::SeqCst) {
            crate::signals::send(self.pid, holder.tid.load(Ordering::SeqCst), nmi);
        }
    }

    /// Runs the NMIs pending on `cpu` (in NMI context: the soft mask is ignored).
    pub(crate) fn drain_nmi(&self, sys: &IrqSystem, cpu: CpuId) {
        let hc = &self.cpus[cpu.index()];
        let n = hc.nmi_pending.swap(0, Ordering::SeqCst);
        for _ in 0..n {
            let Ok(tok) = sys.nmi_enter() else { return };
            crate::hostcpu::bump(&hc.counters.nmis);
            if let Some(h) = self.nmi_handler.get() {
                h(sys, &tok, cpu);
            }
            sys.nmi_exit(tok);
        }
    }
}
