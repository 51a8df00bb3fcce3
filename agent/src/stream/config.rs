//! How the streaming client runs, with named defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::Cloud;

use super::backoff::{DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN};
use super::error::StreamError;
use super::spool::FsyncPolicy;

/// A batch is sealed at this many events: a few hundred KiB of results, well under the
/// collector's message bound even when every event declares a backend.
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 5_000;
/// ...or this long after its first event: results reach the timeline within a fraction of the
/// shortest probe interval (1 s on ALB... 5 s on Azure).
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_millis(200);
/// Unacknowledged batches kept in memory before they go to the spool: at 20 bytes a result,
/// about three million results.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// The spool's bound: about fifty million results, minutes of a busy node's probes, hours of a
/// typical one.
pub const DEFAULT_SPOOL_BYTES: u64 = 1024 * 1024 * 1024;
/// Batches sent and not yet acknowledged: enough to keep a stream busy across a round trip
/// while the collector stores earlier ones.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// A heartbeat goes out this often while the stream is up.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A stream on which the collector said nothing for this long (three heartbeats) is dead.
pub const DEFAULT_SILENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting, TLS and the hello's welcome must take less than this.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// On shutdown, unacknowledged batches get this long to reach the collector before they are
/// spooled.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Where the agent keeps its instance id and spooled batches.
pub const DEFAULT_SPOOL_DIR: &str = "/var/lib/probesim/spool";
/// The largest message the agent accepts from the collector (acks and heartbeats are tiny).
pub const MAX_COLLECTOR_MESSAGE_BYTES: usize = 1024 * 1024;

/// PEM files for TLS to the collector (Kubernetes Secrets mounted in the pod).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// `PROBESIM_COLLECTOR_CA`: the CA that signed the collector's certificate; required for
    /// `https://` collectors.
    pub ca: Option<PathBuf>,
    /// `PROBESIM_COLLECTOR_CERT` and `PROBESIM_COLLECTOR_KEY`: the agent's certificate for
    /// mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name to verify the collector's certificate against, if not the URL's host.
    pub domain: Option<String>,
}

#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// `PROBESIM_COLLECTOR`: `http://host:9471`, or `https://...` for TLS.
    pub collector: String,
    pub tls: ClientTls,
    /// `NODE_NAME`.
    pub node: String,
    pub cloud: Option<Cloud>,
    pub k8s_version: String,
    pub what_if_versions: Vec<String>,
    /// The agent's build, e.g. `probesim-agent 0.1.0`.
    pub build: String,
    /// `PROBESIM_SPOOL_DIR`; without one, unacknowledged batches live in memory only and the
    /// instance id is new at every start.
    pub spool_dir: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub max_batch_events: usize,
    pub batch_interval: Duration,
    pub memory_bytes: u64,
    pub spool_bytes: u64,
    pub max_in_flight: usize,
    pub heartbeat_interval: Duration,
    pub silence_timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub shutdown_grace: Duration,
}

impl StreamConfig {
    /// The defaults, for one collector and node.
    pub fn new(collector: impl Into<String>, node: impl Into<String>) -> StreamConfig {
        StreamConfig {
            collector: collector.into(),
            tls: ClientTls::default(),
            node: node.into(),
            cloud: None,
            k8s_version: String::new(),
            what_if_versions: Vec::new(),
            build: concat!("probesim-agent ", env!("CARGO_PKG_VERSION")).to_owned(),
            spool_dir: Some(PathBuf::from(DEFAULT_SPOOL_DIR)),
            fsync: FsyncPolicy::default(),
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
            batch_interval: DEFAULT_BATCH_INTERVAL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            spool_bytes: DEFAULT_SPOOL_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            silence_timeout: DEFAULT_SILENCE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff_min: DEFAULT_BACKOFF_MIN,
            backoff_max: DEFAULT_BACKOFF_MAX,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    pub fn validate(&self) -> Result<(), StreamError> {
        let collector = |message: &str| StreamError::Collector {
            value: self.collector.clone(),
            env: "PROBESIM_COLLECTOR",
            message: message.to_owned(),
        };
        let https = self.collector.starts_with("https://");
        if !https && !self.collector.starts_with("http://") {
            return Err(collector("must start with http:// or https://"));
        }
        if https && self.tls.ca.is_none() {
            return Err(collector(
                "https:// needs the collector's CA (PROBESIM_COLLECTOR_CA)",
            ));
        }
        if !https && (self.tls.ca.is_some() || self.tls.cert.is_some()) {
            return Err(collector("TLS files are set: use https://"));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(StreamError::Config {
                field: "tls",
                value: format!("cert={:?} key={:?}", self.tls.cert, self.tls.key),
                message: "PROBESIM_COLLECTOR_CERT and PROBESIM_COLLECTOR_KEY go together".into(),
            });
        }
        if self.node.is_empty() || self.node.contains('/') {
            return Err(StreamError::Config {
                field: "node",
                value: format!("{:?}", self.node),
                message: "NODE_NAME must be a node name".into(),
            });
        }
        let positive = [
            ("max_batch_events", self.max_batch_events == 0),
            ("max_in_flight", self.max_in_flight == 0),
            ("batch_interval", self.batch_interval.is_zero()),
            ("heartbeat_interval", self.heartbeat_interval.is_zero()),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(StreamError::Config {
                field,
                value: "0".into(),
                message: "must be positive".into(),
            });
        }
        Ok(())
    }
}
