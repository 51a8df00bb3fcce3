//! The SQLite store: one database file in WAL mode, a writer connection owned by the writer task
//! and a reader connection for queries (WAL lets them run side by side).

mod history;
mod query;
pub mod retention;
mod rows;
pub mod schema;
mod sink;
mod write;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use probesim_agent::event::{BackendId, BackendKey};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{BackendNow, Filter, Store, StoreConfig, TimeRange, Timeline};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model::{AgentId, History, SinkError};
use crate::timeline::{AgentRow, BackendRow, BackendRowId, LbNow, Pending, Registry};
pub use retention::Swept;
use schema::storage;

/// The SQLite store. Cheap to clone: clones share the database and the writer.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    config: StoreConfig,
    state: Mutex<State>,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    metrics: Metrics,
    upsert: String,
    shutdown: CancellationToken,
    /// Serialises flushes and retention runs.
    flushing: tokio::sync::Mutex<()>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A batch waiting for the flush that stores it: its agent, its sequence, where to answer.
type Waiter = (AgentId, u64, oneshot::Sender<Result<(), SinkError>>);

#[derive(Debug, Default)]
struct State {
    /// What the database holds.
    durable: Registry,
    /// `durable` and the pending flush.
    live: Registry,
    now: LbNow,
    pending: Pending,
    waiters: Vec<Waiter>,
    /// Per agent, the lowest sequence a failed flush refused: a later batch of the agent is
    /// refused until that one comes again, since taking it would make the resend of the
    /// refused ones look like duplicates of it (an agent's batches pipeline).
    refused: HashMap<AgentId, u64>,
    closed: bool,
}

fn blocking_error(path: &Path, op: &str, e: tokio::task::JoinError) -> Error {
    Error::TaskStopped {
        path: path.to_owned(),
        op: op.to_owned(),
        reason: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, brings its schema up to date, loads the agents
    /// and backends, and starts the writer task. Call within a tokio runtime.
    pub async fn open(path: impl Into<PathBuf>, config: StoreConfig) -> Result<SqliteStore> {
        config.validate()?;
        let path: PathBuf = path.into();
        let p = path.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<_> {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.to_owned(),
                    op: "create the database's directory".to_owned(),
                    source,
                })?;
            }
            let mut writer = Connection::open(&p).map_err(storage(&p, "open"))?;
            schema::prepare(&mut writer, &p)?;
            // Queries cannot write, whatever a bug in them would try.
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let reader =
                Connection::open_with_flags(&p, flags).map_err(storage(&p, "open for reading"))?;
            let (registry, now) = query::load(&reader, &p)?;
            Ok((writer, reader, registry, now))
        })
        .await
        .map_err(|e| blocking_error(&path, "open", e))??;
        let (writer, reader, registry, now) = opened;
        let inner = Arc::new(Inner {
            path,
            config,
            state: Mutex::new(State {
                live: registry.clone(),
                durable: registry,
                now,
                ..State::default()
            }),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            metrics: Metrics::default(),
            upsert: write::rollup_upsert_sql(),
            shutdown: CancellationToken::new(),
            flushing: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(writer::run(inner.clone()));
        if let Ok(mut slot) = inner.task.lock() {
            *slot = Some(task);
        }
        Ok(SqliteStore { inner })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Stores what is pending, stops the writer, and refuses batches from now on.
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Runs retention now, as of `now` (the writer runs it every `retention_interval`).
    pub async fn run_retention(&self, now: SystemTime) -> Result<Swept> {
        writer::retention(&self.inner, now).await
    }

    /// Stores what is pending now instead of at the next tick.
    pub async fn flush(&self) {
        writer::flush(&self.inner).await;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Runs `f` on the reader connection, off the async workers.
    async fn read<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection, &Path) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = lock(&inner.reader);
            f(&conn, &inner.path)
        })
        .await
        .map_err(|e| blocking_error(&self.inner.path, op, e))?
    }
}

/// A poisoned lock means a panic while holding it; the data behind it is still consistent at
/// the granularity of whole flushes, so the store carries on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The agent's number of a stored backend (as the agent that declared it last knows it): one
/// lookup in the registry's index, so a history of many backends stays linear under the lock.
fn agent_number(registry: &Registry, backend: &BackendRow) -> BackendId {
    registry
        .number_of(&backend.agent, backend.id)
        .unwrap_or_else(|| u64::try_from(backend.id).unwrap_or(0))
}

impl Store for SqliteStore {
    async fn history(&self, range: TimeRange, filter: Filter) -> Result<History> {
        let (backends, agents) = {
            let state = self.state();
            let backends: Vec<(BackendRow, BackendId)> = state
                .durable
                .backends
                .values()
                .filter(|b| filter.matches(&b.key))
                .filter(|b| {
                    b.first_seen <= range.to && b.removed_at.is_none_or(|r| r >= range.from)
                })
                .map(|b| (b.clone(), agent_number(&state.durable, b)))
                .collect();
            let agents: Vec<AgentRow> = state.durable.agents.values().cloned().collect();
            (backends, agents)
        };
        let everything = filter == Filter::default();
        self.read("query history", move |conn, path| {
            history::history(conn, path, range, everything, backends, agents)
        })
        .await
    }

    async fn timeline(&self, backend: BackendRowId, range: TimeRange) -> Result<Option<Timeline>> {
        let found = {
            let state = self.state();
            state
                .durable
                .backends
                .get(&backend)
                .map(|b| (b.clone(), agent_number(&state.durable, b)))
        };
        let Some((backend, number)) = found else {
            return Ok(None);
        };
        self.read("query a timeline", move |conn, path| {
            history::timeline(conn, path, range, backend, number).map(Some)
        })
        .await
    }

    fn backends_now(&self, filter: &Filter) -> Vec<BackendNow> {
        let state = self.state();
        let mut out: Vec<BackendNow> = state
            .durable
            .backends
            .values()
            .filter(|b| filter.matches(&b.key))
            .map(|b| BackendNow {
                backend: b.clone(),
                now: state.now.summary(b.id),
            })
            .collect();
        out.sort_by_key(|b| b.backend.id);
        out
    }

    fn backend_now(&self, backend: BackendRowId) -> Option<BackendNow> {
        let state = self.state();
        state.durable.backends.get(&backend).map(|b| BackendNow {
            backend: b.clone(),
            now: state.now.summary(b.id),
        })
    }

    fn backend_id(&self, key: &BackendKey) -> Option<BackendRowId> {
        self.state().durable.row_of_key(key)
    }

    fn agents(&self) -> Vec<AgentRow> {
        let mut agents: Vec<AgentRow> = self.state().durable.agents.values().cloned().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        agents
    }

    fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
