//! A probesim collector beside the lab's cluster: the same store, gRPC ingest and HTTP API as
//! `probesim-collector serve`, with its gRPC port on the control plane's fabric address (where
//! the nodes' agents reach it, as they reach `probesim-collector.probesim.svc` in a cluster) and
//! its HTTP API on loopback (for the report, the web UI, curl).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use probesim_collector::analysis::{self, AnalysisConfig};
use probesim_collector::ingest::{DEFAULT_GRPC_PORT, IngestConfig};
use probesim_collector::model::History;
use probesim_collector::report::Report;
use probesim_collector::server::{Collector, Listeners};
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};

use crate::cluster::Cluster;
use crate::net::topology::CONTROL_PLANE_ADDR;

/// The collector's database file in its directory.
pub const DB_FILE: &str = "probesim.db";

/// A running collector and the directory of its database.
#[derive(Debug)]
pub struct LabCollector {
    collector: Collector,
    dir: PathBuf,
    /// Removed on stop: the lab made it.
    owned_dir: bool,
    started: SystemTime,
}

impl LabCollector {
    /// Starts a collector for `cluster`. The database goes to `dir` (kept after the run), or to
    /// a fresh directory under the system's temporary directory, removed on stop.
    pub async fn start(cluster: &Cluster, dir: Option<&Path>) -> Result<LabCollector, String> {
        let (dir, owned_dir) = match dir {
            Some(dir) => (dir.to_owned(), false),
            None => (
                std::env::temp_dir().join(format!(
                    "probesim-lab-collector-{}-{:08x}",
                    std::process::id(),
                    fastrand::u32(..)
                )),
                true,
            ),
        };
        let collector = match serve(cluster, &dir.join(DB_FILE)).await {
            Ok(collector) => collector,
            Err(e) => {
                if owned_dir {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                return Err(e);
            }
        };
        Ok(LabCollector {
            collector,
            dir,
            owned_dir,
            started: SystemTime::now(),
        })
    }

    /// What the nodes' agents stream to (`PROBESIM_COLLECTOR`).
    pub fn grpc_url(&self) -> String {
        format!("http://{CONTROL_PLANE_ADDR}:{DEFAULT_GRPC_PORT}")
    }

    /// The JSON API, `/metrics` and the web UI, on loopback.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.collector.http_addr()
    }

    pub fn store(&self) -> &SqliteStore {
        self.collector.store()
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// The collector's report over everything since it started (as `/api/v1/report`), and the
    /// history it was made from.
    pub async fn report(&self) -> Result<(History, Report), String> {
        let range = TimeRange {
            from: self.started - Duration::from_secs(1),
            to: SystemTime::now() + Duration::from_secs(1),
        };
        let history = self
            .store()
            .history(range, Filter::default())
            .await
            .map_err(|e| e.to_string())?;
        let report = analysis::analyze(&history, &AnalysisConfig::default());
        Ok((history, report))
    }

    /// Stops the collector (agents' streams end), stores what is pending and removes the
    /// database directory if the lab made it.
    pub async fn stop(self) -> Result<(), String> {
        let stopped = self.collector.stop().await.map_err(|e| e.to_string());
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        stopped
    }
}

/// The store and both listeners; the store is closed again when a listener cannot be bound.
async fn serve(cluster: &Cluster, db: &Path) -> Result<Collector, String> {
    let store = SqliteStore::open(db, StoreConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let listeners = async {
        let grpc = cluster
            .bind_control_plane(DEFAULT_GRPC_PORT)
            .map_err(|e| format!("collector gRPC listener: {e}"))?;
        let http = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("collector HTTP listener: {e}"))?;
        Ok::<_, String>(Listeners { grpc, http })
    };
    let started = match listeners.await {
        Ok(listeners) => Collector::start(store.clone(), listeners, IngestConfig::default())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if started.is_err() {
        store.close().await;
    }
    started
}
