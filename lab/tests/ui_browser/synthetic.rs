//! A collector without agents for the UI's scale check: a SQLite store filled by a function
//! (through the store's `Sink`, as ingest does), served by the collector's HTTP listener on
//! 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use probesim_collector::model::AgentId;
use probesim_collector::store::{SqliteStore, StoreConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Collector {
    pub addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

pub fn agent_id(node: &str) -> AgentId {
    Arc::from(format!("{node}/synthetic"))
}

impl Collector {
    /// A store filled by `fill`, served.
    pub async fn filled<F: Future<Output = Result<(), String>>>(
        fill: impl FnOnce(SqliteStore) -> F,
    ) -> Result<Collector, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = SqliteStore::open(dir.path().join("ui.db"), StoreConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        fill(store.clone()).await?;
        let addr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
        let listener = probesim_collector::api::bind(addr)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let stop = CancellationToken::new();
        let server = {
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Err(e) = probesim_collector::api::serve(listener, store, stop).await {
                    eprintln!("collector HTTP: {e}");
                }
            })
        };
        Ok(Collector {
            addr,
            stop,
            server,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}
