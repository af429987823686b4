//! The report of a run: per-device counts and latency percentiles, per-CPU counters,
//! `/proc/interrupts`, `/proc/softirqs`, kernel threads — as text or JSON.

use std::fmt::Write;
use std::sync::atomic::Ordering::SeqCst;

use serde_json::{json, Value};

use super::histogram::AtomicHistogram;
use super::run::RunResult;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn pcts(h: &AtomicHistogram) -> Value {
    json!({
        "count": h.count(),
        "p50_us": us(h.quantile(0.5)),
        "p90_us": us(h.quantile(0.9)),
        "p99_us": us(h.quantile(0.99)),
        "max_us": us(h.max()),
    })
}

/// The run as a JSON value (for `--json`).
pub fn to_json(r: &RunResult) -> Value {
    let devices: Vec<Value> = r
        .devices
        .iter()
        .zip(&r.irq_totals)
        .map(|((d, st), total)| {
            json!({
                "proc_interrupts_total": total,
                "name": d.name, "kind": d.kind, "bottom_half": d.bottom_half(),
                "raised": st.raised.load(SeqCst), "coalesced": st.coalesced.load(SeqCst),
                "dropped": st.dropped.load(SeqCst), "handled": st.consumed.load(SeqCst),
                "spurious_entries": st.spurious.load(SeqCst), "lost": st.lost(),
                "bottom_half_runs": st.bh_runs.load(SeqCst),
                "raise_to_hardirq": pcts(&st.lat_entry),
                "hardirq_to_bottom_half": pcts(&st.lat_bh),
            })
        })
        .collect();
    let cpus: Vec<Value> = r
        .cpus
        .iter()
        .map(|c| {
            json!({
                "ticks": c.ticks, "device_irqs": c.device_irqs, "resched_ipis": c.resched_ipis,
                "call_ipis": c.call_ipis, "irq_work_ipis": c.irq_work_ipis, "nmis": c.nmis,
                "switches": c.switches, "preemptions": c.preemptions,
            })
        })
        .collect();
    let handled: u64 = r.devices.iter().map(|(_, st)| st.consumed.load(SeqCst)).sum();
    json!({
        "elapsed_s": r.elapsed.as_secs_f64(),
        "interrupts_per_s": handled as f64 / r.elapsed.as_secs_f64(),
        "lost": r.devices.iter().map(|(_, st)| st.lost()).sum::<u64>(),
        "ksoftirqd_handoffs": r.ksoftirqd_handoffs,
        "devices": devices,
        "cpus": cpus,
        "proc_interrupts": r.proc_interrupts,
        "proc_softirqs": r.proc_softirqs,
        "workqueues": r.wq_dump,
        "threads": r.threads.iter().map(|(n, v, i)| json!({"name": n, "voluntary": v, "involuntary": i})).collect::<Vec<_>>(),
    })
}

const LAT_ENTRY: &str = "raise→hardirq µs p50/p90/p99/max";
const LAT_BH: &str = "hardirq→bh µs p50/p90/p99/max";

/// The human report.
pub fn render(r: &RunResult) -> String {
    let mut s = String::new();
    let m = &r.scenario.machine;
    let _ = writeln!(
        s,
        "irqkit: {} CPUs on {}, HZ={}{}, {:.2} s\n",
        m.cpus,
        m.arch,
        m.hz,
        if m.threadirqs { ", threadirqs" } else { "" },
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "{:<10} {:<12} {:<9} {:>8} {:>8} {:>8} {:>6}   {:<31} {}",
        "device", "kind", "bh", "raised", "handled", "coalesc", "lost", LAT_ENTRY, LAT_BH
    );
    let q = |h: &AtomicHistogram| {
        if h.count() == 0 {
            "-".to_string()
        } else {
            format!(
                "{:.1}/{:.1}/{:.1}/{:.1}",
                us(h.quantile(0.5)),
                us(h.quantile(0.9)),
                us(h.quantile(0.99)),
                us(h.max())
            )
        }
    };
    let mut dropped = 0;
    for (d, st) in &r.devices {
        dropped += st.dropped.load(SeqCst);
        let _ = writeln!(
            s,
            "{:<10} {:<12} {:<9} {:>8} {:>8} {:>8} {:>6}   {:<31} {}",
            d.name,
            d.kind,
            d.bottom_half(),
            st.raised.load(SeqCst),
            st.consumed.load(SeqCst),
            st.coalesced.load(SeqCst),
            st.lost(),
            q(&st.lat_entry),
            q(&st.lat_bh)
        );
    }
    let handled: u64 = r.devices.iter().map(|(_, st)| st.consumed.load(SeqCst)).sum();
    let _ = writeln!(
        s,
        "\n{:.0} interrupts/s handled; lost: {}",
        handled as f64 / r.elapsed.as_secs_f64(),
        r.devices.iter().map(|(_, st)| st.lost()).sum::<u64>()
    );
    let _ = writeln!(s, "softirq hand-offs to ksoftirqd: {}", r.ksoftirqd_handoffs);
    if dropped > 0 {
        let _ = writeln!(
            s,
            "WARNING: the host could not keep up with the requested rates: {dropped} raises dropped"
        );
    }
    let _ = write!(s, "\n{:>22}", "");
    for c in 0..r.cpus.len() {
        let _ = write!(s, "{:>10}", format!("CPU{c}"));
    }
    s.push('\n');
    type Counter = fn(&irqkit_hosted::CpuStats) -> u64;
    let rows: [(&str, Counter); 7] = [
        ("ticks", |c| c.ticks),
        ("resched IPIs (RES)", |c| c.resched_ipis),
        ("irq_work IPIs (IWI)", |c| c.irq_work_ipis),
        ("NMIs", |c| c.nmis),
        ("device interrupts", |c| c.device_irqs),
        ("context switches", |c| c.switches),
        ("involuntary preempt", |c| c.preemptions),
    ];
    for (name, f) in rows {
        let _ = write!(s, "{name:>22}");
        for c in &r.cpus {
            let _ = write!(s, "{:>10}", f(c));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\n/proc/interrupts\n{}", r.proc_interrupts);
    let _ = writeln!(s, "/proc/softirqs\n{}", r.proc_softirqs);
    let _ = writeln!(s, "workqueues\n{}", r.wq_dump);
    let _ = writeln!(s, "{:<20}{:>12}{:>14}", "kernel thread", "voluntary", "involuntary");
    let mut threads = r.threads.clone();
    threads.sort();
    for (name, v, i) in threads {
        let _ = writeln!(s, "{name:<20}{v:>12}{i:>14}");
    }
    s
}
