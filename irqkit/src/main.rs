//! `irqkit`: run interrupt workloads on a hosted machine and print what happened.
//!
//! `cargo run --release` boots a 4-CPU hosted machine, runs the built-in workload for a
//! couple of seconds and prints per-CPU counts.

mod demo;
mod report;

use clap::{Parser, Subcommand};

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
    /// Virtual CPUs of the default machine.
    #[arg(long, default_value_t = 4)]
    cpus: usize,
    /// Tick frequency (Hz).
    #[arg(long, default_value_t = 1000)]
    hz: u32,
    /// How long the built-in workload runs, in seconds.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the built-in workload (the default).
    Demo,
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd.unwrap_or(Cmd::Demo) {
        Cmd::Demo => {
            if !(0.05..=3600.0).contains(&cli.seconds) {
                eprintln!("irqkit: --seconds must be between 0.05 and 3600");
                std::process::exit(2);
            }
            match demo::run(cli.cpus, cli.hz, cli.seconds) {
                Ok(r) => print!("{}", report::render(&r)),
                Err(e) => {
                    eprintln!("irqkit: {e}");
                    std::process::exit(2);
                }
            }
        }
    }
}
