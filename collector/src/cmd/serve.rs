//! `probesim-collector serve`: the store, the gRPC ingest of the agents' streams, and the HTTP
//! listener (JSON API, `/metrics`, `/healthz`), until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::units::{parse_age, parse_size};
use crate::api;
use crate::error::{Error, Result};
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
}

impl ServeArgs {
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            retention: self.retention,
            max_size: self.max_db_size,
            ..StoreConfig::default()
        }
    }
}

/// Runs until SIGINT or SIGTERM, then stores what is pending and stops.
pub async fn run(args: ServeArgs) -> Result<()> {
    let store = SqliteStore::open(&args.db, args.store_config()).await?;
    tracing::info!(db = %args.db.display(), retention = ?args.retention, max_db_size = args.max_db_size, "store open");
    let shutdown = CancellationToken::new();

    let listener = api::bind(args.http_listen).await?;
    let bound = listener.local_addr().map_or(args.http_listen, |a| a);
    tracing::info!(listen = %bound, "HTTP API, /metrics and /healthz");
    let http = tokio::spawn(api::serve(listener, store.clone(), shutdown.clone()));

    // INGEST: the gRPC ingest server (collector/src/ingest) starts here, listening on
    // `args.grpc_listen` with `store.clone()` as its Sink, and stops on `shutdown` like the HTTP
    // listener. Until it is wired in, no agent stream is taken.
    tracing::warn!(listen = %args.grpc_listen, "gRPC ingest is not part of this build yet");

    let stopped = stop_signal().await;
    tracing::info!(signal = stopped, "stopping");
    shutdown.cancel();
    let served = http.await.map_err(|e| Error::Http {
        addr: args.http_listen.to_string(),
        source: std::io::Error::other(e),
    });
    store.close().await;
    served?
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
