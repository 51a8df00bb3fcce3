//! The agent's Prometheus metrics. Label values come from the cluster's own objects and this
//! node's backends, so cardinality is bounded by what the node probes; a backend's series go
//! when the backend does. Outcome and state labels take a fixed set of values.

pub mod scraped;
mod watch;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::discovery::watch::Shared;
use crate::event::Backend;
use crate::observe::ObserverStats;
use crate::stream::StreamMetrics;
pub use scraped::{Attached, Sample, Scraped};

/// Probe duration buckets, in seconds: loopback answers up to the clouds' longest timeouts.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub lb: String,
    pub service: String,
    pub port: String,
    pub target: String,
    pub version: String,
    pub hop: String,
    pub source: String,
}

impl BackendLabels {
    pub fn of(backend: &Backend) -> BackendLabels {
        let key = &backend.key;
        BackendLabels {
            lb: key.lb.as_str().to_owned(),
            service: format!("{}/{}", key.service.namespace, key.service.name),
            port: key.port.to_string(),
            target: key.target.to_string(),
            version: key.version.version.clone(),
            hop: key.hop.as_str().to_owned(),
            source: key.source.as_str().to_owned(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub lb: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LbLabels {
    pub lb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub lb: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

/// Every metric of the agent.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// The collector stream's counters, once a stream runs.
    pub stream: Arc<Attached<StreamMetrics>>,
    /// The passive observer's counters, once it runs.
    pub observer: Arc<Attached<ObserverStats>>,
    /// The watches' counters, once attached ([`Metrics::attach_watch`]).
    pub watch: Arc<Attached<Shared>>,
    pub backend_up: Family<BackendLabels, Gauge<f64, AtomicU64>>,
    pub probes: Family<OutcomeLabels, Counter>,
    pub duration: Family<LbLabels, Histogram>,
    pub transitions: Family<StateLabels, Counter>,
    pub backends: Family<LbLabels, Gauge>,
    pub lifecycle: Family<KindLabels, Counter>,
    pub dropped: Family<KindLabels, Counter>,
    pub skipped: Family<KindLabels, Counter>,
    pub watch_errors: Family<ResourceLabels, Counter>,
    pub node_proxy_up: Gauge,
    pub api_server_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("probesim");
        let stream = Arc::new(Attached::<StreamMetrics>::default());
        registry.register_collector(Box::new(stream.clone()));
        let observer = Arc::new(Attached::<ObserverStats>::default());
        registry.register_collector(Box::new(observer.clone()));
        let watch = Arc::new(Attached::<Shared>::default());
        registry.register_collector(Box::new(watch.clone()));
        let backend_up = Family::<BackendLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "backend_up",
            "Share of the virtual probers whose emulated LB has the backend in rotation (0 to 1)",
            backend_up.clone(),
        );
        let probes = Family::<OutcomeLabels, Counter>::default();
        registry.register("probes", "Probes sent, by LB and outcome", probes.clone());
        let duration = Family::<LbLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        registry.register(
            "probe_duration_seconds",
            "Duration of a probe, from its connect to its close",
            duration.clone(),
        );
        let transitions = Family::<StateLabels, Counter>::default();
        registry.register(
            "lb_transitions",
            "Virtual probers' LB state changes, by the state entered",
            transitions.clone(),
        );
        let backends = Family::<LbLabels, Gauge>::default();
        registry.register("backends", "Backends probed, by LB", backends.clone());
        let lifecycle = Family::<KindLabels, Counter>::default();
        registry.register(
            "lifecycle_events",
            "Lifecycle events seen, by kind",
            lifecycle.clone(),
        );
        let dropped = Family::<KindLabels, Counter>::default();
        registry.register(
            "events_dropped",
            "Events not handed to the collector stream because it was behind, by kind",
            dropped.clone(),
        );
        let skipped = Family::<KindLabels, Counter>::default();
        registry.register(
            "probes_skipped",
            "Probes the engine did not send (its own limits, never the backend's failure), by reason",
            skipped.clone(),
        );
        let watch_errors = Family::<ResourceLabels, Counter>::default();
        registry.register(
            "watch_errors",
            "Failed lists and watches of the Kubernetes API, by resource",
            watch_errors.clone(),
        );
        let node_proxy_up = Gauge::default();
        registry.register(
            "node_proxy_up",
            "Whether the API server reaches this node's kubelet through its node proxy (1) or not (0)",
            node_proxy_up.clone(),
        );
        let api_server_up = Gauge::default();
        registry.register(
            "api_server_up",
            "Whether the API server answered the agent's last check",
            api_server_up.clone(),
        );
        Metrics {
            registry,
            stream,
            observer,
            watch,
            backend_up,
            probes,
            duration,
            transitions,
            backends,
            lifecycle,
            dropped,
            skipped,
            watch_errors,
            node_proxy_up,
            api_server_up,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
