//! The built-in workload: per-CPU device lines through the generic IRQ layer with
//! threaded ONESHOT handlers and tasklets, normal threads competing for the CPUs,
//! cross-CPU function calls, and NMIs that defer through irq_work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::irq::{Flags, FlowHandler, IrqReturn};
use irqkit_core::irq_work::IrqWork;
use irqkit_core::sched::{KthreadSpec, Policy};
use irqkit_core::tasklet::Tasklet;
use irqkit_core::{CpuId, CpuMask, IrqError};
use irqkit_hosted::{CpuStats, Machine, MachineConfig};

/// What one run produced.
pub struct DemoResult {
    /// Per-CPU counters, CPU order.
    pub cpus: Vec<CpuStats>,
    /// Kernel threads that ran, with their voluntary/involuntary switch counts.
    pub threads: Vec<(String, u64, u64)>,
    /// `/proc/interrupts` at the end of the run.
    pub proc_interrupts: String,
    /// `/proc/softirqs` at the end of the run.
    pub proc_softirqs: String,
    /// Device interrupts raised by the device side.
    pub raised: u64,
    /// Hard-irq handler runs, threaded-handler runs, tasklet runs, irq_work runs.
    pub hard: u64,
    /// Threaded-handler runs.
    pub threaded: u64,
    /// Tasklet runs.
    pub tasklets: u64,
    /// irq_work runs (queued from NMI).
    pub irq_works: u64,
    /// Cross-CPU calls requested and executed.
    pub calls: (u64, u64),
    /// Wall time of the run.
    pub elapsed: Duration,
}

#[derive(Default)]
struct Counts {
    hard: AtomicU64,
    threaded: AtomicU64,
    tasklets: AtomicU64,
    irq_works: AtomicU64,
    calls: AtomicU64,
}

/// Runs the workload on a `cpus`-CPU machine for `seconds`.
pub fn run(cpus: usize, hz: u32, seconds: f64) -> Result<DemoResult, IrqError> {
    let m = Machine::new(MachineConfig { nr_cpus: cpus, hz, ..Default::default() })?;
    let sys = m.sys().clone();
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));

    // One device line per CPU: hard handler acks and schedules a tasklet, then wakes
    // its irq thread (`irq/N-devC`, FIFO 50); ONESHOT keeps the line masked until the
    // thread is done.
    let mut lines = Vec::new();
    let mut regs = Vec::new();
    for c in 0..cpus {
        let irq = m.create_irq_line(FlowHandler::FastEoi)?;
        sys.irq_set_affinity(irq, &CpuMask::single(CpuId(c as u32)))?;
        let cn = counts.clone();
        let tasklet = Tasklet::new(move |_ctx| {
            cn.tasklets.fetch_add(1, Ordering::Relaxed);
        });
        let (ch, ct, s2) = (counts.clone(), counts.clone(), sys.clone());
        let hard: irqkit_core::irq::HardHandler = Box::new(move |_hard| {
            ch.hard.fetch_add(1, Ordering::Relaxed);
            let _ = tasklet.schedule(&s2);
            IrqReturn::WAKE_THREAD
        });
        let thread: irqkit_core::irq::ThreadHandler = Box::new(move |_task| {
            ct.threaded.fetch_add(1, Ordering::Relaxed);
            IrqReturn::HANDLED
        });
        regs.push(sys.request_threaded_irq(
            irq,
            Some(hard),
            Some(thread),
            Flags::ONESHOT,
            &format!("dev{c}"),
        )?);
        lines.push(irq);
    }
    // Two normal threads per CPU compete for it (nice 0 and nice 5).
    for c in 0..cpus {
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
    // Perf-style sampling: the NMI handler defers its work through irq_work.
    let cw = counts.clone();
    let work = IrqWork::new(move |_sys, _w, _hard| {
        cw.irq_works.fetch_add(1, Ordering::Relaxed);
    });
    m.set_nmi_handler(move |sys, _nmi, _cpu| {
        let _ = sys.irq_work_queue(&work);
    });

    // The device side: raise interrupts, cross-CPU calls and NMIs.
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let (mut raised, mut calls, mut n) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        for irq in &lines {
            if m.raise_irq(*irq).is_ok() {
                raised += 1;
            }
        }
        if n % 4 == 0 {
            let target = CpuId((n / 4 % cpus as u64) as u32);
            let cc = counts.clone();
            let call = m.call_on(target, move |_sys, _hard| {
                cc.calls.fetch_add(1, Ordering::Relaxed);
            });
            calls += call.is_ok() as u64;
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
    let live: Vec<_> = sys.threads().into_iter().filter(|t| t.policy() != Policy::Idle).collect();
    stop.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    let threads = live.iter().map(|t| (t.name(), t.nvcsw(), t.nivcsw())).collect();
    let cpus_stats = (0..cpus).map(|c| m.stats(CpuId(c as u32))).collect::<Result<Vec<_>, _>>()?;
    let proc_interrupts = sys.show_interrupts();
    let proc_softirqs = sys.proc_softirqs();
    drop(regs);
    Ok(DemoResult {
        cpus: cpus_stats,
        threads,
        proc_interrupts,
        proc_softirqs,
        raised,
        hard: counts.hard.load(Ordering::Relaxed),
        threaded: counts.threaded.load(Ordering::Relaxed),
        tasklets: counts.tasklets.load(Ordering::Relaxed),
        irq_works: counts.irq_works.load(Ordering::Relaxed),
        calls: (calls, counts.calls.load(Ordering::Relaxed)),
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_workload_runs_and_its_counts_are_consistent() {
        let r = run(4, 1000, 0.3).unwrap();
        assert_eq!(r.cpus.len(), 4);
        assert!(
            r.cpus.iter().all(|c| c.ticks > 0 && c.switches > 0),
            "every CPU ticked and switched"
        );
        assert_eq!(r.calls.0, r.calls.1, "every cross-CPU call ran");
        assert!(r.hard > 0 && r.hard <= r.raised);
        // ONESHOT: each hard-irq run woke the thread; wake-ups coalesce, never exceed.
        assert!(r.threaded > 0 && r.threaded <= r.hard);
        assert!(r.tasklets > 0 && r.tasklets <= r.hard);
        assert!(r.proc_interrupts.contains("HOST-APIC") && r.proc_interrupts.contains("LOC:"));
        assert!(r.proc_softirqs.contains("TASKLET:"));
        assert!(r.threads.iter().any(|(n, _, _)| n == "irq/1-dev0"));
        assert!(r.threads.iter().any(|(n, _, _)| n == "ksoftirqd/3"));
    }
}
