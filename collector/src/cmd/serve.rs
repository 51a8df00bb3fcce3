//! `probesim-collector serve`: the store, the gRPC ingest of the agents' streams, and the HTTP
//! listener (JSON API, `/metrics`, `/healthz`), until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;

use super::units::{parse_age, parse_size};
use crate::api;
use crate::error::{Error, Result};
use crate::ingest::{IngestConfig, TlsFiles};
use crate::server::{Collector, Listeners};
use crate::store::{SqliteStore, StoreConfig};

/// Where agents stream to (gRPC); the port the DaemonSet's `PROBESIM_COLLECTOR` names.
pub const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:9471";
/// The JSON API, `/metrics`, `/healthz` and the web UI.
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:9472";
/// The database file, on the collector's persistent volume.
pub const DEFAULT_DB: &str = "/var/lib/probesim/probesim.db";

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address of the gRPC listener the agents stream to.
    #[arg(long, env = "PROBESIM_GRPC_LISTEN", default_value = DEFAULT_GRPC_LISTEN)]
    pub grpc_listen: SocketAddr,
    /// Address of the HTTP listener: JSON API, /metrics, /healthz.
    #[arg(long, env = "PROBESIM_HTTP_LISTEN", default_value = DEFAULT_HTTP_LISTEN)]
    pub http_listen: SocketAddr,
    /// The SQLite database file (created with its directory if missing).
    #[arg(long, env = "PROBESIM_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
    /// How long timelines are kept: 7d, 36h, 90m.
    #[arg(long, env = "PROBESIM_RETENTION", default_value = "7d", value_parser = parse_age)]
    pub retention: Duration,
    /// The most the database may hold before the oldest data goes: 10GiB, 500MB.
    #[arg(long, env = "PROBESIM_MAX_DB_SIZE", default_value = "10GiB", value_parser = parse_size)]
    pub max_db_size: u64,
    /// PEM certificate chain for TLS on the gRPC port (a mounted Secret); plaintext without it.
    #[arg(long, env = "PROBESIM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "PROBESIM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that agents' client certificates must be signed by (mutual TLS).
    #[arg(long, env = "PROBESIM_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
}

impl ServeArgs {
    pub fn tls_files(&self) -> Option<TlsFiles> {
        Some(TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.client_ca.clone(),
        })
    }

    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            retention: self.retention,
            max_size: self.max_db_size,
            ..StoreConfig::default()
        }
    }
}

/// Runs until SIGINT or SIGTERM, then ends the agents' streams, stores what is pending and stops.
pub async fn run(args: ServeArgs) -> Result<()> {
    let store = SqliteStore::open(&args.db, args.store_config()).await?;
    tracing::info!(db = %args.db.display(), retention = ?args.retention, max_db_size = args.max_db_size, "store open");
    let listeners = Listeners {
        grpc: bind(args.grpc_listen, "gRPC").await?,
        http: api::bind(args.http_listen).await?,
    };
    let config = IngestConfig {
        tls: args.tls_files(),
        ..IngestConfig::default()
    };
    let collector = match Collector::start(store.clone(), listeners, config) {
        Ok(collector) => collector,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    tracing::info!(grpc = ?collector.grpc_addr(), http = ?collector.http_addr(), tls = args.tls_cert.is_some(), "serving: gRPC ingest for agents; HTTP API, /metrics and /healthz");

    let stopped = stop_signal().await;
    tracing::info!(signal = stopped, "stopping");
    collector.stop().await
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| Error::Http {
        addr: format!("{what} {addr}"),
        source,
    })
}

/// Waits for SIGINT or SIGTERM (the kubelet's stop).
async fn stop_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
