//! `probesim-agent`: emulates cloud load-balancer health probes on a Kubernetes node.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            cmd::EXIT_FAILURE
        }
    }
}
