//! `--plot DIR`: SVG pictures of a run — one latency histogram per device and path, and
//! a per-CPU timeline of interrupt load — written by hand (no plotting dependency).

use std::fmt::Write;
use std::path::Path;

use super::histogram::AtomicHistogram;
use super::run::RunResult;

const W: f64 = 640.0;
const H: f64 = 300.0;
const PAD: f64 = 50.0;

fn svg_open(s: &mut String, title: &str) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{}" y="18" text-anchor="middle" font-size="14">{title}</text>"#,
        W / 2.0
    );
}

/// A histogram as bars over log-spaced latency buckets (1 µs … 100 ms).
pub fn histogram_svg(title: &str, h: &AtomicHistogram) -> String {
    let edges: Vec<f64> = (0..=50).map(|i| 1000.0 * 10f64.powf(i as f64 / 10.0)).collect();
    let mut counts = vec![0u64; edges.len() - 1];
    let n = h.count();
    // Reconstruct the bucket counts from quantiles (the histogram is cumulative).
    let mut prev = 0u64;
    for (i, w) in edges.windows(2).enumerate() {
        let upto =
            (1..=200).map(|k| k as f64 / 200.0).filter(|q| h.quantile(*q) as f64 <= w[1]).count();
        let c = (upto as u64 * n / 200).saturating_sub(prev);
        counts[i] = c;
        prev += c;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut s = String::new();
    svg_open(&mut s, title);
    let bw = (W - 2.0 * PAD) / counts.len() as f64;
    for (i, c) in counts.iter().enumerate() {
        let bh = (*c as f64 / max) * (H - 2.0 * PAD);
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7fb5"/>"##,
            PAD + i as f64 * bw,
            H - PAD - bh,
            bw * 0.9,
            bh
        );
    }
    for (i, label) in ["1µs", "10µs", "100µs", "1ms", "10ms", "100ms"].iter().enumerate() {
        let x = PAD + i as f64 * 10.0 * bw;
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"#,
            H - PAD + 15.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{PAD}" y="{}">n={n} p50={:.1}µs p99={:.1}µs max={:.1}µs</text></svg>"#,
        H - 10.0,
        h.quantile(0.5) as f64 / 1e3,
        h.quantile(0.99) as f64 / 1e3,
        h.max() as f64 / 1e3
    );
    s
}

/// Per-CPU interrupt rate over time, one polyline per CPU.
pub fn timeline_svg(samples: &[(f64, Vec<u64>)]) -> String {
    let mut s = String::new();
    svg_open(&mut s, "interrupts per second, per CPU");
    let rates: Vec<(f64, Vec<f64>)> = samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].0 - w[0].0).max(1e-3);
            (
                w[1].0,
                w[1].1.iter().zip(&w[0].1).map(|(b, a)| b.saturating_sub(*a) as f64 / dt).collect(),
            )
        })
        .collect();
    let tmax = rates.last().map_or(1.0, |r| r.0).max(1e-3);
    let ymax = rates.iter().flat_map(|r| r.1.iter().copied()).fold(1.0, f64::max);
    let colors =
        ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    let ncpu = rates.first().map_or(0, |r| r.1.len());
    for c in 0..ncpu {
        let pts: Vec<String> = rates
            .iter()
            .map(|(t, v)| {
                let x = PAD + t / tmax * (W - 2.0 * PAD);
                let y = H - PAD - v[c] / ymax * (H - 2.0 * PAD);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let color = colors[c % colors.len()];
        let _ =
            writeln!(s, r#"<polyline fill="none" stroke="{color}" points="{}"/>"#, pts.join(" "));
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" fill="{color}">CPU{c}</text>"#,
            W - PAD + 5.0,
            PAD + 14.0 * c as f64
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="5" y="{PAD}">{ymax:.0}/s</text><text x="{}" y="{}">{tmax:.1} s</text></svg>"#,
        W - PAD,
        H - PAD + 15.0
    );
    s
}

/// Writes every picture of `r` into `dir`; returns the files written.
pub fn write_all(r: &RunResult, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (d, st) in &r.devices {
        for (path, h) in [("raise-to-hardirq", &st.lat_entry), ("hardirq-to-bh", &st.lat_bh)] {
            if h.count() == 0 {
                continue;
            }
            let p = dir.join(format!("{}-{path}.svg", d.name));
            std::fs::write(&p, histogram_svg(&format!("{}: {path} latency", d.name), h))?;
            out.push(p);
        }
    }
    let p = dir.join("cpu-load.svg");
    std::fs::write(&p, timeline_svg(&r.load_timeline))?;
    out.push(p);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svgs_are_well_formed_and_carry_the_numbers() {
        let h = AtomicHistogram::default();
        for v in [2_000u64, 5_000, 9_000, 40_000, 2_000_000] {
            h.record(v);
        }
        let s = histogram_svg("x", &h);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("n=5") && s.contains("<rect"));
        let t = timeline_svg(&[(0.0, vec![0, 0]), (1.0, vec![100, 50]), (2.0, vec![300, 60])]);
        assert_eq!(t.matches("<polyline").count(), 2);
        assert!(t.contains("200/s"));
    }
}
