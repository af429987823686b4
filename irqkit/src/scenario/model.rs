//! The scenario file: a machine, its devices and how they interrupt, parsed from TOML
//! and validated into typed errors that name the bad field.

use serde::Deserialize;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The machine.
    pub machine: MachineSpec,
    /// How long and with which seed.
    #[serde(default)]
    pub run: RunSpec,
    /// The devices.
    #[serde(rename = "device", default)]
    pub devices: Vec<DeviceSpec>,
}

/// `[machine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    /// Interrupt controller: `gicv3` (the GICv3 model, its driver and domain), `x86`
    /// (local APICs + IO-APIC models with the vector/IO-APIC/PCI-MSI domains), `gicv2`, or
    /// `hosted-apic` (the hosted machine's own vector controller).
    #[serde(default = "default_arch")]
    pub arch: String,
    /// Virtual CPUs.
    pub cpus: usize,
    /// Tick frequency.
    #[serde(default = "default_hz")]
    pub hz: u32,
    /// Forced irq threading (`threadirqs`).
    #[serde(default)]
    pub threadirqs: bool,
    /// GICv3 only: an ITS, so NIC queues use MSI-X as LPIs (MSI → ITS → GIC).
    #[serde(default)]
    pub its: bool,
}

/// `[run]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Seconds of simulated device activity.
    #[serde(default = "default_duration")]
    pub duration_s: f64,
    /// Seed of every random arrival process.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Normal-class busy threads per CPU competing with the bottom halves.
    #[serde(default)]
    pub load_threads_per_cpu: usize,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec { duration_s: default_duration(), seed: default_seed(), load_threads_per_cpu: 0 }
    }
}

/// Interrupt controllers the hosted runtime can run.
pub const ARCHES: [&str; 4] = ["gicv3", "gicv2", "x86", "hosted-apic"];
/// Device kinds (each sets the defaults a real driver of that kind would use).
pub const DEVICE_KINDS: [&str; 6] = ["timer", "nic", "uart", "disk", "gpio-button", "perf-nmi"];
/// Arrival processes.
pub const ARRIVALS: [&str; 3] = ["periodic", "poisson", "burst"];
/// Bottom halves.
pub const BOTTOM_HALVES: [&str; 7] =
    ["none", "threaded", "napi", "tasklet", "workqueue", "timer", "irq_work"];

/// One `[[device]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// Name shown in `/proc/interrupts` (`eth0`, `ttyS0`).
    pub name: String,
    /// One of [`DEVICE_KINDS`].
    pub kind: String,
    /// Interrupts per second.
    pub rate_hz: f64,
    /// One of [`ARRIVALS`].
    #[serde(default = "default_arrival")]
    pub arrival: String,
    /// Interrupts per burst (`burst` arrival).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// CPUs the line may interrupt (its affinity); default CPU 0.
    #[serde(default)]
    pub affinity: Vec<usize>,
    /// Work in the hard-irq handler (µs of busy time).
    #[serde(default)]
    pub hard_cost_us: f64,
    /// Work in the bottom half (µs).
    #[serde(default)]
    pub bottom_cost_us: f64,
    /// One of [`BOTTOM_HALVES`]; default depends on the kind.
    #[serde(default)]
    pub bottom_half: Option<String>,
    /// `edge` or `level`; default `level` for a UART, `edge` otherwise. A level line
    /// stays asserted until the driver reads the device (hard handler, or the thread
    /// of a threaded handler). Used on gicv3 SPIs; the other controllers pulse.
    #[serde(default)]
    pub trigger: Option<String>,
    /// NIC only: receive queues, each its own MSI-X vector and device entry
    /// (`name-rxN`), spread round-robin over `affinity` (or all CPUs), splitting
    /// `rate_hz` evenly.
    #[serde(default)]
    pub queues: Option<u32>,
}

fn default_arch() -> String {
    "hosted-apic".into()
}
fn default_hz() -> u32 {
    1000
}
fn default_duration() -> f64 {
    2.0
}
fn default_seed() -> u64 {
    1
}
fn default_arrival() -> String {
    "periodic".into()
}
fn default_burst() -> u32 {
    8
}

/// A scenario problem, with enough context to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError(pub String);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl DeviceSpec {
    /// True if the line is level-triggered (explicit, or a UART by default).
    pub fn level(&self) -> bool {
        match self.trigger.as_deref() {
            Some(t) => t == "level",
            None => self.kind == "uart",
        }
    }

    /// The bottom half this device uses (explicit, or the kind's default).
    pub fn bottom_half(&self) -> &str {
        match (&self.bottom_half, self.kind.as_str()) {
            (Some(b), _) => b,
            (None, "nic" | "uart") => "threaded",
            (None, "disk") => "workqueue",
            (None, "gpio-button") => "timer",
            (None, "perf-nmi") => "irq_work",
            (None, _) => "none",
        }
    }
}

impl Scenario {
    /// Parses TOML; a syntax error reports line and column.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|sp| {
                    let line = text[..sp.start].matches('\n').count() + 1;
                    let col = sp.start - text[..sp.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(" at line {line}, column {col}")
                })
                .unwrap_or_default();
            ScenarioError(format!("malformed scenario{at}: {}", e.message()))
        })?;
        let mut s = s;
        s.expand_queues()?;
        s.validate()?;
        Ok(s)
    }

    /// Turns a NIC with `queues = N` into N single-queue devices.
    fn expand_queues(&mut self) -> Result<(), ScenarioError> {
        let mut out = Vec::new();
        for d in self.devices.drain(..) {
            match d.queues {
                Some(0) => {
                    return Err(ScenarioError(format!(
                        "device {:?}: queues must be at least 1",
                        d.name
                    )))
                }
                Some(n) if d.kind != "nic" => {
                    return Err(ScenarioError(format!(
                        "device {:?}: queues = {n} is for nic devices",
                        d.name
                    )))
                }
                Some(n) if n > 1 => {
                    let cpus: Vec<usize> = if d.affinity.is_empty() {
                        (0..self.machine.cpus).collect()
                    } else {
                        d.affinity.clone()
                    };
                    for q in 0..n {
                        let mut e = d.clone();
                        e.name = format!("{}-rx{q}", d.name);
                        e.rate_hz = d.rate_hz / n as f64;
                        e.affinity = vec![cpus[q as usize % cpus.len()]];
                        e.queues = None;
                        out.push(e);
                    }
                }
                _ => out.push(d),
            }
        }
        self.devices = out;
        Ok(())
    }

    /// Checks every value against what the machine can do.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError(m));
        if !ARCHES.contains(&self.machine.arch.as_str()) {
            return bad(format!(
                "machine.arch = {:?}: valid: {}",
                self.machine.arch,
                ARCHES.join(", ")
            ));
        }
        if self.machine.its && self.machine.arch != "gicv3" {
            return bad("machine.its needs arch = \"gicv3\"".into());
        }
        if self.machine.arch == "gicv3" && self.machine.cpus > 64 {
            return bad("machine.cpus: the GICv3 model has at most 64 redistributors".into());
        }
        if self.machine.arch == "gicv2" && (self.machine.cpus > 8 || self.devices.len() > 96) {
            return bad("gicv2: at most 8 CPUs and 96 devices (SPIs)".into());
        }
        if self.machine.arch == "x86" {
            if self.machine.cpus > 255 {
                return bad("machine.cpus: xAPIC ids stop at 254".into());
            }
            if self.devices.iter().filter(|d| d.kind != "nic" && d.kind != "perf-nmi").count() > 20
            {
                return bad("x86: at most 20 IO-APIC devices (pins 4..24)".into());
            }
        }
        if !(1..=256).contains(&self.machine.cpus) {
            return bad(format!("machine.cpus = {}: must be 1..=256", self.machine.cpus));
        }
        if !(1..=10_000).contains(&self.machine.hz) {
            return bad(format!("machine.hz = {}: must be 1..=10000", self.machine.hz));
        }
        if !(self.run.duration_s > 0.0 && self.run.duration_s <= 3600.0) {
            return bad(format!("run.duration_s = {}: must be in (0, 3600]", self.run.duration_s));
        }
        if self.devices.is_empty() {
            return bad("a scenario needs at least one [[device]]".into());
        }
        if self.devices.iter().filter(|d| d.kind == "perf-nmi").count() > 1 {
            return bad("at most one perf-nmi device (the machine has one NMI handler)".into());
        }
        if self.run.load_threads_per_cpu > 16 {
            return bad("run.load_threads_per_cpu must be at most 16".into());
        }
        for d in &self.devices {
            let at = format!("device {:?}", d.name);
            if !DEVICE_KINDS.contains(&d.kind.as_str()) {
                return bad(format!(
                    "{at}: unknown kind {:?}; valid kinds: {}",
                    d.kind,
                    DEVICE_KINDS.join(", ")
                ));
            }
            if !ARRIVALS.contains(&d.arrival.as_str()) {
                return bad(format!(
                    "{at}: unknown arrival {:?}; valid: {}",
                    d.arrival,
                    ARRIVALS.join(", ")
                ));
            }
            if !BOTTOM_HALVES.contains(&d.bottom_half()) {
                return bad(format!(
                    "{at}: unknown bottom_half {:?}; valid: {}",
                    d.bottom_half(),
                    BOTTOM_HALVES.join(", ")
                ));
            }
            if !(d.rate_hz > 0.0 && d.rate_hz <= 1_000_000.0) {
                return bad(format!("{at}: rate_hz = {} must be in (0, 1000000]", d.rate_hz));
            }
            if let Some(c) = d.affinity.iter().find(|c| **c >= self.machine.cpus) {
                return bad(format!(
                    "{at}: affinity names CPU {c}, but the machine has CPUs 0..{}",
                    self.machine.cpus - 1
                ));
            }
            if d.hard_cost_us < 0.0 || d.bottom_cost_us < 0.0 || d.hard_cost_us > 10_000.0 {
                return bad(format!("{at}: costs must be in [0, 10000] µs"));
            }
            if let Some(t) = &d.trigger {
                if t != "edge" && t != "level" {
                    return bad(format!("{at}: trigger {t:?}; valid: edge, level"));
                }
            }
            if d.bottom_half() == "napi" && d.kind != "nic" {
                return bad(format!("{at}: napi polling is for nic devices"));
            }
            if d.kind == "perf-nmi" && d.bottom_half() != "irq_work" {
                return bad(format!("{at}: an NMI source can only defer through irq_work"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_toml_reports_line_and_column() {
        let e = Scenario::parse("[machine]\ncpus = 4\nhz = =\n").unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        assert!(e.0.contains("column"), "{e}");
    }

    #[test]
    fn unknown_kind_lists_the_valid_kinds() {
        let t =
            "[machine]\ncpus = 2\n[[device]]\nname = \"x\"\nkind = \"toaster\"\nrate_hz = 10.0\n";
        let e = Scenario::parse(t).unwrap_err();
        assert!(e.0.contains("toaster") && e.0.contains("nic, uart"), "{e}");
    }

    #[test]
    fn affinity_naming_a_missing_cpu_is_refused() {
        let t = "[machine]\ncpus = 2\n[[device]]\nname = \"x\"\nkind = \"nic\"\nrate_hz = 10.0\naffinity = [5]\n";
        assert!(Scenario::parse(t).unwrap_err().0.contains("CPU 5"));
    }

    #[test]
    fn every_example_scenario_parses() {
        for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios")).unwrap() {
            let p = f.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        Scenario::parse(super::super::DEFAULT_SCENARIO).unwrap();
    }
}
