//! A running collector: the store, the gRPC ingest the agents stream to and the HTTP listener
//! (JSON API, `/metrics`, `/healthz`), started and stopped together. `probesim-collector serve`
//! runs one until a signal; the lab runs one beside its cluster.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::error::{Error, Result};
use crate::ingest::{self, IngestConfig, IngestService};
use crate::store::{SqliteStore, Store as _};

/// The two listeners, bound by the caller (in whichever network namespace it needs).
#[derive(Debug)]
pub struct Listeners {
    /// Where agents stream to (`probesim.v1.Ingest`).
    pub grpc: TcpListener,
    /// The JSON API, `/metrics` and `/healthz`.
    pub http: TcpListener,
}

/// The collector's tasks over one store.
#[derive(Debug)]
pub struct Collector {
    store: SqliteStore,
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    http: JoinHandle<Result<()>>,
    ingest: JoinHandle<ingest::Result<()>>,
}

impl Collector {
    /// Serves ingest and HTTP over `store`. TLS files are read first, and only then, so that a
    /// missing or malformed certificate stops the start with an error naming the file.
    pub fn start(store: SqliteStore, listeners: Listeners, config: IngestConfig) -> Result<Self> {
        let tls = config.tls.as_ref().map(ingest::server_tls).transpose()?;
        let grpc_addr = listeners.grpc.local_addr().ok();
        let http_addr = listeners.http.local_addr().ok();
        let shutdown = CancellationToken::new();
        let http = tokio::spawn(api::serve(listeners.http, store.clone(), shutdown.clone()));
        let service =
            IngestService::with_metrics(Arc::new(store.clone()), store.metrics().ingest.clone());
        let stop = shutdown.clone().cancelled_owned();
        let ingest = tokio::spawn(async move {
            ingest::serve_with_tls(listeners.grpc, service, &config, tls, stop).await
        });
        Ok(Collector {
            store,
            grpc_addr,
            http_addr,
            shutdown,
            http,
            ingest,
        })
    }

    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Ends the agents' streams (they keep what was not acknowledged), lets HTTP requests in
    /// flight finish, stores what is pending and closes the store. The first error of the three
    /// is returned; the store is closed either way.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        let ingest = match self.ingest.await {
            Ok(result) => result.map_err(Error::from),
            Err(stopped) => Err(Error::from(ingest::IngestError::Serve {
                message: stopped.to_string(),
            })),
        };
        let http = self.http.await.unwrap_or_else(|stopped| {
            Err(Error::Http {
                addr: self
                    .http_addr
                    .map_or_else(|| "?".to_owned(), |a| a.to_string()),
                source: std::io::Error::other(stopped),
            })
        });
        self.store.close().await;
        ingest.and(http)
    }
}
