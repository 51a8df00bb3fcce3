//! The `probesim-collector` command line.

pub mod report;
pub mod serve;
pub mod units;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "probesim-collector",
    version,
    about = "probesim collector: stores what the agents see and serves it"
)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "PROBESIM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take the agents' streams (gRPC), keep the timelines, serve the API and /metrics.
    Serve(serve::ServeArgs),
    /// What the LBs would do to the backends, in words: a running collector's report.
    Report(report::ReportArgs),
}
