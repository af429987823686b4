//! Self-test of the context switch: irqkit-core kernel threads on every CPU.
//!
//! - `ticker/N` (SCHED_FIFO 50, bound to CPU N) sleeps on a wait queue that CPU N's
//!   timer interrupt wakes, [`TICK_ROUNDS`] times. On a busy CPU (the bootstrap CPU
//!   spinning in the test) the switch happens by preemption at interrupt return; on an
//!   idle CPU, from the idle loop after the deferred tick is replayed.
//! - `ping`/`pong` (SCHED_FIFO 40, on the first and last CPU — the same one with
//!   `-smp 1`) hand a counter back and forth [`PING_PONG_ROUNDS`] times through two
//!   wait queues: sleeps and cross-CPU wake-ups between two kernel threads.
//!
//! Every thread checks it runs on its CPU in task context with preempt count 0; each
//! ticker also takes a #UD on its CPU (recovered by the exception table) to show every
//! CPU's IDT and exception IST work from a kernel thread's stack. Then they return
//! (exercising `kthread_exit`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use irqkit_core::sched::{KthreadSpec, Policy, WaitQueue};
use irqkit_core::{CpuId, HardIrq, IrqSystem};

use crate::{ex_table, percpu, traps};

/// Wake-ups each `ticker/N` waits for.
pub const TICK_ROUNDS: u64 = 5;
/// Round trips of the ping-pong pair.
pub const PING_PONG_ROUNDS: u64 = 100;

struct State {
    armed: AtomicBool,
    tick_wq: Vec<WaitQueue>,
    tick_seq: Vec<AtomicU64>,
    ping_wq: WaitQueue,
    pong_wq: WaitQueue,
    ball: AtomicU64,
    done: AtomicU64,
    bad: AtomicBool,
}

static STATE: AtomicPtr<State> = AtomicPtr::new(core::ptr::null_mut());

fn state() -> Option<&'static State> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: set once from a leaked Box, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Called from every timer interrupt: wakes this CPU's ticker once armed.
pub fn on_tick(sys: &IrqSystem, cpu: usize, _hardirq: &HardIrq) {
    let Some(st) = state() else { return };
    if st.armed.load(Ordering::Acquire) && cpu < st.tick_seq.len() {
        st.tick_seq[cpu].fetch_add(1, Ordering::AcqRel);
        st.tick_wq[cpu].wake_all(sys);
    }
}

fn check_context(sys: &IrqSystem, st: &State, cpu: usize) {
    if percpu::this_cpu() != cpu || !sys.in_task() || sys.preempt_count() != 0 {
        st.bad.store(true, Ordering::Relaxed);
    }
}

/// Raises #UD from this kernel thread (on this CPU's exception IST) and checks that it
/// was reported here and recovered through the exception table.
fn fault_on_this_cpu(cpu: usize) -> bool {
    let r = traps::report(cpu);
    let before = r.count.load(Ordering::Acquire);
    // SAFETY: ud2 faults; the exception table resumes at label 3.
    unsafe { core::arch::asm!("2: ud2", "3:", ex_table!("2b", "3b")) };
    r.count.load(Ordering::Acquire) == before + 1
        && r.vector.load(Ordering::Relaxed) == 6
        && r.fixed_up.load(Ordering::Relaxed) == 1
}

/// Spawns the threads; returns the `done` mask that means every thread finished.
pub fn start(n: usize) -> Result<u64, irqkit_core::IrqError> {
    let st = Box::leak(Box::new(State {
        armed: AtomicBool::new(false),
        tick_wq: (0..n).map(|_| WaitQueue::new()).collect(),
        tick_seq: (0..n).map(|_| AtomicU64::new(0)).collect(),
        ping_wq: WaitQueue::new(),
        pong_wq: WaitQueue::new(),
        ball: AtomicU64::new(0),
        done: AtomicU64::new(0),
        bad: AtomicBool::new(false),
    }));
    STATE.store(st, Ordering::Release);
    let st: &'static State = st;
    let sys = crate::platform::system_arc();
    for cpu in 0..n {
        let s2 = sys.clone();
        let spec = KthreadSpec::bound(alloc::format!("ticker/{cpu}"), CpuId(cpu as u32))
            .policy(Policy::Fifo(50));
        sys.spawn_kthread(spec, move |task| {
            for round in 1..=TICK_ROUNDS {
                if st.tick_wq[cpu]
                    .wait_event(&s2, task, || st.tick_seq[cpu].load(Ordering::Acquire) >= round)
                    .is_err()
                {
                    st.bad.store(true, Ordering::Relaxed);
                }
                check_context(&s2, st, cpu);
            }
            if !fault_on_this_cpu(cpu) {
                st.bad.store(true, Ordering::Relaxed);
            }
            st.done.fetch_or(1 << cpu, Ordering::AcqRel);
        })?;
    }
    let (first, last) = (0, n - 1);
    let s2 = sys.clone();
    let spec = KthreadSpec::bound("ping", CpuId(first as u32)).policy(Policy::Fifo(40));
    sys.spawn_kthread(spec, move |task| {
        for i in 0..PING_PONG_ROUNDS {
            st.ball.store(2 * i + 1, Ordering::Release);
            st.pong_wq.wake_all(&s2);
            if st
                .ping_wq
                .wait_event(&s2, task, || st.ball.load(Ordering::Acquire) == 2 * i + 2)
                .is_err()
            {
                st.bad.store(true, Ordering::Relaxed);
            }
            check_context(&s2, st, first);
        }
        st.done.fetch_or(1 << 62, Ordering::AcqRel);
    })?;
    let s2 = sys.clone();
    let spec = KthreadSpec::bound("pong", CpuId(last as u32)).policy(Policy::Fifo(40));
    sys.spawn_kthread(spec, move |task| {
        for i in 0..PING_PONG_ROUNDS {
            if st
                .pong_wq
                .wait_event(&s2, task, || st.ball.load(Ordering::Acquire) == 2 * i + 1)
                .is_err()
            {
                st.bad.store(true, Ordering::Relaxed);
            }
            check_context(&s2, st, last);
            st.ball.store(2 * i + 2, Ordering::Release);
            st.ping_wq.wake_all(&s2);
        }
        st.done.fetch_or(1 << 63, Ordering::AcqRel);
    })?;
    st.armed.store(true, Ordering::Release);
    Ok(((1u64 << n) - 1) | 1 << 62 | 1 << 63)
}

/// The threads' finished mask so far.
pub fn done() -> u64 {
    state().map_or(0, |s| s.done.load(Ordering::Acquire))
}

/// True if any thread saw the wrong CPU or context, or a wait failed.
pub fn saw_bad_context() -> bool {
    state().is_some_and(|s| s.bad.load(Ordering::Relaxed))
}

/// Runs the idle loop's switch path on the calling CPU (its idle thread): a thread is
/// woken here with interrupts masked, so no interrupt-return preemption can run it and
/// only `idle_once`'s own check does. True if the thread ran before `idle_once` returned.
pub fn idle_runs_a_thread_queued_while_masked(cpu: usize) -> bool {
    static RAN: AtomicBool = AtomicBool::new(false);
    let sys = crate::platform::system_arc();
    let spec = KthreadSpec::bound("idle-probe", CpuId(cpu as u32));
    sys.local_irq_disable();
    let spawned = sys.spawn_kthread(spec, |_| RAN.store(true, Ordering::Release)).is_ok();
    let queued = sys.nr_queued(CpuId(cpu as u32)) > 0;
    crate::platform::idle_once(&sys, CpuId(cpu as u32));
    spawned && queued && RAN.load(Ordering::Acquire)
}
