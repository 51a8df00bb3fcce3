//! Where timelines are kept: one narrow interface ([`Store`]) over the ingest [`Sink`], and its
//! SQLite implementation ([`SqliteStore`]). A PostgreSQL store for large clusters implements the
//! same trait.
//!
//! Write path (SQLite): `accept` folds a batch into the pending flush in memory (results rolled
//! up per backend and second) and waits; a writer task commits the pending flush every
//! [`DEFAULT_FLUSH_INTERVAL`] in one transaction, the agents' last sequences included, and then
//! resolves every batch in it. A failed commit fails every waiting batch: nothing is acknowledged
//! that is not stored.

pub mod codec;
pub mod sqlite;
pub mod synthetic;

use std::future::Future;
use std::time::{Duration, SystemTime};

use probesim_agent::event::{BackendKey, Lifecycle, StateChange};
use probesim_agent::model::LbKind;

pub use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model::{AgentId, Gap, History, Rollup, Sink};
use crate::timeline::{AgentRow, BackendRow, BackendRowId, NowSummary};
pub use sqlite::SqliteStore;

/// How often the writer commits what batches brought: the longest an `accept` waits for its
/// batch to be durable (plus the commit itself). 150 ms keeps acknowledgements prompt for the
/// agents' bounded send windows while a commit carries thousands of rollups at full load.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(150);
/// How long timelines are kept by default (`--retention`): a week covers the rollouts of the
/// last few working days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How large the database may grow by default (`--max-db-size`): 10 GiB, a modest volume.
pub const DEFAULT_MAX_DB_SIZE: u64 = 10 << 30;
/// How often retention runs.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// The range of a query that names no `from`.
pub const DEFAULT_QUERY_RANGE: Duration = Duration::from_secs(3600);

/// How a store keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub flush_interval: Duration,
    /// Data older than this is deleted.
    pub retention: Duration,
    /// When the data outgrows this many bytes, the oldest is deleted until it fits.
    pub max_size: u64,
    pub retention_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            retention: DEFAULT_RETENTION,
            max_size: DEFAULT_MAX_DB_SIZE,
            retention_interval: DEFAULT_RETENTION_INTERVAL,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<()> {
        let checks = [
            (
                "flush_interval",
                self.flush_interval.is_zero(),
                format!("{:?}", self.flush_interval),
            ),
            (
                "retention",
                self.retention.is_zero(),
                format!("{:?}", self.retention),
            ),
            ("max_db_size", self.max_size == 0, self.max_size.to_string()),
            (
                "retention_interval",
                self.retention_interval.is_zero(),
                format!("{:?}", self.retention_interval),
            ),
        ];
        for (setting, bad, value) in checks {
            if bad {
                return Err(Error::Config {
                    setting,
                    value,
                    reason: "must be more than zero".to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// A closed time range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub from: SystemTime,
    pub to: SystemTime,
}

impl TimeRange {
    /// The last [`DEFAULT_QUERY_RANGE`] up to `now`.
    pub fn recent(now: SystemTime) -> TimeRange {
        TimeRange {
            from: now.checked_sub(DEFAULT_QUERY_RANGE).unwrap_or(now),
            to: now,
        }
    }
}

/// Which backends a query is about; `None` matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// `namespace/name` of the Service.
    pub service: Option<String>,
    pub node: Option<String>,
    pub lb: Option<LbKind>,
    /// The Kubernetes version the specs were derived for.
    pub version: Option<String>,
}

impl Filter {
    pub fn matches(&self, key: &BackendKey) -> bool {
        let service = || format!("{}/{}", key.service.namespace, key.service.name);
        self.service.as_ref().is_none_or(|s| *s == service())
            && self.node.as_ref().is_none_or(|n| *n == key.node)
            && self.lb.is_none_or(|lb| lb == key.lb)
            && self
                .version
                .as_ref()
                .is_none_or(|v| *v == key.version.version)
    }
}

/// A backend with its current LB view.
#[derive(Clone, Debug)]
pub struct BackendNow {
    pub backend: BackendRow,
    pub now: NowSummary,
}

/// One backend over a time range, with what happened around it.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub backend: BackendRow,
    pub range: TimeRange,
    /// Its probers' state changes in the range, in time order, preceded by each prober's last
    /// change before the range.
    pub changes: Vec<StateChange>,
    /// Its rollups in the range, in time order.
    pub rollups: Vec<Rollup>,
    /// Lifecycle events about its pod, its address, its node or its Service, in time order.
    pub lifecycle: Vec<Lifecycle>,
    /// Gaps of the agent that probes it.
    pub gaps: Vec<Gap>,
}

/// The timelines' store: ingest writes through [`Sink`], the API, reports and metrics read
/// through the rest. Reads of history go to storage; the current view and the agents are kept in
/// memory.
pub trait Store: Sink + Clone {
    /// Everything about the backends that match `filter` over `range`. Each backend's changes
    /// start with each prober's last change before the range, so its state at `from` is known.
    fn history(
        &self,
        range: TimeRange,
        filter: Filter,
    ) -> impl Future<Output = Result<History>> + Send;
    /// One backend over `range`; `None` for an unknown backend.
    fn timeline(
        &self,
        backend: BackendRowId,
        range: TimeRange,
    ) -> impl Future<Output = Result<Option<Timeline>>> + Send;
    /// Every stored backend matching `filter`, with its current LB view.
    fn backends_now(&self, filter: &Filter) -> Vec<BackendNow>;
    /// One stored backend with its current LB view; `None` for an unknown backend.
    fn backend_now(&self, backend: BackendRowId) -> Option<BackendNow>;
    /// The store's number of a backend.
    fn backend_id(&self, key: &BackendKey) -> Option<BackendRowId>;
    /// Every agent that ever connected, as stored.
    fn agents(&self) -> Vec<AgentRow>;
    fn agent(&self, id: &AgentId) -> Option<AgentRow> {
        self.agents().into_iter().find(|a| a.id == *id)
    }
    /// Ingest and storage figures for `/metrics`.
    fn metrics(&self) -> &Metrics;
}
