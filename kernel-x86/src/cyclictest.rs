//! A `cyclictest -t1 -p 80 -i 1000 -l 2000` equivalent on the kernel's own threads.
//!
//! One SCHED_FIFO 80 kernel thread on CPU 0 arms the CPU's high-resolution timer for an
//! absolute deadline every 1000 µs and sleeps on a wait queue; the timer interrupt wakes
//! it; on waking it records `now - deadline` (the wake-up latency: interrupt delivery,
//! handler, wake-up, switch). Like cyclictest, the next deadline is the previous one plus
//! the interval, skipping periods that already passed. The summary line has cyclictest's layout so the two can be
//! compared side by side with `../shared/tools/linux-cyclictest.sh`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use irqkit_core::sched::{KthreadSpec, Policy, WaitQueue};
use irqkit_core::{CpuId, HardIrq, IrqSystem};

use crate::{arch, clockevent, kprintln, lapic, percpu, platform, timer_trace};

const INTERVAL_NS: u64 = 1_000_000;
const LOOPS: u64 = 2_000;
const PRIORITY: u8 = 80;
/// Wait after boot before the first sample (see `run`).
const SETTLE_MS: u64 = 1_000;
const CPU: usize = 0;

struct Sleeper {
    wq: WaitQueue,
    fired: AtomicBool,
}

static SLEEPER: AtomicPtr<Sleeper> = AtomicPtr::new(core::ptr::null_mut());

/// Counters of one sample (or, after [`Worst::since`], what changed during it).
#[derive(Default)]
struct Worst {
    latency: u64,
    timer_irqs: u64,
    ticks: u64,
    early: u64,
    deferred: u64,
    /// Where the CPU was when the (last) timer interrupt of the sample reached it.
    rip: u64,
}

impl Worst {
    fn snapshot(area: &percpu::CpuArea, latency: u64) -> Self {
        Worst {
            latency,
            timer_irqs: area.count(lapic::TIMER_VECTOR),
            ticks: area.ticks.load(Ordering::Relaxed),
            early: clockevent::stats(CPU).early,
            deferred: area.deferred_count.load(Ordering::Relaxed),
            rip: area.timer_entry_rip.load(Ordering::Relaxed),
        }
    }

    fn since(self, before: &Worst) -> Self {
        Worst {
            latency: self.latency,
            timer_irqs: self.timer_irqs - before.timer_irqs,
            ticks: self.ticks - before.ticks,
            early: self.early - before.early,
            deferred: self.deferred - before.deferred,
            rip: self.rip,
        }
    }
}

/// Called from the timer interrupt when `cpu`'s high-resolution timer expired.
pub fn hrtimer_fired(sys: &IrqSystem, cpu: usize, _hardirq: &HardIrq) {
    let p = SLEEPER.load(Ordering::Acquire);
    if cpu != CPU || p.is_null() {
        return;
    }
    // SAFETY: set once from a leaked Box, never freed.
    let s = unsafe { &*p };
    s.fired.store(true, Ordering::Release);
    s.wq.wake_all(sys);
}

/// True if `rip` is just past a `hlt` (0xF4): the interrupt woke a halted CPU, so a
/// late one was late in the emulator, not held off by the guest.
fn after_hlt(rip: u64) -> bool {
    if rip == 0 {
        return false;
    }
    // SAFETY: `rip` is a kernel text address the CPU was executing (saved by the
    // interrupt entry), so the byte before it is mapped, readable kernel text.
    unsafe { core::ptr::read_volatile((rip - 1) as *const u8) == 0xF4 }
}

/// Runs the measurement, prints the summary line and powers off.
pub fn run() -> ! {
    let s: &'static Sleeper =
        Box::leak(Box::new(Sleeper { wq: WaitQueue::new(), fired: AtomicBool::new(false) }));
    SLEEPER.store(s as *const Sleeper as *mut Sleeper, Ordering::Release);
    let sys = platform::system_arc();
    let s2 = sys.clone();
    let spec = KthreadSpec::bound("cyclictest", CpuId(CPU as u32)).policy(Policy::Fifo(PRIORITY));
    let spawned = sys.spawn_kthread(spec, move |task| {
        let (mut min, mut max, mut sum, mut act) = (u64::MAX, 0u64, 0u64, 0u64);
        // Per-sample segments (ns): deadline → timer vector entry → handler → thread.
        let mut segs: [Vec<u32>; 4] = core::array::from_fn(|_| Vec::with_capacity(LOOPS as usize));
        // Start once the machine has settled, as Linux's cyclictest starts seconds
        // after its boot: started at once (53 ms after boot), the first sample took a
        // 4.5–5.5 ms stall in 4 of 10 runs, at a different point of the same path
        // each time, in code every later sample ran in about a microsecond; started a
        // second later, the first sample never did. The emulator's own warm-up, not
        // the path: the hrtimer path still runs for the first time at that sample.
        if irqkit_core::timer::msleep(&s2, task, SETTLE_MS).is_err() {
            kprintln!("cyclictest: msleep refused");
            crate::fail_exit();
        }
        let mut next = lapic::now_ns() + INTERVAL_NS;
        let mut hist = [0u32; 8];
        // The worst sample and what this CPU's timer did during it: whether the timer
        // interrupt came late (host or device) or was held off in the guest.
        let area = percpu::area(CPU);
        let mut worst = Worst::default();
        // Its index and deadline, and the clock events that led to it.
        let (mut worst_index, mut worst_deadline) = (0, 0);
        let mut worst_trace = timer_trace::Trace::default();
        timer_trace::enable();
        let (tsc0, halted0) = (arch::rdtsc(), area.halted_tsc.load(Ordering::Relaxed));
        for i in 0..LOOPS {
            let before = Worst::snapshot(area, 0);
            s.fired.store(false, Ordering::Release);
            clockevent::arm_hrtimer(CPU, next);
            if s.wq.wait_event(&s2, task, || s.fired.load(Ordering::Acquire)).is_err() {
                kprintln!("cyclictest: wait_event refused");
                crate::fail_exit();
            }
            let now = lapic::now_ns();
            act = now.saturating_sub(next);
            // Where the latency went: deadline → timer handler, handler → this thread.
            let at = clockevent::stats(CPU).hr_last_at;
            let entry = lapic::tsc_to_ns(percpu::area(CPU).timer_entry_tsc.load(Ordering::Relaxed));
            let parts = [entry.saturating_sub(next), at.saturating_sub(entry), now.saturating_sub(at), act];
            for (v, p) in segs.iter_mut().zip(parts) {
                v.push(p.min(u32::MAX as u64) as u32);
            }
            if act > worst.latency {
                worst = Worst::snapshot(area, act).since(&before);
                (worst_index, worst_deadline) = (i, next);
                worst_trace = timer_trace::snapshot();
            }
            min = min.min(act);
            max = max.max(act);
            sum += act;
            let b = [50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000]
                .iter()
                .position(|&lim| act < lim)
                .unwrap_or(7);
            hist[b] += 1;
            // cyclictest's rule: periods already missed are skipped, not measured as a
            // cascade of late wake-ups (`while (tsgreater(&now, &next)) tsinc(...)`).
            next += INTERVAL_NS;
            while next <= now {
                next += INTERVAL_NS;
            }
        }
        let us = |ns: u64| ns / 1000;
        // How much of the run the CPU spent halted: what is left is all the guest's
        // own work, so a stall longer than that total cannot be the guest's.
        let ms = |tsc: u64| lapic::tsc_to_ns(lapic::tsc_zero() + tsc) / 1_000_000;
        let halted = area.halted_tsc.load(Ordering::Relaxed) - halted0;
        kprintln!("cyclictest: CPU{CPU} halted {} of {} ms", ms(halted), ms(arch::rdtsc() - tsc0));
        kprintln!(
            "T: 0 (    1) P:{} I:{} C:{:>7} Min:{:>7} Act:{:>5} Avg:{:>5} Max:{:>8}",
            PRIORITY,
            INTERVAL_NS / 1000,
            LOOPS,
            us(min),
            us(act),
            us(sum / LOOPS),
            us(max)
        );
        kprintln!(
            "cyclictest histogram (us): <50 {} <100 {} <200 {} <500 {} <1000 {} <2000 {} <5000 {} more {}",
            hist[0], hist[1], hist[2], hist[3], hist[4], hist[5], hist[6], hist[7]
        );
        for v in segs.iter_mut() {
            v.sort_unstable();
        }
        let q = |v: &Vec<u32>, pct: usize| v[v.len() * pct / 100] / 1000;
        kprintln!(
            "cyclictest breakdown (us, median/p90/max): deadline -> timer vector entry {}/{}/{}, -> handler {}/{}/{}, -> thread {}/{}/{}; total {}/{}/{}; {} early timer interrupts",
            q(&segs[0], 50),
            q(&segs[0], 90),
            segs[0][segs[0].len() - 1] / 1000,
            q(&segs[1], 50),
            q(&segs[1], 90),
            segs[1][segs[1].len() - 1] / 1000,
            q(&segs[2], 50),
            q(&segs[2], 90),
            segs[2][segs[2].len() - 1] / 1000,
            q(&segs[3], 50),
            q(&segs[3], 90),
            segs[3][segs[3].len() - 1] / 1000,
            clockevent::stats(CPU).early
        );
        kprintln!(
            "cyclictest worst sample: {} us; during it {} timer interrupts ({} ticks, {} early), {} held off by the irq mask; the timer interrupt found the CPU at {:#x} ({})",
            worst.latency / 1000,
            worst.timer_irqs,
            worst.ticks,
            worst.early,
            worst.deferred,
            worst.rip,
            if after_hlt(worst.rip) { "halted" } else { "running" }
        );
        kprintln!(
            "cyclictest worst sample's clock events (sample {worst_index}, deadline {} ms after boot; us from that deadline):",
            worst_deadline / 1_000_000
        );
        timer_trace::print("cyclictest trace", worst_deadline, &worst_trace);
        kprintln!(
            "cyclictest: {} timer interrupts on CPU{CPU}: {} ticks, {} timer wake-ups; tick stopped in idle {} times",
            area.count(lapic::TIMER_VECTOR),
            area.ticks.load(Ordering::Relaxed),
            LOOPS,
            clockevent::stats(CPU).tick_stops
        );
        arch::qemu_exit(crate::EXIT_PASS)
    });
    if let Err(e) = spawned {
        kprintln!("cyclictest: spawn failed: {}", e);
        crate::fail_exit();
    }
    // This boot context is swapper/0: idle like the core's `cpu_idle_loop`.
    let me = CpuId(CPU as u32);
    loop {
        platform::idle_once(&sys, me);
    }
}
