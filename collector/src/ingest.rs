//! gRPC ingest of agent streams (`probesim.v1.Ingest/Stream`).
//!
//! One long-lived stream per agent: a hello first (anything else is an `INVALID_ARGUMENT`), then
//! batches, each handed to the [`Sink`] and acknowledged once the sink made it durable. Batches at
//! or below the agent's highest stored sequence ([`Sink::last_sequence`], plus what this process
//! took since) are duplicates of a resend: acknowledged again, not stored again. Bad messages end
//! their own stream with an error status and are counted; the server keeps serving the others.

mod error;
mod hello;
mod metrics;
mod service;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use probesim_proto::v1::ingest_server::IngestServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

pub use error::{IngestError, Result};
pub use hello::agent_info;
pub use metrics::{IngestCounters, IngestMetrics};
pub use service::IngestService;
pub use tls::{TlsFiles, server_tls};

use crate::model::Sink;

/// The collector's gRPC ingest port.
pub const DEFAULT_GRPC_PORT: u16 = 9471;
/// The largest message accepted. An agent's batch holds at most 5 000 events (a few hundred
/// KiB, a few MiB when it declares thousands of backends); four times the agent's batch byte
/// bound leaves room without letting one stream pin much memory.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// HTTP/2 pings on idle connections find agents that vanished without a FIN (a node that died).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is closed.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages (acks, heartbeats) queued for one agent before its stream stops reading: twice an
/// agent's batches in flight. Kept small because every connected agent has one.
pub const RESPONSE_QUEUE: usize = 32;

/// How the ingest server runs.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub max_message_bytes: usize,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// TLS, and mutual TLS when a client CA is given; plaintext when `None`.
    pub tls: Option<TlsFiles>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            tls: None,
        }
    }
}

/// Serves ingest on `listener` until `shutdown` resolves, then ends every agent's stream with
/// `UNAVAILABLE` (agents keep their unacknowledged batches and reconnect) and returns once the
/// connections are closed. `service` comes from [`IngestService::new`] (keep its
/// [`IngestService::metrics`] to render them).
pub async fn serve<S: Sink>(
    listener: TcpListener,
    service: IngestService<S>,
    config: &IngestConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let tls = config.tls.as_ref().map(server_tls).transpose()?;
    serve_with_tls(listener, service, config, tls, shutdown).await
}

/// [`serve`] with `config.tls`'s files already read by [`server_tls`] (a caller that checks
/// them before starting reads them once).
pub async fn serve_with_tls<S: Sink>(
    listener: TcpListener,
    service: IngestService<S>,
    config: &IngestConfig,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let local = listener.local_addr().ok();
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .tcp_nodelay(true);
    let encrypted = tls.is_some();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(|e| IngestError::Tls {
            path: config
                .tls
                .as_ref()
                .map(|f| f.cert.clone())
                .unwrap_or_default(),
            message: e.to_string(),
        })?;
    }
    let close_streams = service.close_streams();
    let shutdown = async move {
        shutdown.await;
        close_streams();
    };
    let server = IngestServer::new(service).max_decoding_message_size(config.max_message_bytes);
    tracing::info!(?local, tls = encrypted, "ingest: serving");
    builder
        .add_service(server)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .map_err(|e| IngestError::Serve {
            message: e.to_string(),
        })
}

/// Serves ingest with a fresh [`IngestService`] over `sink`, returning its metrics at once and
/// the server as a task.
pub fn spawn<S: Sink>(
    listener: TcpListener,
    sink: Arc<S>,
    config: IngestConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (Arc<IngestMetrics>, tokio::task::JoinHandle<Result<()>>) {
    let service = IngestService::new(sink);
    let metrics = service.metrics();
    let task = tokio::spawn(async move { serve(listener, service, &config, shutdown).await });
    (metrics, task)
}
