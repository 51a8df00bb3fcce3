//! The command line: one module per subcommand.

mod collector;
mod explain;
mod probe;
mod run;
mod settings;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for input the command cannot use (unreadable or malformed manifests, bad flags).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: ExitCode = ExitCode::FAILURE;

#[derive(Debug, Parser)]
#[command(
    name = "probesim-agent",
    version,
    about = "Shows what a cloud load balancer's health probes see of a Kubernetes node's backends"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// What the cloud would configure for these manifests: LB rules and health probes, with
    /// errors and warnings.
    Explain(explain::ExplainArgs),
    /// Probe targets now as one LB would, printing every probe, every LB state transition and a
    /// verdict (no collector needed).
    Probe(probe::ProbeArgs),
    /// The DaemonSet daemon: watches this node's backends in the Kubernetes API and probes them
    /// as the cloud's LB would, serving /metrics and /healthz.
    Run(run::RunArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Explain(args) => explain::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Run(args) => run::run(args),
    }
}
