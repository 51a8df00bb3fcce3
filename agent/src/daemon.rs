//! The agent's daemon (`probesim-agent run`): discovery feeds the engine, the engine's results
//! feed the LB view, and everything that happens becomes an [`Event`] for the logs, the metrics
//! and the collector stream.
//!
//! One task owns the registry of backends, the engine and the view, and `select!`s over plan
//! changes, probe results, lifecycle events, a tick for LB deadlines and shutdown. Consumers
//! never slow it down: events go out through an [`outbox`] that never waits.

pub mod http;
pub mod metrics;
pub mod node_proxy;
pub mod observed;
mod outbox;
pub mod registry;
pub mod setup;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::discovery::targets::{self, EndpointCount, Plan, PlanSettings};
use crate::discovery::watch::Shared;
use crate::engine::{Engine, EngineConfig, ProbeRecord, TargetSpec};
use crate::event::{
    Backend, BackendId, Event, Lifecycle, LifecycleKind, ProbeResult, SourceMode, StateChange,
};
use crate::lb::health::{EmulationSettings, Transition};
use crate::lb::verdict::Verdict;
use crate::model::{Cloud, LbKind, ObjectRef, ProbeSpec};
use crate::probe::{ProbeRequest, ProbeSource};
use crate::view::LbView;
use metrics::{BackendLabels, KindLabels, LbLabels, Metrics, OutcomeLabels, StateLabels};
pub use outbox::Events;
use outbox::Outbox;
use registry::{Action, Registry};
pub use setup::{DiscoverOptions, Discovered, discover};

/// Virtual probers per backend, unless configured: ten samples per LB interval, so a change of a
/// backend is seen within a tenth of the interval (1 s for the ALB's default 10 s, 0.5 s for
/// Azure's 5 s) at 1–2 probes per second per backend.
pub const DEFAULT_PROBES_PER_INTERVAL: u32 = 10;
/// How long the daemon waits after a change of the objects before planning again, so that a
/// burst of changes (a rollout) costs one plan; well inside the one second in which a change
/// must reach the engine.
pub const REPLAN_DELAY: Duration = Duration::from_millis(100);
/// How often LB deadlines (ends of drains and registrations) and engine counters are looked at.
pub const TICK: Duration = Duration::from_millis(250);
/// A draining backend is probed at most this long after its deregistration delay, in case its
/// machines never reach `unused`.
pub const DRAIN_MARGIN: Duration = Duration::from_secs(30);

/// How the daemon runs, after discovery settled the cloud and versions.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub plan: PlanSettings,
    pub probes_per_interval: u32,
    pub engine: EngineConfig,
    pub emulation: EmulationSettings,
    /// `None`: no node proxy check.
    pub node_proxy_interval: Option<Duration>,
    /// The sources set up for LB backends' probes, by mode; a backend whose mode
    /// ([`crate::event::BackendKey::source`]) is not here uses the node's own sockets. The
    /// plan chooses among these and the node ([`PlanSettings::sources`]).
    pub sources: Vec<(SourceMode, ProbeSource)>,
    /// The passive observer's settings (`run --observe`); `None`: off.
    pub observe: Option<crate::observe::ObserverConfig>,
}

struct Tracked {
    backend: Arc<Backend>,
    /// Virtual probers whose state was reported since the backend's last spec.
    reported: Vec<bool>,
    /// Results of probes due before this instant belong to an older spec.
    since: Instant,
    deregistered_at: Option<Instant>,
    /// The unanimous LB state last logged.
    logged: Option<&'static str>,
}

struct Daemon {
    config: DaemonConfig,
    client: Client,
    registry: Registry,
    tracked: HashMap<BackendId, Tracked>,
    engine: Engine,
    view: LbView,
    metrics: Arc<Metrics>,
    events: Outbox,
    endpoints: BTreeMap<ObjectRef, EndpointCount>,
    warnings: BTreeSet<String>,
    node_proxy: Option<bool>,
    probe_metrics: ProbeMetrics,
    /// The observed twins of the LB backends, while observing.
    twins: Option<observed::Twins>,
}

/// Handles of the per-probe metrics by label values, so that counting a probe neither builds
/// label strings nor hashes them: the labels take a few dozen values in all.
#[derive(Default)]
struct ProbeMetrics {
    probes: HashMap<(LbKind, &'static str), prometheus_client::metrics::counter::Counter>,
    durations: HashMap<LbKind, prometheus_client::metrics::histogram::Histogram>,
}

impl ProbeMetrics {
    fn count(&mut self, metrics: &Metrics, lb: LbKind, m: &crate::probe::Measurement) {
        let outcome = m.outcome.kind();
        self.probes
            .entry((lb, outcome))
            .or_insert_with(|| {
                metrics.probes.get_or_create_owned(&OutcomeLabels {
                    lb: lb.as_str().to_owned(),
                    outcome: outcome.to_owned(),
                })
            })
            .inc();
        self.durations
            .entry(lb)
            .or_insert_with(|| {
                metrics.duration.get_or_create_owned(&LbLabels {
                    lb: lb.as_str().to_owned(),
                })
            })
            .observe(m.timings.total.as_secs_f64());
    }
}

/// Runs the daemon until `shutdown` is cancelled. `events` receives everything it reports (the
/// collector stream); without it, the logs and metrics are the output. `client` serves the
/// node-proxy checks: one built by [`node_proxy::client`], without kube's retries. Fails only
/// when the observer (`config.observe`) cannot start, before anything is probed.
pub async fn run(
    mut config: DaemonConfig,
    client: Client,
    watch: Arc<Shared>,
    mut lifecycle: mpsc::Receiver<Lifecycle>,
    metrics: Arc<Metrics>,
    events: Option<Events>,
    shutdown: CancellationToken,
) -> crate::error::Result<()> {
    // What the plan may choose from: the node's sockets and the sources set up.
    config.plan.sources.available = std::iter::once(SourceMode::Node)
        .chain(config.sources.iter().map(|(mode, _)| *mode))
        .collect();
    metrics.attach_watch(&watch, events.as_ref().and_then(|e| e.drops.clone()));
    let (observed_tx, mut observed) = mpsc::channel(observed::OBSERVED_CHANNEL);
    let (observer, twins) = match config.observe.clone() {
        Some(observe) => {
            let twins = observed::Twins::new(Arc::default());
            let observer = observed::start(observe, twins.map().clone(), observed_tx)?;
            metrics.observer.attach(observer.shared_stats());
            (Some(observer), Some(twins))
        }
        None => (None, None),
    };
    let (results_tx, mut results) = mpsc::channel(crate::engine::DEFAULT_RESULT_CAPACITY);
    let engine = Engine::start(config.engine.clone(), results_tx);
    let view = LbView::new(config.emulation);
    let mut daemon = Daemon {
        config,
        client,
        registry: Registry::default(),
        tracked: HashMap::new(),
        engine,
        view,
        events: Outbox::new(events, metrics.clone()),
        metrics,
        endpoints: BTreeMap::new(),
        warnings: BTreeSet::new(),
        node_proxy: None,
        probe_metrics: ProbeMetrics::default(),
        twins,
    };
    let mut changes = watch.changes();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut proxy_checks: JoinSet<node_proxy::Check> = JoinSet::new();
    let mut proxy_due = daemon.config.node_proxy_interval.map(|_| Instant::now());
    let mut replan_at: Option<Instant> = Some(Instant::now());
    loop {
        let replan = async {
            match replan_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let idle = proxy_checks.is_empty();
        let proxy = async {
            match proxy_due {
                Some(at) if idle => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                replan_at.get_or_insert_with(|| Instant::now() + REPLAN_DELAY);
            }
            () = replan => {
                replan_at = None;
                if watch.synced() {
                    // Derived under the snapshot's lock, applied after it: the watches wait
                    // only for the derivation.
                    let plan = watch.with_snapshot(|s| targets::plan(s, &daemon.config.plan));
                    daemon.replan(plan);
                } else {
                    replan_at = Some(Instant::now() + REPLAN_DELAY);
                }
            }
            Some(record) = results.recv() => {
                daemon.result(&record);
                // Drain what is already there without going round the select.
                while let Ok(record) = results.try_recv() {
                    daemon.result(&record);
                }
            }
            Some(event) = lifecycle.recv() => daemon.lifecycle(event),
            Some(event) = observed.recv() => daemon.observed(&event),
            _ = tick.tick() => daemon.tick(&watch),
            () = proxy => {
                let client = daemon.client.clone();
                let node = daemon.config.plan.node.clone();
                proxy_checks.spawn(async move { node_proxy::check(&client, &node).await });
                proxy_due = daemon.config.node_proxy_interval.map(|i| Instant::now() + i);
            }
            Some(Ok(check)) = proxy_checks.join_next() => daemon.node_proxy(&check),
        }
    }
    drop(observer);
    daemon.engine.shutdown().await;
    Ok(())
}

impl Daemon {
    fn send(&mut self, event: Event) {
        self.events.send(event);
    }

    fn target_spec(&self, backend: &Backend) -> TargetSpec {
        let spec = &backend.spec;
        let mut request = ProbeRequest::for_spec(spec, backend.key.target);
        if backend.key.hop == crate::event::Hop::Lb {
            request.source = self
                .config
                .sources
                .iter()
                .find(|(mode, _)| *mode == backend.key.source)
                .map(|(_, source)| source.clone());
        }
        let interval = Duration::from_secs(u64::from(spec.interval_s.max(1)));
        TargetSpec {
            request,
            interval,
            rate_per_s: f64::from(backend.probers) / interval.as_secs_f64(),
        }
    }

    fn replan(&mut self, plan: targets::Plan) {
        self.warn(&plan);
        let k = self.config.probes_per_interval;
        for action in self.registry.apply(&plan, |_| k) {
            self.act(action);
        }
        self.count_endpoints(&plan);
        self.metrics.backends.clear();
        for backend in self.registry.backends() {
            self.metrics
                .backends
                .get_or_create(&LbLabels {
                    lb: backend.key.lb.as_str().to_owned(),
                })
                .inc();
        }
    }

    fn warn(&mut self, plan: &Plan) {
        let now: BTreeSet<String> = plan.warnings.iter().cloned().collect();
        for warning in now.difference(&self.warnings) {
            tracing::warn!(warning = %warning, "cannot probe");
        }
        self.warnings = now;
    }

    fn act(&mut self, action: Action) {
        let now = Instant::now();
        let at = self.view.at(now);
        match action {
            Action::Add(backend) => {
                tracing::debug!(backend = %describe(&backend), "probing");
                self.engine.upsert(backend.id, self.target_spec(&backend));
                let twin = self.twins.as_mut().and_then(|t| t.add(&backend));
                self.track(backend, now);
                if let Some(twin) = twin {
                    self.track(twin, now);
                }
            }
            Action::Respec { backend, old } => {
                let change = spec_changed(&backend, &old, SystemTime::now());
                tracing::info!(backend = %describe(&backend), old = %spec_text(&old), new = %spec_text(&backend.spec), "LB probe changed");
                self.engine.upsert(backend.id, self.target_spec(&backend));
                let twin = self.twins.as_mut().and_then(|t| t.update(&backend));
                self.retrack(backend, now);
                if let Some(twin) = twin {
                    self.retrack(twin, now);
                }
                self.lifecycle(change);
            }
            Action::Deregister(id) => {
                for id in self.with_twin(id) {
                    if let Some(t) = self.tracked.get_mut(&id) {
                        t.deregistered_at = Some(now);
                    }
                    for (prober, t) in self.view.deregister(id, at) {
                        self.transition(id, prober, t);
                    }
                }
            }
            Action::Register(id) => {
                for id in self.with_twin(id) {
                    if let Some(t) = self.tracked.get_mut(&id) {
                        t.deregistered_at = None;
                    }
                    for (prober, t) in self.view.register(id, at) {
                        self.transition(id, prober, t);
                    }
                }
            }
            Action::Relabel(backend) => {
                let twin = self.twins.as_mut().and_then(|t| t.update(&backend));
                for backend in std::iter::once(backend).chain(twin) {
                    if let Some(t) = self.tracked.get_mut(&backend.id) {
                        t.backend = backend.clone();
                    }
                    self.send(Event::Backend(backend));
                }
            }
            Action::Remove(id) => self.remove(id),
        }
    }

    /// Starts the LB view of a new backend and declares it.
    fn track(&mut self, backend: Arc<Backend>, now: Instant) {
        self.view.add(backend.id, backend.spec.clone());
        self.metrics
            .backend_up
            .get_or_create(&BackendLabels::of(&backend))
            .set(0.0);
        self.tracked.insert(
            backend.id,
            Tracked {
                backend: backend.clone(),
                reported: Vec::new(),
                since: now,
                deregistered_at: None,
                logged: None,
            },
        );
        self.send(Event::Backend(backend));
    }

    /// Restarts the LB view of a backend whose spec changed and declares it again.
    fn retrack(&mut self, backend: Arc<Backend>, now: Instant) {
        self.view.remove(backend.id);
        self.view.add(backend.id, backend.spec.clone());
        if let Some(t) = self.tracked.get_mut(&backend.id) {
            t.backend = backend.clone();
            t.since = now;
            t.logged = None;
            t.reported.clear();
        }
        self.send(Event::Backend(backend));
    }

    fn remove(&mut self, id: BackendId) {
        if let Some(twin) = self.twins.as_mut().and_then(|t| t.remove(id)) {
            self.remove(twin);
        }
        self.engine.remove(id);
        self.view.remove(id);
        self.registry.remove(id);
        if let Some(t) = self.tracked.remove(&id) {
            tracing::debug!(backend = %describe(&t.backend), "no longer probed");
            self.metrics
                .backend_up
                .remove(&BackendLabels::of(&t.backend));
        }
        self.send(Event::BackendRemoved {
            id,
            at: SystemTime::now(),
        });
    }

    fn result(&mut self, record: &ProbeRecord) {
        let Some(tracked) = self.tracked.get(&record.target) else {
            return;
        };
        if record.due < tracked.since {
            return;
        }
        let lb = tracked.backend.key.lb;
        let m = &record.measurement;
        self.probe_metrics.count(&self.metrics, lb, m);
        let Some(judged) = self.view.observe(record) else {
            return;
        };
        self.send(Event::Result(ProbeResult {
            backend: record.target,
            prober: record.prober,
            started_at: record.started_at,
            lateness: record.lateness,
            measurement: *m,
            verdict: judged.verdict,
        }));
        match judged.transition {
            Some(t) => self.transition(record.target, record.prober, t),
            None => self.first_state(record.target, record.prober, judged.verdict, judged.at),
        }
    }

    /// A prober's first probe that changed nothing still tells its state (a backend that never
    /// leaves Azure's initial down state has no transition at all): reported once as a change to
    /// the same state, with the probe's failure as the reason where it failed.
    fn first_state(&mut self, id: BackendId, prober: u32, verdict: Verdict, at: Duration) {
        let Some(tracked) = self.tracked.get_mut(&id) else {
            return;
        };
        if tracked.reported.get(prober as usize) == Some(&true) {
            return;
        }
        let Some((state, reason)) = self.view.prober_status(id, prober) else {
            return;
        };
        let reason = match verdict {
            Verdict::Failure { reason } => Some(reason),
            _ => reason,
        };
        self.transition(
            id,
            prober,
            Transition {
                from: state,
                to: state,
                reason,
                at,
            },
        );
    }

    fn transition(&mut self, id: BackendId, prober: u32, t: Transition) {
        let Some(tracked) = self.tracked.get_mut(&id) else {
            return;
        };
        let index = prober as usize;
        if tracked.reported.len() <= index {
            tracked.reported.resize(index + 1, false);
        }
        tracked.reported[index] = true;
        let backend = tracked.backend.clone();
        self.metrics
            .transitions
            .get_or_create(&StateLabels {
                lb: backend.key.lb.as_str().to_owned(),
                to: t.to.as_str().to_owned(),
            })
            .inc();
        tracing::debug!(backend = %describe(&backend), prober, from = t.from.as_str(), to = t.to.as_str(), reason = t.reason.map(|r| r.code()).unwrap_or(""), "virtual prober changed state");
        if let Some(summary) = self.view.summary(id) {
            let in_rotation: u32 = summary
                .states
                .iter()
                .filter(|(s, _)| s.in_rotation())
                .map(|(_, n)| n)
                .sum();
            let share = if summary.configured == 0 {
                0.0
            } else {
                f64::from(in_rotation) / f64::from(summary.configured)
            };
            self.metrics
                .backend_up
                .get_or_create(&BackendLabels::of(&backend))
                .set(share);
            let unanimous = summary
                .unanimous()
                .filter(|_| summary.probers == summary.configured)
                .map(|s| s.as_str());
            if unanimous.is_some() && unanimous != tracked.logged {
                tracked.logged = unanimous;
                tracing::info!(
                    backend = %describe(&backend),
                    state = t.to.as_str(),
                    reason = t.reason.map(|r| r.to_string()).unwrap_or_default(),
                    probers = summary.configured,
                    "LB view changed: every virtual prober agrees"
                );
            }
        }
        self.send(Event::Transition(StateChange {
            backend: id,
            prober,
            from: t.from,
            to: t.to,
            reason: t.reason,
            at: self.view.wall(t.at),
        }));
    }

    fn lifecycle(&mut self, event: Lifecycle) {
        self.metrics
            .lifecycle
            .get_or_create(&KindLabels {
                kind: event.kind.as_str().to_owned(),
            })
            .inc();
        let detail: Vec<String> = event
            .detail
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        tracing::info!(
            kind = event.kind.as_str(),
            object = %event.object,
            at = %event.object_time.map(crate::clock::rfc3339).unwrap_or_default(),
            seen = %crate::clock::rfc3339(event.seen_at),
            detail = %detail.join(" "),
            "lifecycle"
        );
        self.send(Event::Lifecycle(event));
    }

    fn count_endpoints(&mut self, plan: &Plan) {
        self.endpoints
            .retain(|service, _| plan.endpoints.iter().any(|c| c.service == *service));
        for count in &plan.endpoints {
            let before = self.endpoints.get(&count.service);
            if before.is_some_and(|b| b.ready == count.ready && b.total == count.total) {
                continue;
            }
            self.endpoints.insert(count.service.clone(), count.clone());
            self.lifecycle(Lifecycle {
                kind: LifecycleKind::ServiceEndpoints,
                object: count.service.clone(),
                node: None,
                address: None,
                object_time: None,
                seen_at: SystemTime::now(),
                detail: vec![
                    ("ready".to_owned(), count.ready.to_string()),
                    ("total".to_owned(), count.total.to_string()),
                    ("selector".to_owned(), count.selector.clone()),
                ],
            });
        }
    }

    fn tick(&mut self, watch: &Shared) {
        self.events.flush();
        let now = Instant::now();
        let at = self.view.at(now);
        for (id, prober, t) in self.view.tick(at) {
            self.transition(id, prober, t);
        }
        let drained: Vec<BackendId> = self
            .registry
            .draining()
            .filter(|id| {
                let Some(t) = self.tracked.get(id) else {
                    return true;
                };
                let limit = Duration::from_secs(u64::from(
                    t.backend.spec.deregistration_delay_s.unwrap_or(0),
                )) + DRAIN_MARGIN;
                self.view.fully_deregistered(*id)
                    || t.deregistered_at
                        .is_some_and(|d| now.duration_since(d) > limit)
            })
            .collect();
        for id in drained {
            self.remove(id);
        }
        let stats = self.engine.stats();
        let skipped = [
            ("late", stats.skipped_late),
            (
                "in_flight",
                stats.skipped_target_limit + stats.skipped_global_limit,
            ),
            ("results_dropped", stats.results_dropped),
        ];
        for (kind, total) in skipped {
            let labels = KindLabels {
                kind: kind.to_owned(),
            };
            raise_to(&self.metrics.skipped.get_or_create(&labels), total);
        }
        for (resource, status) in watch.status() {
            let labels = metrics::ResourceLabels {
                resource: resource.to_owned(),
            };
            raise_to(
                &self.metrics.watch_errors.get_or_create(&labels),
                status.errors,
            );
        }
    }

    fn node_proxy(&mut self, check: &node_proxy::Check) {
        self.metrics
            .api_server_up
            .set(i64::from(check.api_server.is_ok()));
        if check.api_server.is_ok() {
            self.metrics
                .node_proxy_up
                .set(i64::from(check.node_proxy.is_ok()));
        }
        let (state, event) = node_proxy::change(self.node_proxy, check, &self.config.plan.node);
        self.node_proxy = state;
        if let Some(event) = event {
            self.lifecycle(event);
        }
    }
}

/// The backend in a line: `alb Service/default/web:80 10.244.1.5:8080 pod default/web-1 (lb, 1.23)`.
pub fn describe(backend: &Backend) -> String {
    let key = &backend.key;
    format!(
        "{} {}:{} {}{} ({}, {}{}, {})",
        key.lb.as_str(),
        key.object,
        key.port,
        key.target,
        key.pod
            .as_deref()
            .map(|p| format!(" pod {p}"))
            .unwrap_or_default(),
        key.hop.as_str(),
        key.version.version,
        if key.version.what_if { " what-if" } else { "" },
        key.source.as_str(),
    )
}

/// A probe spec in a line: `http GET /healthz every 5s timeout 5s 2/2`.
pub fn spec_text(spec: &ProbeSpec) -> String {
    format!(
        "{} {}{} every {}s timeout {}s thresholds {}/{}",
        spec.protocol.as_str(),
        spec.port,
        spec.path
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default(),
        spec.interval_s,
        spec.timeout_s,
        spec.healthy_threshold,
        spec.unhealthy_threshold,
    )
}

fn spec_changed(backend: &Backend, old: &ProbeSpec, seen_at: SystemTime) -> Lifecycle {
    Lifecycle {
        kind: LifecycleKind::SpecChanged,
        object: backend.key.object.clone(),
        node: Some(backend.key.node.clone()),
        address: Some(backend.key.target.ip()),
        object_time: None,
        seen_at,
        detail: vec![
            ("port".to_owned(), backend.key.port.to_string()),
            ("version".to_owned(), backend.key.version.version.clone()),
            ("old".to_owned(), spec_text(old)),
            ("new".to_owned(), spec_text(&backend.spec)),
        ],
    }
}

/// The settled cloud and versions, for hello messages and logs.
#[derive(Clone, Debug)]
pub struct Identity {
    pub node: String,
    pub cloud: Cloud,
    pub k8s_version: String,
    pub what_if: Vec<String>,
}

/// Brings a counter mirroring a total kept elsewhere up to that total.
fn raise_to(counter: &prometheus_client::metrics::counter::Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}
