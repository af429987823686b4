//! `irqkit`: run interrupt scenarios on a hosted machine and print what happened.
//!
//! `cargo run --release` runs the built-in default scenario (4 CPUs, NIC, UART, disk,
//! GPIO button, perf NMI); `irqkit run FILE` runs a scenario file of your own.

mod top;

use irqkit::scenario;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use irqkit::scenario::model::Scenario;

/// Command line of the `irqkit` binary.
#[derive(Parser, Debug)]
#[command(
    name = "irqkit",
    version,
    about = "The Linux interrupt architecture in Rust, on a hosted machine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Print the report as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Override the scenario's duration (seconds).
    #[arg(long, global = true)]
    seconds: Option<f64>,
    /// Write a Chrome/Perfetto trace (Trace Event JSON) of the run to this file.
    #[arg(long, global = true)]
    trace: Option<std::path::PathBuf>,
    /// Write SVG latency histograms and a per-CPU load timeline into this directory.
    #[arg(long, global = true)]
    plot: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a scenario file (TOML; see scenarios/).
    Run {
        /// The scenario file.
        file: std::path::PathBuf,
    },
    /// Print the built-in default scenario.
    Default,
    /// Run a scenario (default: the built-in one) and print the `lsirq` table.
    Lsirq {
        /// The scenario file.
        file: Option<std::path::PathBuf>,
    },
    /// A live view in the manner of util-linux `irqtop` while a scenario runs
    /// (`q` quits, `s` changes the sort).
    Top {
        /// The scenario file (default: the built-in one, run for an hour).
        file: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let text = match &cli.cmd {
        Some(Cmd::Default) => {
            print!("{}", scenario::DEFAULT_SCENARIO);
            return ExitCode::SUCCESS;
        }
        Some(Cmd::Run { file })
        | Some(Cmd::Lsirq { file: Some(file) })
        | Some(Cmd::Top { file: Some(file) }) => match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("irqkit: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        },
        None | Some(Cmd::Lsirq { file: None }) => scenario::DEFAULT_SCENARIO.to_string(),
        Some(Cmd::Top { file: None }) => {
            scenario::DEFAULT_SCENARIO.replace("duration_s = 2.0", "duration_s = 3600.0")
        }
    };
    let mut sc = match Scenario::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("irqkit: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(s) = cli.seconds {
        sc.run.duration_s = s;
        if let Err(e) = sc.validate() {
            eprintln!("irqkit: {e}");
            return ExitCode::from(2);
        }
    }
    let quiet = cli.json || matches!(cli.cmd, Some(Cmd::Lsirq { .. }));
    if matches!(cli.cmd, Some(Cmd::Top { .. })) {
        return match top::run(&sc) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("irqkit: {e}");
                ExitCode::from(1)
            }
        };
    }
    let mut last_shown = 0.0;
    let result = scenario::run::run(&sc, cli.trace.is_some(), |f, _sys| {
        if !quiet && f - last_shown >= 0.25 {
            last_shown = f;
            eprintln!("irqkit: {:.0}% ...", f * 100.0);
        }
        false
    });
    match result {
        Ok(r) => {
            if let (Some(path), Some(t)) = (&cli.trace, &r.trace) {
                let doc = serde_json::to_string(t).expect("json");
                if let Err(e) = std::fs::write(path, doc) {
                    eprintln!("irqkit: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                eprintln!(
                    "irqkit: trace written to {} (open it in ui.perfetto.dev)",
                    path.display()
                );
            }
            if let Some(dir) = &cli.plot {
                match scenario::plot::write_all(&r, dir) {
                    Ok(files) => eprintln!("irqkit: {} pictures in {}", files.len(), dir.display()),
                    Err(e) => {
                        eprintln!("irqkit: {}: {e}", dir.display());
                        return ExitCode::from(2);
                    }
                }
            }
            if matches!(cli.cmd, Some(Cmd::Lsirq { .. })) {
                print!("{}", scenario::lsirq::render(&r.proc_interrupts));
            } else if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&scenario::report::to_json(&r)).expect("json")
                );
            } else {
                print!("{}", scenario::report::render(&r));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("irqkit: {e}");
            ExitCode::from(1)
        }
    }
}
