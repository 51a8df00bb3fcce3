//! The engine under load: N targets configured idle (their memory measured), then switched to
//! the asked rate for the run's duration; every result is tallied by a consumer task in the
//! same process, as the agent's own consumer would be.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
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
/// are picked downwards from here, far above the benchmark's own ids.
const SYNC_TARGETS: TargetId = TargetId::MAX;
/// A sync target's interval: it probes once, at once, and is removed long before its second
/// probe is due.
const SYNC_INTERVAL: Duration = Duration::from_secs(10);
/// A sync target's first probe falls this soon at most after it is taken.
const SYNC_MAX_OFFSET: Duration = Duration::from_millis(1);
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
        source: None,
    }
}

/// Tally of the results, kept by the consumer task.
#[derive(Debug, Default)]
struct Tally {
    /// Probes due before the measurement window (while the engine was taking the load specs).
    warmup_probes: u64,
    /// Their lateness: how late probes start while the engine takes a burst of upserts.
    warmup_lateness: Histogram,
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
    window: Arc<OnceLock<Instant>>,
) -> Tally {
    let mut tally = Tally::default();
    while let Some(record) = rx.recv().await {
        if record.target > TargetId::from(u32::MAX) {
            synced.send_replace(record.target);
            continue;
        }
        // Generation 0 is the idle configuration; the load starts at generation 1, and is
        // measured from the moment the engine has taken every target's load spec.
        if record.generation == 0 {
            continue;
        }
        if window.get().is_none_or(|&start| record.due < start) {
            tally.warmup_probes += 1;
            tally.warmup_lateness.record(record.lateness);
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
    let (synced_tx, synced) = watch::channel(0);
    let mut sync = Sync {
        engine: &engine,
        synced,
        next_id: SYNC_TARGETS,
        request: request(0),
    };
    let window = Arc::new(OnceLock::new());
    let consumer = tokio::spawn(consume(rx, args.protocol, synced_tx, window.clone()));

    // Idle: every target configured, none probing yet.
    sync.wait().await?;
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
    sync.wait().await?;
    let rss_idle = measure::self_rss_kib()?;

    // Load: the same targets at the asked rate (a changed spec restarts each target). The
    // window opens once the engine has taken them all: with many targets that takes a while,
    // reported apart as `load_upsert_ms`.
    let upserts = Instant::now();
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
    sync.wait().await?;
    let upsert_time = upserts.elapsed();
    let stats_before = engine.stats();
    let cpu_before = measure::self_cpu()?;
    let server_cpu_before = measure::proc_cpu(servers.pid())?;
    let load = measure::MachineLoad::start()?;
    let start = Instant::now();
    let _ = window.set(start);
    tokio::time::sleep_until(start + args.duration).await;
    // The window ends here: stopping the engine (cancelling what is in flight, dropping the
    // targets) is not part of it.
    let stats_after = engine.stats();
    let elapsed = start.elapsed();
    let cpu = measure::self_cpu()?.saturating_sub(cpu_before);
    let server_cpu = measure::proc_cpu(servers.pid())?.saturating_sub(server_cpu_before);
    let others = load.others_since(cpu + server_cpu)?;
    drop(sync);
    engine.shutdown().await;
    let tally = tokio::time::timeout(SETTLE_TIMEOUT, consumer)
        .await
        .context("the engine's probes did not end after shutdown")??;

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
    figures.count_error("skipped_late", delta(|s| s.skipped_late));
    figures.count_error("results_dropped", delta(|s| s.results_dropped));
    figures.details.extend([
        ("scheduled".to_owned(), json!(delta(|s| s.scheduled))),
        ("warmup_probes".to_owned(), json!(tally.warmup_probes)),
        (
            "warmup_lateness_p99_ms".to_owned(),
            json!(ms(tally.warmup_lateness.quantile(0.99))),
        ),
        (
            "warmup_lateness_max_ms".to_owned(),
            json!(ms(tally.warmup_lateness.max())),
        ),
        (
            "load_upsert_ms".to_owned(),
            json!(upsert_time.as_secs_f64() * 1e3),
        ),
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

/// Tells when the engine has taken every upsert sent before: a sync target, on the first
/// target's address, probes once at once and the consumer sees that result. The control channel
/// is FIFO, so everything sent before the sync target was taken.
struct Sync<'a> {
    engine: &'a Engine,
    synced: watch::Receiver<TargetId>,
    next_id: TargetId,
    request: ProbeRequest,
}

impl Sync<'_> {
    async fn wait(&mut self) -> anyhow::Result<()> {
        let rate = 1.0 / SYNC_INTERVAL.as_secs_f64();
        // The engine phases each target by its id: take one whose first probe is due at once.
        let id = (0..)
            .map(|k| self.next_id - k)
            .find(|&id| Phasing::for_rate(SYNC_INTERVAL, rate, id).offset <= SYNC_MAX_OFFSET)
            .unwrap_or(self.next_id);
        self.next_id = id - 1;
        self.engine.upsert(
            id,
            TargetSpec {
                request: self.request.clone(),
                interval: SYNC_INTERVAL,
                rate_per_s: rate,
            },
        );
        let result =
            tokio::time::timeout(SETTLE_TIMEOUT, self.synced.wait_for(|&seen| seen == id)).await;
        self.engine.remove(id);
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => bail!("the engine's results ended early"),
            Err(_) => bail!("the engine did not take its targets within {SETTLE_TIMEOUT:?}"),
        }
    }
}
