//! The irqkit application: scenarios (TOML), their runner on the hosted machine, and
//! the reports, traces, pictures and `lsirq` table made from a run. The `irqkit` binary
//! is the command line over this library; benches use it directly.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod scenario;
