//! The engine under load: N targets configured idle (their memory measured), then switched to
//! the asked rate for the run's duration; every result is tallied by a consumer task in the
//! same process, as the agent's own consumer would be.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use probesim_agent::engine::{
    DEFAULT_RESULT_CAPACITY, Engine, EngineConfig, Phasing, ProbeRecord, StatsSnapshot, TargetId,
    TargetSpec,
};
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::model::{LbKind, ProbeProtocol, WireDetails};
use probesim_agent::probe::ProbeRequest;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::cli::{Close, EngineArgs, Protocol};
use crate::histogram::Histogram;
use crate::measure;
use crate::report::{Figures, mib, ms};
use crate::targets::{HEALTH_PATH, TargetServers};

/// The interval of an idle target: long enough that almost none probes while its memory is
/// measured (their first probes are spread over this interval).
const IDLE_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Targets whose first result tells that the engine has taken every upsert sent before them
/// (ids counted down from here, one per sync, far above the benchmark's own).
const SYNC_TARGETS: TargetId = TargetId::MAX;
/// A sync target probes at once and then every millisecond until it is removed.
const SYNC_INTERVAL: Duration = Duration::from_millis(1);
/// How long the engine may take to take the idle targets, and the consumer to see the last
/// results after the engine stopped.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The interval and the number of virtual probers that sample one target `rate_per_s` times
/// per second: the base interval stretched to a whole number of probers, so that the scheduled
/// rate is exactly the one asked.
pub fn sampling(rate_per_s: f64, base: Duration) -> (Duration, u32) {
    let k = (rate_per_s * base.as_secs_f64()).round().max(1.0);
    let interval = Duration::from_secs_f64(k / rate_per_s);
    let probers = Phasing::for_rate(interval, rate_per_s, 0).probers;
    (interval, probers)
}

/// The probe the benchmark sends to `addr`: an Azure LB probe (its User-Agent) with the run's
/// close mode and timeout, asking HTTP targets for [`HEALTH_PATH`].
pub fn probe_request(
    addr: SocketAddr,
    protocol: Protocol,
    close: Close,
    timeout: Duration,
) -> ProbeRequest {
    ProbeRequest {
        addr,
        protocol: match protocol {
            Protocol::Tcp => ProbeProtocol::Tcp,
            Protocol::Http => ProbeProtocol::Http,
        },
        path: Arc::from(HEALTH_PATH),
        timeout,
        wire: Arc::new(WireDetails {
            close: close.into(),
            ..WireDetails::for_lb(LbKind::AzureLb)
        }),
        grpc_tls: false,
        bind: None,
    }
}

/// Tally of the results, kept by the consumer task.
#[derive(Debug, Default)]
struct Tally {
    probes: u64,
    lateness: Histogram,
    failures: BTreeMap<String, u64>,
}

/// Whether a probe succeeded: Connected for TCP, HTTP 200 for HTTP.
pub fn success(protocol: Protocol, outcome: Outcome) -> bool {
    match protocol {
        Protocol::Tcp => outcome == Outcome::Connected,
        Protocol::Http => outcome == Outcome::HttpStatus(200),
    }
}

pub fn failure_kind(outcome: Outcome) -> String {
    match outcome {
        Outcome::HttpStatus(s) => format!("http_status_{s}"),
        other => other.kind().to_owned(),
    }
}

async fn consume(
    mut rx: mpsc::Receiver<ProbeRecord>,
    protocol: Protocol,
    synced: watch::Sender<TargetId>,
) -> Tally {
    let mut tally = Tally::default();
    while let Some(record) = rx.recv().await {
        if record.target > TargetId::from(u32::MAX) {
            synced.send_replace(record.target);
            continue;
        }
        // Generation 0 is the idle configuration; the load starts at generation 1.
        if record.generation == 0 {
            continue;
        }
        tally.probes += 1;
        tally.lateness.record(record.lateness);
        let outcome = record.measurement.outcome;
        if !success(protocol, outcome) {
            *tally.failures.entry(failure_kind(outcome)).or_default() += 1;
        }
    }
    tally
}

pub async fn run(args: &EngineArgs, servers: &TargetServers) -> anyhow::Result<Figures> {
    let n = args.targets as usize;
    let per_target = args.rate / n as f64;
    let (interval, _) = sampling(per_target, args.interval);
    let template = probe_request(servers.addr(0), args.protocol, args.close, args.timeout);
    // Targets of one rule share their path and wire details, as the agent's would.
    let request = |i: usize| ProbeRequest {
        addr: servers.addr(i),
        ..template.clone()
    };

    let mut config = EngineConfig::default();
    if let Some(max) = args.max_in_flight {
        config.max_in_flight = max;
    }
    let (tx, rx) = mpsc::channel(DEFAULT_RESULT_CAPACITY);
    let engine = Engine::start(config, tx);
    let (synced_tx, mut synced) = watch::channel(0);
    let consumer = tokio::spawn(consume(rx, args.protocol, synced_tx));

    // Idle: every target configured, none probing yet.
    sync(&engine, &mut synced, SYNC_TARGETS, request(0)).await?;
    let rss_before = measure::self_rss_kib()?;
    for i in 0..n {
        engine.upsert(
            i as TargetId,
            TargetSpec {
                request: request(i),
                interval: IDLE_INTERVAL,
                rate_per_s: 0.0,
            },
        );
    }
    sync(&engine, &mut synced, SYNC_TARGETS - 1, request(0)).await?;
    let rss_idle = measure::self_rss_kib()?;

    // Load: the same targets at the asked rate (a changed spec restarts each target).
    let stats_before = engine.stats();
    let cpu_before = measure::self_cpu()?;
    let load = measure::MachineLoad::start()?;
    let start = Instant::now();
    for i in 0..n {
        engine.upsert(
            i as TargetId,
            TargetSpec {
                request: request(i),
                interval,
                rate_per_s: per_target,
            },
        );
    }
    let server_cpu_before = measure::proc_cpu(servers.pid())?;
    tokio::time::sleep_until(start + args.duration).await;
    let stats_after = engine.stats();
    engine.shutdown().await;
    let elapsed = start.elapsed();
    let server_cpu = measure::proc_cpu(servers.pid())?.saturating_sub(server_cpu_before);
    let tally = tokio::time::timeout(SETTLE_TIMEOUT, consumer)
        .await
        .context("the engine's probes did not end after shutdown")??;
    let cpu = measure::self_cpu()?.saturating_sub(cpu_before);
    let others = load.others_since(cpu + server_cpu)?;

    let delta = |f: fn(&StatsSnapshot) -> u64| f(&stats_after).saturating_sub(f(&stats_before));
    let mut figures = Figures {
        name: "probesim".to_owned(),
        probes: tally.probes,
        lateness_p50_ms: ms(tally.lateness.quantile(0.50)),
        lateness_p99_ms: ms(tally.lateness.quantile(0.99)),
        lateness_max_ms: ms(tally.lateness.max()),
        rss_mib: mib(measure::self_peak_rss_kib()?),
        rss_per_target_kib: Some(rss_idle.saturating_sub(rss_before) as f64 / n as f64),
        target_server_cpu_s: server_cpu.as_secs_f64(),
        other_processes_cpu_s: others,
        ..Figures::default()
    };
    figures.derive_rates(elapsed, cpu);
    for (kind, count) in &tally.failures {
        figures.count_error(kind, *count);
    }
    figures.count_error("skipped_target_limit", delta(|s| s.skipped_target_limit));
    figures.count_error("skipped_global_limit", delta(|s| s.skipped_global_limit));
    figures.count_error("results_dropped", delta(|s| s.results_dropped));
    figures.details.extend([
        ("scheduled".to_owned(), json!(delta(|s| s.scheduled))),
        ("completed".to_owned(), json!(delta(|s| s.completed))),
        (
            "cancelled_at_stop".to_owned(),
            json!(delta(|s| s.cancelled)),
        ),
        (
            "rss_idle_targets_kib".to_owned(),
            json!(rss_idle - rss_before.min(rss_idle)),
        ),
    ]);
    Ok(figures)
}

/// Returns once the engine has taken every upsert sent before: it probes a sync target (the
/// first target's address) and the consumer sees that result; the sync target is then removed.
/// The control channel is FIFO, so everything sent before it was taken.
async fn sync(
    engine: &Engine,
    synced: &mut watch::Receiver<TargetId>,
    id: TargetId,
    request: ProbeRequest,
) -> anyhow::Result<()> {
    engine.upsert(
        id,
        TargetSpec {
            request,
            interval: SYNC_INTERVAL,
            rate_per_s: 1.0 / SYNC_INTERVAL.as_secs_f64(),
        },
    );
    let result = tokio::time::timeout(SETTLE_TIMEOUT, synced.wait_for(|&seen| seen == id)).await;
    engine.remove(id);
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => bail!("the engine's results ended early"),
        Err(_) => bail!("the engine did not take its targets within {SETTLE_TIMEOUT:?}"),
    }
}
