//! The collector of the UI tests: a SQLite store filled from the lab agents' events (one batch
//! per node every [`FEED_INTERVAL`], through the store's `Sink` as gRPC ingest does), served by
//! the collector's HTTP listener on 127.0.0.1.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use probesim_agent::event::Event;
use probesim_collector::model::{AgentId, AgentInfo, Batch, DropCounts, Sink};
use probesim_collector::store::{SqliteStore, StoreConfig};
use probesim_lab::agents::Agents;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the agents' new events go to the store.
pub const FEED_INTERVAL: Duration = Duration::from_millis(500);

pub struct Collector {
    pub addr: SocketAddr,
    stop: CancellationToken,
    feed: JoinHandle<Result<(), String>>,
    server: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn open() -> Result<(tempfile::TempDir, SqliteStore), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = SqliteStore::open(dir.path().join("ui.db"), StoreConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok((dir, store))
}

pub fn agent_id(node: &str) -> AgentId {
    Arc::from(format!("{node}/lab"))
}

impl Collector {
    /// A store and its HTTP API, fed from `agents` of the nodes `nodes`.
    pub async fn start(
        agents: Arc<Agents>,
        nodes: &[String],
        k8s_version: &str,
        what_if: &[String],
    ) -> Result<Collector, String> {
        let (dir, store) = open().await?;
        for node in nodes {
            store.agent_connected(&AgentInfo {
                id: agent_id(node),
                node: node.clone(),
                cloud: None,
                k8s_version: k8s_version.to_owned(),
                what_if_versions: what_if.to_vec(),
                build: "probesim-lab".to_owned(),
                connected_at: SystemTime::now(),
            });
        }
        Collector::serve(dir, store, Some(agents)).await
    }

    /// A store filled by `fill`, served without agents.
    pub async fn filled<F: Future<Output = Result<(), String>>>(
        fill: impl FnOnce(SqliteStore) -> F,
    ) -> Result<Collector, String> {
        let (dir, store) = open().await?;
        fill(store.clone()).await?;
        Collector::serve(dir, store, None).await
    }

    async fn serve(
        dir: tempfile::TempDir,
        store: SqliteStore,
        agents: Option<Arc<Agents>>,
    ) -> Result<Collector, String> {
        let addr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
        let listener = probesim_collector::api::bind(addr)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let stop = CancellationToken::new();
        let server = {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                if let Err(e) = probesim_collector::api::serve(listener, store, stop).await {
                    eprintln!("collector HTTP: {e}");
                }
            })
        };
        let feed = match agents {
            Some(agents) => tokio::spawn(feed(agents, store, stop.clone())),
            None => tokio::spawn(async { Ok(()) }),
        };
        Ok(Collector {
            addr,
            stop,
            feed,
            server,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops feeding and serving; an error of the feed is returned.
    pub async fn stop(self) -> Result<(), String> {
        self.stop.cancel();
        let fed = self.feed.await.map_err(|e| e.to_string())?;
        let _ = self.server.await;
        fed
    }
}

async fn feed(
    agents: Arc<Agents>,
    store: SqliteStore,
    stop: CancellationToken,
) -> Result<(), String> {
    let mut cursor = 0;
    let mut sequences: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(FEED_INTERVAL) => false,
            () = stop.cancelled() => true,
        };
        let events = agents.events();
        let mut per_node: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for reported in events.into_iter().skip(cursor) {
            cursor += 1;
            per_node
                .entry(reported.node)
                .or_default()
                .push(reported.event);
        }
        for (node, events) in per_node {
            let sequence = sequences.entry(node.clone()).or_default();
            *sequence += 1;
            let batch = Batch {
                agent: agent_id(&node),
                sequence: *sequence,
                sent_at: SystemTime::now(),
                events,
                dropped: DropCounts::default(),
            };
            store
                .accept(batch)
                .await
                .map_err(|e| format!("batch {sequence} of {node}: {e}"))?;
        }
        if stopping {
            return Ok(());
        }
    }
}
