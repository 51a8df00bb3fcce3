use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use probesim_bench::cli::{Cli, CollectorArgs, Command, EngineArgs};
use probesim_bench::{baseline, collector, engine, targets};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Engine(args) => run_engine(&args),
        Command::ServeTargets(args) => targets::serve(&args),
        Command::RawConnect(args) => baseline::raw_connect::child_main(&args),
        Command::Collector(args) => run_collector(&args),
        Command::CollectorServer(args) => collector::server::serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probesim-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_engine(args: &EngineArgs) -> anyhow::Result<()> {
    let report = run_bench(engine::workers(args), engine::benchmark(args))?;
    print(args.json, &report, || report.summary())
}

fn run_collector(args: &CollectorArgs) -> anyhow::Result<()> {
    let report = run_bench(args.client_threads.max(1), collector::benchmark(args))?;
    print(args.json, &report, || report.summary())
}

/// Runs one benchmark on a runtime of `workers` threads. Ctrl-C drops the benchmark, whose
/// guards stop the child processes.
fn run_bench<R>(
    workers: usize,
    bench: impl Future<Output = anyhow::Result<R>>,
) -> anyhow::Result<R> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        tokio::select! {
            report = bench => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })
}

/// The report as JSON, or its summary for people.
fn print<R: serde::Serialize>(
    json: bool,
    report: &R,
    summary: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", summary());
    }
    Ok(())
}
