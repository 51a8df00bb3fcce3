//! `probesim-bench collector`: how many results a second the collector's gRPC ingest takes from
//! N simulated agents, how long acknowledgements take, and what it costs in memory. The
//! collector runs in a child process ([`server`]) behind a pluggable sink ([`sink`]).

pub mod load;
pub mod server;
pub mod sink;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use tokio::sync::watch;

use crate::cli::{CollectorArgs, SinkKind};

/// The goals on a 2-core machine.
pub const GOAL_RESULTS_PER_S: f64 = 1_000_000.0;
pub const GOAL_AGENTS: usize = 5_000;
/// How long every agent may take to connect and be welcomed.
const RAMP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug, Serialize)]
pub struct CollectorReport {
    pub agents: usize,
    pub sink: SinkKind,
    pub duration_s: f64,
    pub results_per_batch: usize,
    pub in_flight: usize,
    pub rate_asked: Option<f64>,
    pub agents_connected: u64,
    pub ramp_s: f64,
    pub results: u64,
    pub results_per_s: f64,
    pub batches_per_s: f64,
    pub bytes_per_result: Option<f64>,
    pub acks: u64,
    pub ack_p50_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
    pub ack_max_ms: Option<f64>,
    /// Resident memory of the collector process at the end, and its peak.
    pub rss_mib: f64,
    pub rss_peak_mib: f64,
    pub collector_cpu_s: f64,
    pub collector_cpu_s_per_million_results: Option<f64>,
    pub connect_failures: u64,
    pub stream_errors: u64,
    pub decode_errors: u64,
    /// Only for runs without --rate (or with a rate at or above the goal).
    pub goal_results_per_s_met: Option<bool>,
    pub goal_agents_held: bool,
}

/// Lets 5 000 connections (and their other ends in the collector) be opened.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

pub async fn benchmark(args: &CollectorArgs) -> anyhow::Result<CollectorReport> {
    if args.agents == 0 || args.results_per_batch == 0 || args.in_flight == 0 {
        bail!("--agents, --results-per-batch and --in-flight must be positive");
    }
    raise_fd_limit();
    let lifetime = args.duration + RAMP_TIMEOUT + Duration::from_secs(60);
    let threads = args.collector_threads.unwrap_or_else(crate::measure::cores);
    let mut server =
        tokio::task::block_in_place(|| server::Server::spawn(threads, args.sink, lifetime))?;
    let stats = Arc::new(load::LoadStats::default());
    let (stop_tx, stop) = watch::channel(false);
    let (go_tx, go) = watch::channel(false);
    let config = load::LoadConfig {
        port: server.port,
        agents: args.agents,
        results_per_batch: args.results_per_batch,
        rate: args.rate,
        in_flight: args.in_flight,
    };
    let ramp = std::time::Instant::now();
    let tasks = load::run(config, stats.clone(), go, stop).await;
    let deadline = tokio::time::Instant::now() + RAMP_TIMEOUT;
    while (stats.ready.load(Relaxed) + stats.stream_errors.load(Relaxed)) < args.agents as u64
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ramp_s = ramp.elapsed().as_secs_f64();
    let _ = go_tx.send(true);
    // Let the declarations and the first batches pass before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = tokio::task::block_in_place(|| server.figures())?;
    let t0 = std::time::Instant::now();
    stats.measuring.store(true, Relaxed);
    tokio::time::sleep(args.duration).await;
    stats.measuring.store(false, Relaxed);
    let end = tokio::task::block_in_place(|| server.figures())?;
    let elapsed = t0.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    drop(server);

    let results = end.results - start.results;
    let batches = end.batches - start.batches;
    let acks = stats
        .acks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let results_per_s = results as f64 / elapsed;
    let cpu = end.cpu_s - start.cpu_s;
    Ok(CollectorReport {
        agents: args.agents,
        sink: args.sink,
        duration_s: elapsed,
        results_per_batch: args.results_per_batch,
        in_flight: args.in_flight,
        rate_asked: args.rate,
        agents_connected: end.streams_open,
        ramp_s,
        results,
        results_per_s,
        batches_per_s: batches as f64 / elapsed,
        bytes_per_result: (results > 0).then(|| (end.bytes - start.bytes) as f64 / results as f64),
        acks: acks.count(),
        ack_p50_ms: ms(acks.quantile(0.5)),
        ack_p99_ms: ms(acks.quantile(0.99)),
        ack_max_ms: ms(acks.max()),
        rss_mib: end.rss_kib as f64 / 1024.0,
        rss_peak_mib: end.peak_rss_kib as f64 / 1024.0,
        collector_cpu_s: cpu,
        collector_cpu_s_per_million_results: (results > 0).then(|| cpu * 1e6 / results as f64),
        connect_failures: stats.connect_failures.load(Relaxed),
        stream_errors: stats.stream_errors.load(Relaxed),
        decode_errors: end.decode_errors,
        goal_results_per_s_met: (args.rate.is_none_or(|r| r >= GOAL_RESULTS_PER_S))
            .then_some(results_per_s >= GOAL_RESULTS_PER_S),
        goal_agents_held: args.agents >= GOAL_AGENTS && end.streams_open >= GOAL_AGENTS as u64,
    })
}

impl CollectorReport {
    pub fn summary(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        format!(
            "collector ingest ({:?} sink): {} agents ({} connected, ramp {:.1} s), {} results per batch, {} in flight\n\
             {:.0} results/s ({:.1} batches/s, {} bytes/result) over {:.1} s\n\
             ack p50 {} ms, p99 {} ms, max {} ms ({} acks)\n\
             collector rss {:.1} MiB (peak {:.1}), cpu {:.2} s ({} s per million results)\n\
             errors: {} connect, {} stream, {} decode\n",
            self.sink,
            self.agents,
            self.agents_connected,
            self.ramp_s,
            self.results_per_batch,
            self.in_flight,
            self.results_per_s,
            self.batches_per_s,
            f(self.bytes_per_result),
            self.duration_s,
            f(self.ack_p50_ms),
            f(self.ack_p99_ms),
            f(self.ack_max_ms),
            self.acks,
            self.rss_mib,
            self.rss_peak_mib,
            self.collector_cpu_s,
            f(self.collector_cpu_s_per_million_results),
            self.connect_failures,
            self.stream_errors,
            self.decode_errors,
        )
    }
}
