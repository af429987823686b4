//! Kernel-thread lifecycle: the per-CPU idle threads, `kthread_create` / `kthread_run`,
//! the first switch-in and the exit of a thread, and the stop request.

use alloc::boxed::Box;
use alloc::sync::Arc;

use super::core::Switch;
use super::{Affinity, KthreadSpec, Policy, Thread, ThreadId, ThreadState};
use crate::cpu::{CpuId, Task};
use crate::sync::atomic::Ordering;
use crate::{IrqError, IrqSystem};

impl IrqSystem {
    /// Creates `cpu`'s idle thread (`swapper/N`) and makes it that CPU's current
    /// thread. The runtime then runs [`IrqSystem::cpu_idle_loop`] on it.
    pub fn init_idle(&self, cpu: CpuId) -> Result<Arc<Thread>, IrqError> {
        self.cpu(cpu)?;
        let spec = KthreadSpec {
            name: alloc::format!("swapper/{}", cpu.0),
            policy: Policy::Idle,
            affinity: Affinity::Bound(cpu),
            hooks: None,
        };
        let id = ThreadId(self.sched.next_id.fetch_add(1, Ordering::Relaxed));
        let t = Arc::new(Thread::new(id, &spec, cpu));
        t.set_state(ThreadState::Runnable);
        t.on_cpu.store(true, Ordering::Release);
        self.irqs_off(|| {
            let mut rq = self.sched.rqs[cpu].lock();
            rq.idle = Some(t.clone());
            rq.curr = Some(t.clone());
            drop(rq);
            self.sched.threads.lock().insert(id, t.clone());
        });
        Ok(t)
    }

    fn validate_spec(&self, spec: &KthreadSpec) -> Result<CpuId, IrqError> {
        match spec.policy {
            Policy::Fifo(p) if !(1..=99).contains(&p) => {
                return Err(IrqError::InvalidArgument("FIFO priority must be 1..=99"))
            }
            Policy::Normal(n) if !(-20..=19).contains(&n) => {
                return Err(IrqError::InvalidArgument("nice must be -20..=19"))
            }
            Policy::Idle => return Err(IrqError::InvalidArgument("idle class is reserved")),
            _ => {}
        }
        match spec.affinity {
            Affinity::Bound(c) => {
                self.cpu(c)?;
                Ok(c)
            }
            Affinity::Unbound(m) => m
                .iter()
                .find(|c| c.index() < self.nr_cpus())
                .ok_or(IrqError::InvalidArgument("affinity names no existing cpu")),
        }
    }

    /// `kthread_create`: makes a thread that runs `body` once woken with
    /// [`IrqSystem::wake_up_process`].
    pub fn create_kthread(
        self: &Arc<Self>,
        spec: KthreadSpec,
        body: impl FnOnce(&Task) + Send + 'static,
    ) -> Result<Arc<Thread>, IrqError> {
        if self.sched.shutting_down() {
            return Err(IrqError::Shutdown);
        }
        let cpu = self.validate_spec(&spec)?;
        let id = ThreadId(self.sched.next_id.fetch_add(1, Ordering::Relaxed));
        let t = Arc::new(Thread::new(id, &spec, cpu));
        let sys = self.clone();
        let t2 = t.clone();
        let entry = Box::new(move || {
            sys.kthread_started(&t2);
            body(&Task::entered());
        });
        let sys = self.clone();
        let exit = Box::new(move || sys.kthread_exit());
        self.irqs_off(|| self.sched.threads.lock().insert(id, t.clone()));
        if let Err(e) = self.platform().spawn_thread(&t, entry, exit) {
            self.irqs_off(|| self.sched.threads.lock().remove(&id));
            return Err(e);
        }
        Ok(t)
    }

    /// `kthread_run`: creates and wakes a thread.
    pub fn spawn_kthread(
        self: &Arc<Self>,
        spec: KthreadSpec,
        body: impl FnOnce(&Task) + Send + 'static,
    ) -> Result<Arc<Thread>, IrqError> {
        let t = self.create_kthread(spec, body)?;
        self.wake_up_process(&t);
        Ok(t)
    }

    /// First code a new thread runs after its first switch-in: finish the switch.
    fn kthread_started(&self, t: &Thread) {
        let cpu = self.this_cpu();
        cpu.set_preempt_count(t.saved_preempt_count.load(Ordering::Relaxed));
        self.local_irq_enable();
    }

    /// Ends the calling kernel thread (run by the platform when the body returned or
    /// unwound). Switches away for good; the caller's OS context may then exit.
    fn kthread_exit(&self) {
        self.local_irq_disable();
        let cpu = self.this_cpu();
        cpu.set_preempt_count(0);
        if let Some(me) = self.current_thread() {
            me.set_state(ThreadState::Dead);
            self.sched.threads.lock().remove(&me.id());
        }
        self.__schedule(Switch::Voluntary);
    }

    /// Asks a thread to stop (`kthread_stop` without the wait): sets its stop flag and
    /// wakes it. The body should return when [`Thread::should_stop`] is true.
    pub fn kthread_stop_nowait(&self, t: &Arc<Thread>) {
        t.set_stop();
        self.wake_up_process(t);
    }
}
