//! The fake Kubernetes API server: plain HTTP/1.1 over the lab's [`Store`], enough of
//! kube-apiserver for kubectl and kube-rs clients (discovery, list with paging and selectors,
//! watch with bookmarks and `410 Gone`, create/update/patch/delete, node proxy for S7).
//!
//! One server serves any number of listeners: the lab opens one on loopback in the root
//! namespace for kubectl and one inside a lab namespace for the agents (a socket keeps the
//! namespace it was created in).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use probesim_lab::api::{ApiServer, Store};
//! let server = ApiServer::new(Store::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let serving = server.serve(listener);
//! // kubectl --server http://{address} get pods -A
//! serving.abort(); // ends the listener, its connections and their watches
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::store::Store;

mod discovery;
mod handle;
mod list;
mod patch;
mod query;
mod route;
mod scale;
mod status;
mod table;
mod watch;
mod write;

pub use discovery::Version;
pub use status::ApiError;

/// The Kubernetes version `/version` reports unless the scenario sets one (AKS's default minor
/// at the time of writing).
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.30.4";
/// Interval of BOOKMARK events for watches that allow them. kube-apiserver sends one about
/// every minute; a shorter one keeps resumed watches close to the present in short lab runs.
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);
/// How long a watch without `timeoutSeconds` lasts (kube-apiserver's `--min-request-timeout`
/// default of 1800 s); the client then watches again.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// The largest request body accepted (kube-apiserver's limit, 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;
/// What the API server says when its tunnel to a node is down: konnectivity's "no agent" as
/// kube-apiserver wraps a failed dial to the kubelet (AKS's konnectivity-agent/tunnel broken).
pub const TUNNEL_DOWN_MESSAGE: &str = "error dialing backend: No agent available";
/// Pause after a failed `accept` (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

type Body = UnsyncBoxBody<Bytes, Infallible>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Kubernetes version {0:?} is not vMAJOR.MINOR.PATCH (e.g. v1.30.4)")]
    Version(String),
    #[error("bookmark interval must be longer than zero")]
    BookmarkInterval,
}

/// What the server reports and how its watches behave.
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// `gitVersion` of `/version`, e.g. `v1.30.4` or `v1.29.2-eks-5e0fdde`.
    pub kubernetes_version: String,
    pub bookmark_interval: Duration,
    pub watch_timeout: Duration,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            kubernetes_version: DEFAULT_KUBERNETES_VERSION.to_owned(),
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            watch_timeout: DEFAULT_WATCH_TIMEOUT,
        }
    }
}

impl ApiServerConfig {
    pub fn validate(&self) -> Result<Version, ConfigError> {
        if self.bookmark_interval.is_zero() {
            return Err(ConfigError::BookmarkInterval);
        }
        Version::parse(&self.kubernetes_version)
            .ok_or_else(|| ConfigError::Version(self.kubernetes_version.clone()))
    }
}

/// The API server; clones share the store and the nodes' tunnel states.
#[derive(Clone, Debug)]
pub struct ApiServer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<Store>,
    config: ApiServerConfig,
    version: Version,
    /// Nodes whose control-plane tunnel is down (S7).
    tunnels_down: Mutex<HashSet<String>>,
}

impl ApiServer {
    /// A server with the default configuration.
    pub fn new(store: Arc<Store>) -> ApiServer {
        let config = ApiServerConfig::default();
        let version = Version::parse(&config.kubernetes_version).unwrap_or_default();
        ApiServer::build(store, config, version)
    }

    pub fn with_config(
        store: Arc<Store>,
        config: ApiServerConfig,
    ) -> Result<ApiServer, ConfigError> {
        let version = config.validate()?;
        Ok(ApiServer::build(store, config, version))
    }

    fn build(store: Arc<Store>, config: ApiServerConfig, version: Version) -> ApiServer {
        ApiServer {
            shared: Arc::new(Shared {
                store,
                config,
                version,
                tunnels_down: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Breaks (`up = false`) or mends the control plane's tunnel to `node`: while broken,
    /// `/api/v1/nodes/NODE/proxy/...` answers 503 [`TUNNEL_DOWN_MESSAGE`]. Tunnels are up unless
    /// set down.
    pub fn set_node_tunnel(&self, node: &str, up: bool) {
        let mut down = self
            .shared
            .tunnels_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if up {
            down.remove(node);
        } else {
            down.insert(node.to_owned());
        }
    }

    pub fn node_tunnel_up(&self, node: &str) -> bool {
        !self
            .shared
            .tunnels_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(node)
    }

    /// Serves `listener` until the returned task is aborted, which also ends its connections
    /// and their watches. Call it inside the runtime that registered the listener.
    pub fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let server = self.clone();
        tokio::spawn(async move {
            // Connections live in this set, so aborting the accept loop ends them.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            connections.spawn(server.clone().connection(stream));
                        }
                        Err(error) => {
                            tracing::warn!(%error, "API server: accept failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        })
    }

    /// [`ApiServer::serve`] for a listener bound elsewhere, typically on a thread inside a lab
    /// network namespace (a socket keeps the namespace it was created in; a tokio listener would
    /// stay tied to that thread's runtime).
    pub fn serve_std(&self, listener: std::net::TcpListener) -> std::io::Result<JoinHandle<()>> {
        listener.set_nonblocking(true)?;
        Ok(self.serve(TcpListener::from_std(listener)?))
    }

    async fn connection(self, stream: TcpStream) {
        let service = hyper::service::service_fn(move |request| {
            let server = self.clone();
            async move { Ok::<_, Infallible>(server.answer(request).await) }
        });
        if let Err(error) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await
        {
            tracing::debug!(%error, "API server: connection ended");
        }
    }
}
