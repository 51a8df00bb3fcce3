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
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::resource::Resource;
use super::selector::{FieldSelector, LabelSelector, Selector};
use super::store::Store;

mod discovery;
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
pub use list::ContinueToken;
pub use status::ApiError;

use query::Query;
use route::{Route, Subresource, Target};
use table::Form;

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

    async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = self.route(request).await.unwrap_or_else(|error| {
            tracing::debug!(%method, %path, %error, "API server: request failed");
            json(error.code, &error.status())
        });
        tracing::trace!(%method, %path, status = %response.status(), "API server");
        response
    }

    async fn route(&self, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let route = Route::parse(&path).ok_or_else(|| ApiError::no_route(&path))?;
        let read_only = |value: Value| {
            if method == Method::GET {
                Ok(json(200, &value))
            } else {
                Err(ApiError::method_not_allowed(&method, &path))
            }
        };
        match route {
            Route::Version => read_only(self.shared.version.to_json()),
            Route::Health => Ok(text(200, "ok")),
            Route::OpenApiV2 => {
                let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
                let protobuf =
                    accept.is_some_and(|a| a.contains(discovery::OPENAPI_V2_PROTOBUF_ACCEPT));
                let document = discovery::openapi_v2(&self.shared.version, protobuf);
                Ok(if protobuf {
                    full(200, document, discovery::OPENAPI_V2_PROTOBUF)
                } else {
                    json_bytes(200, document)
                })
            }
            Route::OpenApiV3 => read_only(discovery::openapi_v3()),
            Route::CoreVersions => {
                let host = request
                    .headers()
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                read_only(discovery::core_versions(host))
            }
            Route::Groups => read_only(discovery::group_list()),
            Route::Group(group) => read_only(discovery::api_group(group)),
            Route::Resources { group } => read_only(discovery::resource_list(group)),
            Route::NodeProxy { node } => self.node_proxy(&node),
            Route::Object(target) => self.objects(request, target).await,
        }
    }

    /// `/api/v1/nodes/NODE/proxy/...`: the kubelet answers `ok` when the tunnel to it is up.
    fn node_proxy(&self, node: &str) -> Result<Response<Body>, ApiError> {
        if self.shared.store.get(Resource::Node, "", node).is_none() {
            return Err(ApiError::not_found(Resource::Node, node));
        }
        if !self.node_tunnel_up(node) {
            return Err(ApiError::new(
                503,
                "ServiceUnavailable",
                TUNNEL_DOWN_MESSAGE,
            ));
        }
        Ok(text(200, "ok"))
    }

    async fn objects(
        &self,
        request: Request<Incoming>,
        target: Target,
    ) -> Result<Response<Body>, ApiError> {
        let query = Query::parse(request.uri().query().unwrap_or_default())?;
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let accept = request
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let form = table::Form::negotiate(accept, &query.include_object);
        let store = &*self.shared.store;
        let named = target.name.is_some();
        if target.subresource == Some(Subresource::Scale) {
            let (code, scale) = match method {
                Method::GET => (200, scale::get(store, &target)?),
                Method::PUT => scale::update(store, &target, &body(request).await?)?,
                Method::PATCH => {
                    scale::patch(store, &target, &content_type, &body(request).await?)?
                }
                _ => return Err(ApiError::method_not_allowed(&method, &path)),
            };
            return Ok(json(code, &scale));
        }
        let written = match method {
            Method::GET if query.watch || target.watch_path => {
                return self.watch(&target, &query, form);
            }
            Method::GET if named => {
                let object = write::get(store, &target)?;
                return Ok(match form {
                    Form::Object => json(200, &object),
                    Form::Table(include) => {
                        let table = table::table(
                            target.resource,
                            &[&object],
                            include,
                            true,
                            SystemTime::now(),
                        );
                        json(200, &table)
                    }
                });
            }
            Method::GET => {
                let selector = selector(&target, &query)?;
                let page = list::list(store, &target, &query, &selector).await?;
                return Ok(match form {
                    Form::Object => json_bytes(200, page.to_json(target.resource)),
                    Form::Table(include) => {
                        let table = table::page(target.resource, &page, include, SystemTime::now());
                        json(200, &table)
                    }
                });
            }
            Method::POST
                if !named && (target.namespace.is_some() || !target.resource.namespaced()) =>
            {
                write::create(store, &target, &body(request).await?)?
            }
            Method::PUT if named => write::update(store, &target, &body(request).await?)?,
            Method::PATCH if named => {
                write::patch(store, &target, &content_type, &body(request).await?)?
            }
            Method::DELETE if named => {
                write::delete(store, &target, &query, &body(request).await?)?
            }
            _ => return Err(ApiError::method_not_allowed(&method, &path)),
        };
        let (code, object) = written;
        Ok(json(code, &object))
    }

    fn watch(
        &self,
        target: &Target,
        query: &Query,
        form: Form,
    ) -> Result<Response<Body>, ApiError> {
        let filter = watch::Filter {
            resource: target.resource,
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            selector: selector(target, query)?,
        };
        let config = &self.shared.config;
        let from = if query.send_initial_events {
            None
        } else {
            query.revision()?
        };
        let options = watch::Options {
            from,
            bookmarks: query.allow_bookmarks.then_some(config.bookmark_interval),
            initial_events_end: query.send_initial_events && query.allow_bookmarks,
            until: Instant::now() + query.timeout.unwrap_or(config.watch_timeout),
            form,
        };
        let watch = watch::Watch::start(&self.shared.store, filter, options);
        let body = StreamBody::new(watch.into_stream());
        Ok(with_type(
            Response::new(BodyExt::boxed_unsync(body)),
            "application/json",
        ))
    }
}

fn selector(target: &Target, query: &Query) -> Result<Selector, ApiError> {
    Ok(Selector {
        labels: LabelSelector::parse(&query.label_selector)?,
        fields: FieldSelector::parse(&query.field_selector, target.resource)?,
    })
}

async fn body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body could not be read (at most {MAX_BODY} bytes): {e}"),
            )
        })
}

fn with_type(mut response: Response<Body>, content_type: &'static str) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn full(code: u16, bytes: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(bytes.into()).boxed_unsync());
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    with_type(response, content_type)
}

fn json_bytes(code: u16, bytes: Vec<u8>) -> Response<Body> {
    full(code, bytes, "application/json")
}

fn json(code: u16, value: &Value) -> Response<Body> {
    json_bytes(code, serde_json::to_vec(value).unwrap_or_default())
}

fn text(code: u16, body: &'static str) -> Response<Body> {
    full(code, body, "text/plain; charset=utf-8")
}
