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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(engine::workers(args))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(async {
        // Ctrl-C drops the benchmark, whose guards stop the child processes.
        tokio::select! {
            report = engine::benchmark(args) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}

fn run_collector(args: &CollectorArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(async {
        tokio::select! {
            report = collector::benchmark(args) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}
