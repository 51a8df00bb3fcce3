//! `probesim-lab`: builds a simulated AKS/EKS cluster in network namespaces and plays a scenario
//! in it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use probesim_collector::report::{Format, Report, render};
use probesim_lab::cluster::{Cluster, preflight};
use probesim_lab::scenario::probesim::{Outcome, Probesim};
use probesim_lab::scenario::{self, Scenario, embedded};
use tokio_util::sync::CancellationToken;

/// Exit code when a scenario ran and an expectation failed.
const EXIT_FAILED: u8 = 1;
/// Exit code for a scenario or an environment the lab cannot use.
const EXIT_UNUSABLE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "probesim-lab",
    version,
    about = "A simulated cluster in network namespaces, for reproducing load-balancer failures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Builds the scenario's cluster, plays its actions, checks its expectations and prints the
    /// ground truth. Needs root (network namespaces, iptables).
    Run {
        /// A scenario file, or the name of a built-in scenario (`probesim-lab list`), e.g. `s1`.
        scenario: String,
        /// Keeps the cluster up after the scenario until Ctrl-C (kubectl can read it).
        #[arg(long, env = "PROBESIM_LAB_KEEP_RUNNING")]
        keep_running: bool,
        #[arg(long, value_enum, default_value = "text", env = "PROBESIM_LAB_OUTPUT")]
        output: Output,
        /// Plays the scenario without probesim's agents and collector (the ground truth only).
        #[arg(long, env = "PROBESIM_LAB_NO_PROBESIM")]
        no_probesim: bool,
        /// Keeps the collector's database in this directory (a temporary one by default).
        #[arg(long, env = "PROBESIM_LAB_DB_DIR", value_name = "DIR")]
        db_dir: Option<PathBuf>,
    },
    /// Lists the built-in scenarios.
    List,
    /// Removes what crashed runs left behind (namespaces, processes).
    Cleanup,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROBESIM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for (name, text) in embedded::SCENARIOS {
                let description = Scenario::parse(text, name)
                    .map(|s| s.description)
                    .unwrap_or_default();
                println!(
                    "{name:<42} {}",
                    description.split(". ").next().unwrap_or("").trim()
                );
            }
            ExitCode::SUCCESS
        }
        Command::Cleanup => {
            match preflight().and_then(|()| probesim_lab::cluster::remove_leftovers()) {
                Ok(n) => {
                    println!("removed {n} leftovers of earlier runs");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("probesim-lab: {e}");
                    ExitCode::from(EXIT_UNUSABLE)
                }
            }
        }
        Command::Run {
            scenario,
            keep_running,
            output,
            no_probesim,
            db_dir,
        } => match run(
            &scenario,
            &RunOptions {
                keep_running,
                output,
                probesim: !no_probesim,
                db_dir,
            },
        ) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(EXIT_FAILED),
            Err(e) => {
                eprintln!("probesim-lab: {e:#}");
                ExitCode::from(EXIT_UNUSABLE)
            }
        },
    }
}

struct RunOptions {
    keep_running: bool,
    output: Output,
    probesim: bool,
    db_dir: Option<PathBuf>,
}

fn run(name: &str, options: &RunOptions) -> anyhow::Result<bool> {
    let scenario = load(name)?;
    preflight().map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let stop = CancellationToken::new();
        tokio::spawn(signals(stop.clone()));
        let removed = probesim_lab::cluster::remove_leftovers().map_err(anyhow::Error::msg)?;
        if removed > 0 {
            eprintln!("removed {removed} leftovers of earlier runs");
        }
        eprintln!(
            "building the cluster of {} ({} nodes)...",
            scenario.name,
            scenario.nodes.len()
        );
        let cluster = Arc::new(Cluster::up(&scenario).await.map_err(anyhow::Error::msg)?);
        eprintln!(
            "cluster up; API server at http://{} (kubectl --server http://{} get pods -A)",
            cluster.api_addr(),
            cluster.api_addr()
        );
        let result = play_and_report(&scenario, &cluster, options, &stop).await;
        eprintln!("removing the cluster...");
        match Arc::try_unwrap(cluster) {
            Ok(cluster) => cluster.down().await,
            Err(_) => anyhow::bail!(
                "the cluster is still in use; its namespaces are removed by `probesim-lab cleanup`"
            ),
        }
        result
    })
}

/// Plays the scenario with probesim watching, prints the ground truth and probesim's report,
/// and keeps the collector serving while the cluster is kept running.
async fn play_and_report(
    scenario: &Scenario,
    cluster: &Arc<Cluster>,
    options: &RunOptions,
    stop: &CancellationToken,
) -> anyhow::Result<bool> {
    let probesim = if options.probesim {
        let started = Probesim::start(scenario, cluster, options.db_dir.as_deref())
            .await
            .map_err(anyhow::Error::msg)?;
        if let Some(addr) = started.collector.http_addr() {
            eprintln!(
                "probesim: agents on every node, collector at http://{addr}/ (the web UI, /api/v1/, /metrics)"
            );
        }
        Some(started)
    } else {
        None
    };
    let store = probesim.as_ref().map(|p| p.collector.store().clone());
    let report = scenario::run::play(scenario, cluster.clone(), store, stop.clone()).await;
    let mut passed = report.passed();
    let Some(probesim) = probesim else {
        print_run(&report, None, options.output)?;
        keep_running(options, stop).await;
        return Ok(passed);
    };
    if options.keep_running && !stop.is_cancelled() {
        // The agents keep probing and the collector keeps serving: the web UI shows live data
        // until Ctrl-C; the agents' results are compared with the collector's at the end.
        let (_, now) = probesim
            .collector
            .report()
            .await
            .map_err(anyhow::Error::msg)?;
        print_run(&report, Some((&now, None)), options.output)?;
        keep_running(options, stop).await;
        eprintln!("stopping the agents...");
        let (collector, outcome) = probesim.finish().await.map_err(anyhow::Error::msg)?;
        passed &= all_stored(&outcome);
        collector.stop().await.map_err(anyhow::Error::msg)?;
        return Ok(passed);
    }
    eprintln!("stopping the agents...");
    let (collector, outcome) = probesim.finish().await.map_err(anyhow::Error::msg)?;
    let counts = (outcome.results_reported, outcome.results_stored);
    print_run(
        &report,
        Some((&outcome.report, Some(counts))),
        options.output,
    )?;
    passed &= all_stored(&outcome);
    collector.stop().await.map_err(anyhow::Error::msg)?;
    Ok(passed)
}

async fn keep_running(options: &RunOptions, stop: &CancellationToken) {
    if options.keep_running && !stop.is_cancelled() {
        eprintln!("cluster kept running; Ctrl-C removes it");
        stop.cancelled().await;
    }
}

/// Whether the collector stored every probe result the agents reported (said when not).
fn all_stored(outcome: &Outcome) -> bool {
    let all = outcome.results_reported == outcome.results_stored;
    if !all {
        eprintln!(
            "probesim-lab: the collector stored {} of {} probe results",
            outcome.results_stored, outcome.results_reported
        );
    }
    all
}

/// Prints the scenario's run and, with probesim, the collector's report with the agents'
/// reported and the collector's stored result counts when the agents have stopped.
fn print_run(
    report: &scenario::run::Report,
    probesim: Option<(&Report, Option<(u64, u64)>)>,
    output: Output,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match output {
        Output::Text => {
            scenario::run::print(report, &mut out)?;
            if let Some((seen, counts)) = probesim {
                writeln!(
                    out,
                    "\nWhat probesim reports (the collector, fed by the agents):\n"
                )?;
                write!(out, "{}", render(seen, Format::Text))?;
                if let Some((reported, stored)) = counts {
                    writeln!(
                        out,
                        "\n{reported} probe results reported by the agents, {stored} stored by the collector"
                    )?;
                }
            }
        }
        Output::Json => {
            let mut json = serde_json::to_value(report)?;
            if let Some((seen, counts)) = probesim {
                json["probesim"] = serde_json::json!({ "report": serde_json::to_value(seen)? });
                if let Some((reported, stored)) = counts {
                    json["probesim"]["results_reported"] = reported.into();
                    json["probesim"]["results_stored"] = stored.into();
                }
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
    }
    Ok(())
}

/// A scenario file's path, or a built-in scenario's name or prefix (`s1`).
fn load(name: &str) -> anyhow::Result<Scenario> {
    let path = PathBuf::from(name);
    if path.exists() {
        return Ok(Scenario::load(&path)?);
    }
    let matches: Vec<_> = embedded::SCENARIOS
        .iter()
        .filter(|(n, _)| *n == name || n.starts_with(&format!("{name}-")))
        .collect();
    match matches.as_slice() {
        [(n, text)] => Ok(Scenario::parse(text, n)?),
        [] => anyhow::bail!(
            "no scenario file or built-in scenario named {name:?} (see `probesim-lab list`)"
        ),
        _ => anyhow::bail!("{name:?} names several built-in scenarios (see `probesim-lab list`)"),
    }
}

/// Ctrl-C and SIGTERM stop the run; the cluster is then removed.
async fn signals(stop: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("probesim-lab: cannot watch SIGTERM: {e}");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping: removing the cluster");
    stop.cancel();
}
