//! Runs a scenario on the hosted machine: builds the lines and bottom halves, drives
//! the arrival processes from a device thread, then quiesces and collects the result.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::irq::{Flags, FlowHandler, HardHandler, IrqReturn, Registration, ThreadHandler};
use irqkit_core::irq_work::IrqWork;
use irqkit_core::sched::{KthreadSpec, Policy};
use irqkit_core::tasklet::Tasklet;
use irqkit_core::timer::Timer;
use irqkit_core::workqueue::Work;
use irqkit_core::{CpuId, CpuMask, IrqError};
use irqkit_hosted::gicv2::HostGicV2;
use irqkit_hosted::gicv3::{HostGicV3, GIC_EDGE_RISING, GIC_LEVEL_HIGH};
use irqkit_hosted::x86::{HostX86, PIN_EDGE};
use irqkit_hosted::{CpuStats, Machine, MachineConfig};

use super::devices::{spin_us, DeviceStats};
use super::model::{DeviceSpec, Scenario};
use super::napi::NapiQueue;
use super::trace::{SliceKind, TraceLog};

/// Everything a run produced.
pub struct RunResult {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// Per-device statistics, scenario order.
    pub devices: Vec<(DeviceSpec, Arc<DeviceStats>)>,
    /// Per device, its `/proc/interrupts` total over all CPUs (None for the NMI source).
    pub irq_totals: Vec<Option<u64>>,
    /// Per-CPU counters.
    pub cpus: Vec<CpuStats>,
    /// `/proc/interrupts` at the end.
    pub proc_interrupts: String,
    /// `/proc/softirqs` at the end.
    pub proc_softirqs: String,
    /// The workqueue view (pools, workers, per-workqueue counters) at the end.
    pub wq_dump: String,
    /// Kernel threads with voluntary/involuntary switches.
    pub threads: Vec<(String, u64, u64)>,
    /// Wall time of the device phase.
    pub elapsed: Duration,
    /// The Trace Event document, when tracing was asked for.
    pub trace: Option<serde_json::Value>,
    /// (seconds, per-CPU device-interrupt totals) sampled five times a second.
    pub load_timeline: Vec<(f64, Vec<u64>)>,
    /// Times softirq processing was handed over to `ksoftirqd`, over all CPUs.
    pub ksoftirqd_handoffs: u64,
}

/// Seeded xorshift64*: arrival times replay exactly for one seed.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// When the next interrupt of `d` is due, after one at `t` (seconds).
fn next_arrival(d: &DeviceSpec, t: f64, k: u64, rng: &mut Rng) -> f64 {
    let period = 1.0 / d.rate_hz;
    match d.arrival.as_str() {
        "poisson" => t - (1.0 - rng.next_f64()).ln() * period,
        // Bursts of `burst` back-to-back raises, at the same average rate.
        "burst" if !(k + 1).is_multiple_of(d.burst.max(1) as u64) => t,
        "burst" => t + period * d.burst.max(1) as f64,
        _ => t + period,
    }
}

/// How the device side raises a device's interrupt.
enum Line {
    /// A `HOST-APIC` line (Linux irq number).
    Apic(u32),
    /// A GICv3 SPI (0-based) and its Linux irq number.
    Gic(u32, u32),
    /// An MSI through the ITS (an LPI), by Linux irq number.
    Msi(u32),
    /// A level-triggered GICv3 SPI (a UART): raised high, lowered by the driver.
    GicLevel(u32, u32),
    /// A GICv2 SPI and its Linux irq number.
    Gic2(u32, u32),
    /// An x86 IO-APIC pin and its Linux irq number.
    Pin(u32, u32),
    /// An x86 PCI MSI, by Linux irq number.
    X86Msi(u32),
    /// The NMI source.
    Nmi,
}

impl Line {
    fn virq(&self) -> Option<u32> {
        match self {
            Line::Apic(v)
            | Line::Gic(_, v)
            | Line::GicLevel(_, v)
            | Line::Gic2(_, v)
            | Line::Msi(v)
            | Line::Pin(_, v)
            | Line::X86Msi(v) => Some(*v),
            Line::Nmi => None,
        }
    }
}

/// Builds one device's line, handlers and bottom half.
#[allow(clippy::too_many_arguments)]
fn attach(
    m: &Machine,
    gic2: Option<&HostGicV2>,
    gic: Option<&Arc<HostGicV3>>,
    x86: Option<&HostX86>,
    its: bool,
    index: u32,
    d: &DeviceSpec,
    st: &Arc<DeviceStats>,
) -> Result<(Line, Option<Registration>), IrqError> {
    let sys = m.sys().clone();
    if d.kind == "perf-nmi" {
        let (st2, spec) = (st.clone(), d.clone());
        let work = IrqWork::new(move |sys, _w, _hard| st2.note_bottom(sys, &spec));
        let (st3, hard_cost) = (st.clone(), d.hard_cost_us);
        m.set_nmi_handler(move |sys, _nmi, _cpu| {
            let t0 = sys.now_ns();
            st3.note_entry(t0);
            spin_us(hard_cost);
            st3.note_handoff(sys.now_ns());
            st3.note_queued(sys.irq_work_queue(&work));
            st3.slice(sys, SliceKind::HardIrq, t0);
        });
        return Ok((Line::Nmi, None));
    }
    let (line, irq) = match (gic, x86) {
        (None, None) if gic2.is_some() => {
            let g = gic2.expect("checked");
            let virq = g.map_spi(&sys, index, GIC_EDGE_RISING)?;
            (Line::Gic2(index, virq), virq)
        }
        (None, Some(x)) if d.kind == "nic" => {
            let virq = x.msi_alloc(&sys, 0x10 + index, 1)?;
            (Line::X86Msi(virq), virq)
        }
        (None, Some(x)) => {
            let pin = 4 + index;
            let virq = x.map_pin(&sys, pin, PIN_EDGE)?;
            (Line::Pin(pin, virq), virq)
        }
        (g, _) => match g {
            // NIC queues are PCI devices with MSI-X: one LPI each through the ITS.
            Some(g) if d.kind == "nic" && its => {
                let virq = g.msi_alloc(&sys, 0x10 + index, 1)?;
                (Line::Msi(virq), virq)
            }
            // A UART holds its level line high until its FIFO is read.
            Some(g) if d.level() => {
                let virq = g.map_spi(&sys, index, GIC_LEVEL_HIGH)?;
                (Line::GicLevel(index, virq), virq)
            }
            Some(g) => {
                let virq = g.map_spi(&sys, index, GIC_EDGE_RISING)?;
                (Line::Gic(index, virq), virq)
            }
            None => {
                let flow = if d.level() { FlowHandler::Level } else { FlowHandler::FastEoi };
                let virq = m.create_irq_line(flow)?;
                (Line::Apic(virq), virq)
            }
        },
    };
    let mut mask = CpuMask::new();
    for c in if d.affinity.is_empty() { vec![0] } else { d.affinity.clone() } {
        mask.set(CpuId(c as u32));
    }
    sys.irq_set_affinity(irq, &mask)?;
    let bh = d.bottom_half().to_string();
    let tasklet = (bh == "tasklet").then(|| {
        let (st2, spec, s2) = (st.clone(), d.clone(), sys.clone());
        Tasklet::new(move |_ctx| st2.note_bottom(&s2, &spec))
    });
    let work = (bh == "workqueue").then(|| {
        let (st2, spec) = (st.clone(), d.clone());
        Work::new(move |sys, _w, _task| st2.note_bottom(sys, &spec))
    });
    let napi = (bh == "napi").then(|| NapiQueue::register(&sys, st.clone(), d.clone()));
    // Reading the device lowers a level line (the UART's receive FIFO drains).
    // Like a 16550, the line drops only when the FIFO is empty: data that arrives
    // while the driver reads keeps (or puts) it high, so no level is ever lost.
    let deassert: Option<Arc<dyn Fn() + Send + Sync>> = match (&line, gic) {
        (Line::GicLevel(spi, _), Some(g)) => {
            let (g, spi, st) = (g.clone(), *spi, st.clone());
            Some(Arc::new(move || {
                st.ring.store(0, SeqCst);
                // Reading the FIFO services every raise so far, including one whose
                // interrupt had not been taken yet: it coalesces into this one.
                st.absorb_pending();
                let _ = g.set_spi(spi, false);
                if st.ring.load(SeqCst) > 0 {
                    let _ = g.set_spi(spi, true);
                }
            }))
        }
        _ => None,
    };
    let hard_deassert = if bh == "threaded" { None } else { deassert.clone() };
    // Debounce (gpio-keys): every edge pushes the timer out; it fires once the line
    // has been quiet for DEBOUNCE_JIFFIES and reports the key (TIMER_SOFTIRQ).
    let debounce = (bh == "timer").then(|| {
        let (st2, spec) = (st.clone(), d.clone());
        Timer::new(move |sys, _t, _soft| st2.note_bottom(sys, &spec))
    });
    let (st2, s2, cost) = (st.clone(), sys.clone(), d.hard_cost_us);
    let threaded = bh == "threaded";
    let hard: HardHandler = Box::new(move |_hard| {
        let t0 = s2.now_ns();
        st2.note_entry(t0);
        spin_us(cost);
        if let Some(d) = &hard_deassert {
            d();
        }
        if threaded || tasklet.is_some() || work.is_some() || napi.is_some() || debounce.is_some() {
            st2.note_handoff(s2.now_ns());
        }
        if let Some(t) = &debounce {
            t.modify(&s2, s2.jiffies() + DEBOUNCE_JIFFIES);
        }
        if let Some(q) = &napi {
            q.receive(&s2);
        }
        if let Some(t) = &tasklet {
            st2.note_queued(t.schedule(&s2));
        }
        if let Some(w) = &work {
            // schedule_work: system_percpu_wq, on this CPU's pool.
            st2.note_queued(s2.schedule_work(w));
        }
        st2.slice(&s2, SliceKind::HardIrq, t0);
        if threaded {
            IrqReturn::WAKE_THREAD
        } else {
            IrqReturn::HANDLED
        }
    });
    let thread: Option<ThreadHandler> = threaded.then(|| {
        let (st3, spec, s3, deassert) = (st.clone(), d.clone(), sys.clone(), deassert.clone());
        let t: ThreadHandler = Box::new(move |_task| {
            if let Some(d) = &deassert {
                d();
            }
            st3.note_bottom(&s3, &spec);
            IrqReturn::HANDLED
        });
        t
    });
    let flags = if threaded { Flags::ONESHOT } else { Flags::empty() };
    let reg = sys.request_threaded_irq(irq, Some(hard), thread, flags, &d.name)?;
    Ok((line, Some(reg)))
}

/// gpio-keys' debounce interval, in ticks (about 5 ms at HZ=1000; at least one tick).
const DEBOUNCE_JIFFIES: u64 = 5;

/// Slices kept for `--trace` (about 40 MB of JSON at most).
const TRACE_CAPACITY: usize = 200_000;

/// Runs `sc` and returns its result. `observe` is called about five times a second
/// with the fraction done and the live system; returning `true` ends the run early.
pub fn run(
    sc: &Scenario,
    trace: bool,
    mut observe: impl FnMut(f64, &irqkit_core::IrqSystem) -> bool,
) -> Result<RunResult, IrqError> {
    let log = trace.then(|| Arc::new(TraceLog::new(TRACE_CAPACITY)));
    let m = Machine::new(MachineConfig {
        nr_cpus: sc.machine.cpus,
        hz: sc.machine.hz,
        threadirqs: sc.machine.threadirqs,
        ..Default::default()
    })?;
    let sys = m.sys().clone();
    let stop = Arc::new(AtomicBool::new(false));
    // Background task load: normal threads competing for every CPU.
    for c in 0..sc.machine.cpus {
        for i in 0..sc.run.load_threads_per_cpu {
            let st = stop.clone();
            let spec = KthreadSpec::bound(format!("load/{c}:{i}"), CpuId(c as u32));
            m.spawn(spec, move |_t| {
                while !st.load(SeqCst) {
                    std::hint::spin_loop();
                }
            })?;
        }
    }
    let gic = if sc.machine.arch == "gicv3" { Some(m.attach_gicv3(sc.machine.its)?) } else { None };
    // On a GICv3 the tick is the arch timer's PPI, as on arm64 Linux.
    let _arch_timer = match &gic {
        Some(g) => Some(m.use_gic_arch_timer(g)?),
        None => None,
    };
    let x86 = if sc.machine.arch == "x86" { Some(m.attach_x86()?) } else { None };
    let gic2 = if sc.machine.arch == "gicv2" { Some(m.attach_gicv2()?) } else { None };
    let mut devs = Vec::new();
    let mut regs = Vec::new();
    for (i, d) in sc.devices.iter().enumerate() {
        let st = Arc::new(DeviceStats {
            trace: log.as_ref().map(|l| (l.clone(), i)),
            ..Default::default()
        });
        let (irq, reg) = attach(
            &m,
            gic2.as_deref(),
            gic.as_ref(),
            x86.as_deref(),
            sc.machine.its,
            i as u32,
            d,
            &st,
        )?;
        regs.extend(reg);
        devs.push((d.clone(), st, irq));
    }

    // The device side: one host thread raises every device on its schedule.
    let start = Instant::now();
    let dur = sc.run.duration_s;
    let mut rng = Rng(sc.run.seed.max(1));
    let mut next: Vec<(f64, u64)> = devs.iter().map(|_| (0.0, 0)).collect();
    let mut last_progress = 0.0;
    let mut load_timeline = Vec::new();
    loop {
        let now = start.elapsed().as_secs_f64();
        if now >= dur {
            break;
        }
        if now - last_progress >= 0.2 {
            last_progress = now;
            let per_cpu = (0..sc.machine.cpus)
                .map(|c| m.stats(CpuId(c as u32)).map(|s| s.device_irqs + s.nmis))
                .collect::<Result<Vec<_>, _>>()?;
            load_timeline.push((now, per_cpu));
            if observe(now / dur, &sys) {
                break;
            }
        }
        let (i, due) = next
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (i, *t))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one device");
        if due > now {
            let wait = due - now;
            if wait > 200e-6 {
                std::thread::sleep(Duration::from_secs_f64(wait - 100e-6));
            }
            continue;
        }
        let (d, st, irq) = &devs[i];
        let k = next[i].1;
        if now - due > 0.010 {
            // More than 10 ms behind: the host cannot keep up; drop rather than hang.
            st.dropped.fetch_add(1, SeqCst);
        } else {
            st.note_raise(sys.now_ns());
            match irq {
                Line::Apic(irq) => m.raise_irq(*irq)?,
                Line::Msi(virq) => gic.as_ref().expect("gic attached").msi_write(*virq)?,
                Line::X86Msi(virq) => x86.as_ref().expect("x86 attached").msi_write(&sys, *virq)?,
                Line::Gic2(spi, _) => {
                    let g = gic2.as_ref().expect("gicv2 attached");
                    g.set_spi(*spi, true)?;
                    g.set_spi(*spi, false)?;
                }
                Line::Pin(pin, _) => {
                    let x = x86.as_ref().expect("x86 attached");
                    x.set_pin(*pin, true)?;
                    x.set_pin(*pin, false)?;
                }
                Line::GicLevel(spi, _) => {
                    gic.as_ref().expect("gic attached").set_spi(*spi, true)?;
                }
                Line::Gic(spi, _) => {
                    // An edge: the distributor latches it as pending.
                    let g = gic.as_ref().expect("gic attached");
                    g.set_spi(*spi, true)?;
                    g.set_spi(*spi, false)?;
                }
                Line::Nmi => {
                    let cpus = if d.affinity.is_empty() { vec![0] } else { d.affinity.clone() };
                    m.raise_nmi(CpuId(cpus[k as usize % cpus.len()] as u32))?;
                }
            }
        }
        next[i] = (next_arrival(d, due, k, &mut rng), k + 1);
    }
    let elapsed = start.elapsed();
    // Quiesce: every started interrupt and bottom half finishes (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && devs.iter().any(|(d, st, _)| {
            let counted = matches!(d.bottom_half(), "tasklet" | "workqueue" | "irq_work");
            st.lost() > 0
                || st.bh_ts.load(SeqCst) != 0
                || (counted && st.bh_runs.load(SeqCst) != st.bh_queued.load(SeqCst))
        })
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let live: Vec<_> = sys.threads().into_iter().filter(|t| t.policy() != Policy::Idle).collect();
    stop.store(true, SeqCst);
    let threads = live.iter().map(|t| (t.name(), t.nvcsw(), t.nivcsw())).collect();
    let cpus = (0..sc.machine.cpus).map(|c| m.stats(CpuId(c as u32))).collect::<Result<_, _>>()?;
    let irq_totals = devs
        .iter()
        .map(|(_, _, line)| {
            line.virq().map(|i| {
                (0..sc.machine.cpus).map(|c| sys.kstat_irqs_cpu(i, CpuId(c as u32)) as u64).sum()
            })
        })
        .collect();
    let proc_interrupts = sys.show_interrupts();
    let proc_softirqs = sys.proc_softirqs();
    let wq_dump = sys.wq_dump();
    let ksoftirqd_handoffs =
        (0..sc.machine.cpus).map(|c| sys.softirq_handoffs(CpuId(c as u32))).sum();
    drop(regs);
    NapiQueue::unregister_all(&sys);
    let names: Vec<String> = sc.devices.iter().map(|d| d.name.clone()).collect();
    let trace = log.map(|l| l.to_json(&names, sc.machine.cpus));
    Ok(RunResult {
        ksoftirqd_handoffs,
        trace,
        load_timeline,
        scenario: sc.clone(),
        devices: devs.into_iter().map(|(d, st, _)| (d, st)).collect(),
        irq_totals,
        cpus,
        proc_interrupts,
        proc_softirqs,
        wq_dump,
        threads,
        elapsed,
    })
}
