//! The built-in workload: ticks, device interrupts waking FIFO threads, normal threads
//! competing for CPUs, cross-CPU function calls and NMIs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::sched::{KthreadSpec, Policy, WaitQueue};
use irqkit_core::{CpuId, IrqError};
use irqkit_hosted::{CpuStats, Machine, MachineConfig};

/// What one run produced.
pub struct DemoResult {
    /// Per-CPU counters, CPU order.
    pub cpus: Vec<CpuStats>,
    /// Kernel threads that ran, with their voluntary/involuntary switch counts.
    pub threads: Vec<(String, u64, u64)>,
    /// Device interrupts raised by the device thread.
    pub raised: u64,
    /// Device interrupts handled.
    pub handled: u64,
    /// FIFO thread wake-ups served.
    pub fifo_runs: u64,
    /// Cross-CPU calls requested and executed.
    pub calls: (u64, u64),
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Device vector of CPU `c`'s simulated device.
fn dev_vector(c: usize) -> u8 {
    0x40 + c as u8
}

/// Runs the workload on a `cpus`-CPU machine for `seconds`.
pub fn run(cpus: usize, hz: u32, seconds: f64) -> Result<DemoResult, IrqError> {
    let m = Machine::new(MachineConfig { nr_cpus: cpus, hz, ..Default::default() })?;
    let stop = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicU64::new(0));
    let fifo_runs = Arc::new(AtomicU64::new(0));
    let calls_done = Arc::new(AtomicU64::new(0));
    let events: Arc<Vec<AtomicU64>> = Arc::new((0..cpus).map(|_| AtomicU64::new(0)).collect());
    let wqs: Arc<Vec<WaitQueue>> = Arc::new((0..cpus).map(|_| WaitQueue::new()).collect());

    for c in 0..cpus {
        // The device's hard-irq handler posts an event and wakes the FIFO thread.
        let (h, ev, wq) = (handled.clone(), events.clone(), wqs.clone());
        m.set_vector_handler(dev_vector(c), move |sys, _hard, cpu| {
            h.fetch_add(1, Ordering::Relaxed);
            ev[cpu.index()].fetch_add(1, Ordering::SeqCst);
            wq[cpu.index()].wake_all(sys);
        })?;
        // One FIFO thread per CPU serves the device (like an irq thread at prio 50).
        let (sys, st, ev, wq, fr) =
            (m.sys().clone(), stop.clone(), events.clone(), wqs.clone(), fifo_runs.clone());
        let spec = KthreadSpec::bound(format!("irq/{}-dev{c}", 40 + c), CpuId(c as u32))
            .policy(Policy::Fifo(50));
        m.spawn(spec, move |task| {
            let mut seen = 0;
            while !st.load(Ordering::SeqCst) {
                let _ = wq[c].wait_event(&sys, task, || {
                    ev[c].load(Ordering::SeqCst) != seen || st.load(Ordering::SeqCst)
                });
                seen = ev[c].load(Ordering::SeqCst);
                fr.fetch_add(1, Ordering::Relaxed);
            }
        })?;
        // Two normal threads per CPU compete for it (nice 0 and nice 5).
        for (i, nice) in [(0, 0i8), (1, 5)] {
            let st = stop.clone();
            let spec = KthreadSpec::bound(format!("worker/{c}:{i}"), CpuId(c as u32))
                .policy(Policy::Normal(nice));
            m.spawn(spec, move |_task| {
                let mut x = 1u64;
                while !st.load(Ordering::SeqCst) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })?;
        }
    }
    m.set_nmi_handler(|_sys, _nmi, _cpu| {});

    // The "device" side: a host thread raising interrupts, IPIs and NMIs.
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut raised = 0u64;
    let mut calls = 0u64;
    let mut n = 0u64;
    while Instant::now() < deadline {
        for c in 0..cpus {
            if m.raise(CpuId(c as u32), dev_vector(c)).is_ok() {
                raised += 1;
            }
        }
        if n % 4 == 0 {
            let target = CpuId((n / 4 % cpus as u64) as u32);
            let cd = calls_done.clone();
            if m.call_on(target, move |_sys, _hard| {
                cd.fetch_add(1, Ordering::Relaxed);
            })
            .is_ok()
            {
                calls += 1;
            }
        }
        if n % 20 == 0 {
            for c in 0..cpus {
                let _ = m.raise_nmi(CpuId(c as u32));
            }
        }
        n += 1;
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = start.elapsed();
    // Sample the threads while they are alive (they leave the registry on exit).
    let live: Vec<_> =
        m.sys().threads().into_iter().filter(|t| t.policy() != Policy::Idle).collect();
    stop.store(true, Ordering::SeqCst);
    for wq in wqs.iter() {
        wq.wake_all(m.sys());
    }
    // Let in-flight work finish before reading the counters.
    std::thread::sleep(Duration::from_millis(20));
    let threads = live.iter().map(|t| (t.name(), t.nvcsw(), t.nivcsw())).collect();
    let cpus_stats = (0..cpus).map(|c| m.stats(CpuId(c as u32))).collect::<Result<Vec<_>, _>>()?;
    Ok(DemoResult {
        cpus: cpus_stats,
        threads,
        raised,
        handled: handled.load(Ordering::Relaxed),
        fifo_runs: fifo_runs.load(Ordering::Relaxed),
        calls: (calls, calls_done.load(Ordering::Relaxed)),
        elapsed,
    })
}
