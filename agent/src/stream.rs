//! Streaming to the collector (`probesim.v1`): [`Client::start`] takes the agent's events from a
//! channel, batches them (up to [`DEFAULT_MAX_BATCH_EVENTS`] events or
//! [`DEFAULT_BATCH_INTERVAL`]), numbers the batches, and keeps every batch until the collector
//! acknowledges it: in memory up to a byte bound, then in a spool directory up to its own bound
//! (see [`window`]). A lost stream is reconnected with jittered exponential backoff and every
//! unacknowledged batch is sent again, in order; the collector drops the duplicates.
//!
//! When both bounds are full the oldest batches lose their results first (then transitions and
//! lifecycle events), counted per kind; backend declarations are never dropped. The counts
//! travel with the batches, so the collector shows the loss as a gap.
//!
//! The agent's name on the wire is `<node>/<instance>`; the instance id is kept in the spool
//! directory, with a mark no sequence number used exceeds (see [`sequence`]), so that a
//! restarted agent resumes its numbering (never repeating a number) and its spooled batches.

pub mod backoff;
mod client;
pub mod config;
mod connection;
pub mod drops;
pub mod error;
pub mod export;
pub mod fixtures;
pub mod metrics;
pub mod sequence;
pub mod spool;
pub mod window;
pub mod wire;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::{
    ClientTls, DEFAULT_BATCH_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_BATCH_EVENTS,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_MEMORY_BYTES, DEFAULT_SPOOL_BYTES, DEFAULT_SPOOL_DIR,
    StreamConfig,
};
pub use drops::DropCounts;
pub use error::StreamError;
pub use metrics::{DropCounter, StreamCounters, StreamMetrics};
pub use spool::FsyncPolicy;

use crate::event::Event;

/// Starts streaming; see the module documentation.
#[derive(Debug)]
pub struct Client;

/// A running client.
#[derive(Debug)]
pub struct Handle {
    agent_id: String,
    metrics: Arc<StreamMetrics>,
    drops: Arc<DropCounter>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Client {
    /// Opens the spool, reads the TLS files and starts the client's task (on the current tokio
    /// runtime). Events are taken from `rx` until every sender is dropped or
    /// [`Handle::shutdown`].
    pub fn start(config: StreamConfig, rx: mpsc::Receiver<Event>) -> Result<Handle, StreamError> {
        config.validate()?;
        let endpoint = connection::endpoint(&config)?;
        let metrics = Arc::new(StreamMetrics::default());
        let (spool, instance, last_sequence, spooled) = match &config.spool_dir {
            Some(dir) => {
                let opened =
                    spool::Spool::open(dir, config.fsync).map_err(|source| StreamError::Spool {
                        path: dir.clone(),
                        source,
                    })?;
                (
                    Some(opened.spool),
                    opened.instance,
                    opened.last_sequence,
                    opened.batches,
                )
            }
            None => (None, format!("{:016x}", fastrand::u64(..)), 0, Vec::new()),
        };
        let bounds = window::Bounds {
            memory_bytes: config.memory_bytes,
            spool_bytes: config.spool_bytes,
        };
        let window = window::Window::new(bounds, spool.clone(), &spooled, metrics.clone());
        let agent_id = format!("{}/{}", config.node, instance);
        let hello = probesim_proto::v1::Hello {
            node: config.node.clone(),
            instance,
            cloud: config.cloud.map_or(0, wire::enums::cloud_to_wire),
            k8s_version: config.k8s_version.clone(),
            what_if_versions: config.what_if_versions.clone(),
            build: config.build.clone(),
            schema_revision: probesim_proto::SCHEMA_REVISION,
        };
        tracing::info!(agent = %agent_id, collector = %config.collector, spooled = spooled.len(), "stream: starting");
        let drops = Arc::new(DropCounter::default());
        let (stop, stop_rx) = watch::channel(false);
        let worker = client::Worker {
            config,
            endpoint,
            hello,
            window,
            sequence: sequence::Sequencer::new(last_sequence, spool),
            metrics: metrics.clone(),
            drops: drops.clone(),
        };
        let task = tokio::spawn(worker.run(rx, stop_rx));
        Ok(Handle {
            agent_id,
            metrics,
            drops,
            stop,
            task,
        })
    }
}

impl Handle {
    /// `<node>/<instance>`.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn metrics(&self) -> Arc<StreamMetrics> {
        self.metrics.clone()
    }

    /// Where producers count the events they could not hand over (a full channel).
    pub fn drop_counter(&self) -> Arc<DropCounter> {
        self.drops.clone()
    }

    /// Seals the current batch, gives unacknowledged batches the shutdown grace to reach the
    /// collector, spools the rest, and waits for the task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops the task at once, as a crash would (for tests of the spool).
    pub fn abort(self) {
        self.task.abort();
    }
}
