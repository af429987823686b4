//! `irqkit lsirq`: the one-shot table of util-linux `lsirq` — IRQ, TOTAL, NAME — read
//! from `/proc/interrupts` text exactly as lsirq reads the real file.

use std::fmt::Write;

/// One row: the irq label (`33` or `LOC`), its total over CPUs and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrqRow {
    /// The first column without its colon.
    pub irq: String,
    /// Sum of the per-CPU counts.
    pub total: u64,
    /// Everything after the counts (chip, hwirq, trigger, actions; or the description).
    pub name: String,
}

/// Parses `/proc/interrupts`: the header gives the number of CPU columns; each row is a
/// label, up to that many counts, then the name.
pub fn parse(proc_interrupts: &str) -> Vec<IrqRow> {
    let mut lines = proc_interrupts.lines();
    let ncpu = lines.next().map(|h| h.split_whitespace().count()).unwrap_or(0);
    let mut rows = Vec::new();
    for line in lines {
        let Some((label, rest)) = line.split_once(':') else { continue };
        let mut total = 0u64;
        let mut rest = rest;
        for _ in 0..ncpu {
            let t = rest.trim_start();
            let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            if end == 0 {
                break;
            }
            total += t[..end].parse::<u64>().unwrap_or(0);
            rest = &t[end..];
        }
        let name = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        rows.push(IrqRow { irq: label.trim().to_string(), total, name });
    }
    rows
}

/// The lsirq table, sorted by total (descending) like `lsirq --sort TOTAL`.
pub fn render(proc_interrupts: &str) -> String {
    let mut rows = parse(proc_interrupts);
    rows.sort_by(|a, b| b.total.cmp(&a.total).then(a.irq.cmp(&b.irq)));
    let w = rows.iter().map(|r| r.irq.len()).max().unwrap_or(3).max(3);
    let tw = rows.iter().map(|r| r.total.to_string().len()).max().unwrap_or(5).max(5);
    let mut s = String::new();
    let _ = writeln!(s, "{:>w$} {:>tw$} NAME", "IRQ", "TOTAL");
    for r in rows {
        let _ = writeln!(s, "{:>w$} {:>tw$} {}", r.irq, r.total, r.name);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_linux_x86_and_arm64_proc_interrupts() {
        let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/golden/");
        let x86 = std::fs::read_to_string(format!("{golden}x86_64-q35-smp4-interrupts.txt"));
        let Ok(x86) = x86 else {
            eprintln!("skipped: ../shared/reference/golden not beside the repository");
            return;
        };
        let rows = parse(&x86);
        let loc = rows.iter().find(|r| r.irq == "LOC").unwrap();
        assert_eq!(loc.name, "Local timer interrupts");
        let ttys = rows.iter().find(|r| r.name.ends_with("ttyS0")).unwrap();
        assert!(ttys.name.starts_with("IO-APIC"));
        // ERR has a single count column.
        assert!(rows.iter().any(|r| r.irq == "ERR"));
        let arm = std::fs::read_to_string(format!("{golden}arm64-virt-gicv3-smp4-interrupts.txt"))
            .unwrap();
        let rows = parse(&arm);
        let timer = rows.iter().find(|r| r.name.ends_with("arch_timer")).unwrap();
        assert_eq!(timer.total, 582 + 433 + 338 + 601);
        assert!(render(&arm).lines().next().unwrap().contains("IRQ"));
    }
}
