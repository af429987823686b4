//! Text rendering of a run: per-CPU counters in `/proc/interrupts`-like columns.

use std::fmt::Write;

use crate::demo::DemoResult;

/// Reads one counter out of a CPU's stats.
type Counter = fn(&irqkit_hosted::CpuStats) -> u64;

/// Renders the report printed by `irqkit` after a run.
pub fn render(r: &DemoResult) -> String {
    let mut s = String::new();
    let n = r.cpus.len();
    let _ = writeln!(s, "irqkit hosted machine: {n} CPUs, ran {:.2} s\n", r.elapsed.as_secs_f64());
    let _ = write!(s, "{:>24}", "");
    for c in 0..n {
        let _ = write!(s, "{:>12}", format!("CPU{c}"));
    }
    s.push('\n');
    let rows: [(&str, Counter); 9] = [
        ("ticks (LOC)", |c| c.ticks),
        ("device irqs", |c| c.device_irqs),
        ("resched IPIs (RES)", |c| c.resched_ipis),
        ("call IPIs (CAL)", |c| c.call_ipis),
        ("NMIs (NMI)", |c| c.nmis),
        ("context switches", |c| c.switches),
        ("involuntary preempt", |c| c.preemptions),
        ("spurious entries", |c| c.spurious_entries),
        ("unhandled vectors", |c| c.unhandled),
    ];
    for (name, f) in rows {
        let _ = write!(s, "{name:>24}");
        for c in &r.cpus {
            let _ = write!(s, "{:>12}", f(c));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\ndevice interrupts: {} raised; {} hard-irq handler runs, {} threaded-handler runs, {} tasklet runs",
        r.raised, r.hard, r.threaded, r.tasklets
    );
    let _ = writeln!(
        s,
        "(raises coalesce while a ONESHOT line is masked or a tasklet is queued, as in hardware)"
    );
    let _ = writeln!(s, "irq_work runs deferred from NMI: {}", r.irq_works);
    let _ = writeln!(s, "cross-CPU calls: {} sent, {} ran", r.calls.0, r.calls.1);
    let _ = writeln!(s, "\n/proc/interrupts\n{}", r.proc_interrupts);
    let _ = writeln!(s, "/proc/softirqs\n{}", r.proc_softirqs);
    let _ = writeln!(s, "\n{:<20}{:>12}{:>14}", "kernel thread", "voluntary", "involuntary");
    let mut threads = r.threads.clone();
    threads.sort();
    for (name, v, i) in threads {
        let _ = writeln!(s, "{name:<20}{v:>12}{i:>14}");
    }
    s
}
