//! Scenarios: a machine, its devices and their interrupt load, described in TOML,
//! run on the hosted machine, and reported with Linux's views and latency percentiles.

mod devices;
mod histogram;
pub mod lsirq;
pub mod model;
pub mod napi;
pub mod plot;
pub mod report;
pub mod run;
pub mod trace;

/// The scenario `cargo run --release` runs: 4 CPUs, a NIC, a UART, a disk, a GPIO
/// button and perf sampling in NMI, on the hosted vector controller.
pub const DEFAULT_SCENARIO: &str = include_str!("../../../scenarios/default.toml");

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::SeqCst;

    use super::model::Scenario;

    #[test]
    fn default_scenario_runs_and_its_report_invariants_hold() {
        let mut sc = Scenario::parse(super::DEFAULT_SCENARIO).unwrap();
        sc.run.duration_s = 0.5;
        let r = super::run::run(&sc, true, |_, _| false).unwrap();
        for ((d, st), total) in r.devices.iter().zip(&r.irq_totals) {
            assert_eq!(st.lost(), 0, "{}: a started interrupt never ran", d.name);
            assert!(st.raised.load(SeqCst) > 0, "{} raised nothing", d.name);
            // Every raise is counted once: it started an interrupt or coalesced into a
            // pending one (raises the host could not make in time are `dropped` apart).
            assert_eq!(st.raised.load(SeqCst), st.started.load(SeqCst) + st.coalesced.load(SeqCst));
            if let Some(total) = total {
                // /proc/interrupts counts every hard-handler run exactly once.
                assert_eq!(
                    *total,
                    st.consumed.load(SeqCst) + st.spurious.load(SeqCst),
                    "{}",
                    d.name
                );
            }
            for h in [&st.lat_entry, &st.lat_bh] {
                assert!(h.quantile(0.5) <= h.quantile(0.99) && h.quantile(0.99) <= h.max());
            }
            if d.bottom_half() != "none" {
                assert!(st.bh_runs.load(SeqCst) > 0, "{}: bottom half never ran", d.name);
            }
            if matches!(d.bottom_half(), "tasklet" | "workqueue" | "irq_work") {
                // Every newly scheduled tasklet / work / irq_work ran exactly once.
                assert_eq!(st.bh_runs.load(SeqCst), st.bh_queued.load(SeqCst), "{}", d.name);
            }
        }
        let json = super::report::to_json(&r);
        assert_eq!(json["lost"], 0);
        assert!(super::report::render(&r).contains("/proc/interrupts"));
        assert!(r.proc_softirqs.contains("TASKLET:"));
        assert!(r.threads.iter().any(|(n, _, _)| n == "irq/3-eth1-rx0"));
        // NAPI queues polled on NET_RX_SOFTIRQ.
        let net_rx =
            r.proc_softirqs.lines().find(|l| l.trim_start().starts_with("NET_RX:")).unwrap();
        assert!(net_rx.split_whitespace().skip(1).any(|c| c != "0"), "{net_rx}");
        check_trace(r.trace.as_ref().unwrap());
    }

    /// The trace is Trace Event JSON whose slices nest properly on every track: two
    /// slices of one track either do not overlap or one contains the other.
    fn check_trace(v: &serde_json::Value) {
        let text = serde_json::to_string(v).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut by_track: std::collections::BTreeMap<u64, Vec<(f64, f64)>> = Default::default();
        for e in v["traceEvents"].as_array().unwrap() {
            if e["ph"] == "X" {
                let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
                assert!(dur >= 0.0);
                by_track.entry(e["tid"].as_u64().unwrap()).or_default().push((ts, ts + dur));
            }
        }
        assert!(!by_track.is_empty());
        for (tid, mut s) in by_track {
            s.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
            let mut open: Vec<f64> = Vec::new();
            for (start, end) in s {
                while open.last().is_some_and(|e| *e <= start) {
                    open.pop();
                }
                if let Some(outer) = open.last() {
                    assert!(
                        end <= *outer,
                        "track {tid}: slice [{start}, {end}] crosses its parent's end {outer}"
                    );
                }
                open.push(end);
            }
        }
    }
}

#[cfg(test)]
mod napi_tests {
    use super::model::Scenario;

    #[test]
    fn napi_under_load_hands_softirq_processing_to_ksoftirqd() {
        // kernel/softirq.c: a pass that still finds NET_RX pending after 2 ms (or 10
        // restarts) wakes ksoftirqd instead of looping in irq_exit.
        let sc = Scenario::parse(
            "[machine]\narch = \"gicv3\"\nits = true\ncpus = 2\nhz = 1000\n[run]\nduration_s = 0.5\n\
             [[device]]\nname = \"eth0\"\nkind = \"nic\"\nrate_hz = 20000.0\narrival = \"burst\"\nburst = 64\n\
             affinity = [1]\nbottom_cost_us = 40.0\nbottom_half = \"napi\"\n",
        )
        .unwrap();
        let r = super::run::run(&sc, false, |_, _| false).unwrap();
        assert!(r.ksoftirqd_handoffs > 0, "no hand-off under a 64-packet x 40 us load");
        assert!(r.threads.iter().any(|(n, _, _)| n == "ksoftirqd/1"));
    }
}
