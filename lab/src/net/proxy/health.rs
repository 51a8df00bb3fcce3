//! kube-proxy's health servers: one per health-check node port (externalTrafficPolicy Local
//! Services of type LoadBalancer) and the node's `:10256` with `/healthz` and `/livez`, answering
//! byte for byte as kube-proxy does (spec/azure-lb.md, section 4).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Node;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{HealthCheck, ServiceKey};

/// kube-proxy's `--healthz-bind-address` port.
pub const HEALTHZ_PORT: u16 = 10256;
/// kube-proxy is unhealthy when an update waits longer than this: twice its default
/// `--iptables-sync-period` of 30 s.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// The taint Cluster Autoscaler puts on a node it is about to delete (KEP-3836).
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";

/// What kube-proxy's health servers report: its sync state, its node's eligibility and each
/// Service's local endpoints. Shared by the sync loop (writer) and the servers (readers).
#[derive(Debug)]
pub struct ProxyHealth {
    timeout: Duration,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last_updated: Option<SystemTime>,
    oldest_pending: Option<Instant>,
    node_eligible: bool,
    services: BTreeMap<ServiceKey, HealthCheck>,
}

/// An HTTP answer: status, headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl ProxyHealth {
    pub fn new(timeout: Duration) -> Arc<ProxyHealth> {
        Arc::new(ProxyHealth {
            timeout,
            started: Instant::now(),
            state: Mutex::new(State {
                last_updated: None,
                oldest_pending: None,
                // Eligible until the Node says otherwise, as kube-proxy starts.
                node_eligible: true,
                services: BTreeMap::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A change arrived that the rules do not show yet.
    pub fn queued_update(&self) {
        let mut state = self.state();
        state.oldest_pending.get_or_insert_with(Instant::now);
    }

    /// The rules now show every change.
    pub fn updated(&self) {
        let mut state = self.state();
        state.oldest_pending = None;
        state.last_updated = Some(SystemTime::now());
    }

    /// Eligible unless the Node is being deleted or tainted for deletion by the autoscaler; a
    /// missing Node changes nothing.
    pub fn sync_node(&self, node: Option<&Node>) {
        let Some(node) = node else { return };
        let tainted = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| t.iter().any(|t| t.key == TO_BE_DELETED_TAINT));
        self.state().node_eligible = node.metadata.deletion_timestamp.is_none() && !tainted;
    }

    pub fn set_services(&self, services: BTreeMap<ServiceKey, HealthCheck>) {
        self.state().services = services;
    }

    /// kube-proxy's own health, ignoring the node: no update has waited longer than the timeout.
    pub fn is_healthy(&self) -> bool {
        let state = self.state();
        state
            .oldest_pending
            .is_none_or(|since| since.elapsed() < self.timeout)
    }

    /// The answer of a health-check node port: any path, any method.
    pub fn service_answer(&self, key: &ServiceKey) -> Answer {
        let count = self
            .state()
            .services
            .get(key)
            .map_or(0, |c| c.local_endpoints);
        let healthy = self.is_healthy();
        let status = if count > 0 && healthy { 200 } else { 503 };
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        Answer {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("X-Content-Type-Options", "nosniff".to_owned()),
                ("X-Load-Balancing-Endpoint-Weight", count.to_string()),
            ],
            // kube-proxy's dedented template: tabs, no trailing newline.
            body: format!(
                "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {count},\n\t\"serviceProxyHealthy\": {healthy}\n}}",
                quote(&key.0),
                quote(&key.1)
            ),
        }
    }

    /// The answer of `:10256` for `path`: `/healthz` also needs the node to be eligible,
    /// `/livez` does not, every other path is Go's 404.
    pub fn healthz_answer(&self, path: &str) -> Answer {
        let (last_updated, eligible) = {
            let state = self.state();
            (state.last_updated, state.node_eligible)
        };
        let proxy_healthy = self.is_healthy();
        let now = SystemTime::now();
        let healthy = match path {
            "/healthz" => proxy_healthy && eligible,
            "/livez" => proxy_healthy,
            _ => {
                return Answer {
                    status: 404,
                    headers: vec![
                        ("Content-Type", "text/plain; charset=utf-8".to_owned()),
                        ("X-Content-Type-Options", "nosniff".to_owned()),
                    ],
                    body: "404 page not found\n".to_owned(),
                };
            }
        };
        let current = self.go_time(now);
        // A healthy answer reports the current time as the last update, as kube-proxy does.
        let last = match (healthy, last_updated) {
            (true, _) => current.clone(),
            (false, Some(t)) => self.go_time(t),
            (false, None) => ZERO_TIME.to_owned(),
        };
        let body = if path == "/healthz" {
            format!(
                "{{\"lastUpdated\": {last:?},\"currentTime\": {current:?}, \"nodeEligible\": {eligible}}}"
            )
        } else {
            format!("{{\"lastUpdated\": {last:?},\"currentTime\": {current:?}}}")
        };
        Answer {
            status: if healthy { 200 } else { 503 },
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("X-Content-Type-Options", "nosniff".to_owned()),
            ],
            body,
        }
    }

    /// Go's `time.Time.String()` of a UTC wall time read with a monotonic clock:
    /// `2026-11-22 10:00:00.123456789 +0000 UTC m=+12.000000001`.
    fn go_time(&self, t: SystemTime) -> String {
        let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let date = probesim_agent::clock::rfc3339(t);
        let seconds = date.split('.').next().unwrap_or(&date).replace('T', " ");
        let nanos = format!("{:09}", since_epoch.subsec_nanos());
        let fraction = nanos.trim_end_matches('0');
        let dot = if fraction.is_empty() { "" } else { "." };
        let ago = SystemTime::now().duration_since(t).unwrap_or_default();
        let mono = self.started.elapsed().saturating_sub(ago);
        format!(
            "{seconds}{dot}{fraction} +0000 UTC m=+{}.{:09}",
            mono.as_secs(),
            mono.subsec_nanos()
        )
    }
}

/// Go's zero `time.Time`, what kube-proxy reports before its first update.
const ZERO_TIME: &str = "0001-01-01 00:00:00 +0000 UTC";

/// The health servers of one node; they run on the runtime that started them (inside the node's
/// namespace) and stop when dropped.
#[derive(Debug)]
pub struct HealthServers {
    health: Arc<ProxyHealth>,
    healthz: Option<JoinHandle<()>>,
    node_ports: BTreeMap<ServiceKey, (u16, JoinHandle<()>)>,
}

impl HealthServers {
    /// Starts `:healthz_port` (all addresses, as kube-proxy's default `0.0.0.0:10256`).
    pub async fn start(health: Arc<ProxyHealth>, healthz_port: u16) -> HealthServers {
        let answer = {
            let health = health.clone();
            move |path: &str| health.healthz_answer(path)
        };
        let healthz = match listen(healthz_port).await {
            Ok(listener) => Some(tokio::spawn(serve(listener, answer))),
            Err(e) => {
                tracing::warn!(port = healthz_port, error = %e, "kube-proxy healthz server not started");
                None
            }
        };
        HealthServers {
            health,
            healthz,
            node_ports: BTreeMap::new(),
        }
    }

    /// Opens the health-check node ports of `checks` that are not open yet, closes the others,
    /// and publishes the endpoint counts. A port that cannot be opened is tried again next time.
    pub async fn sync(&mut self, checks: &BTreeMap<ServiceKey, HealthCheck>) {
        self.health.set_services(checks.clone());
        self.node_ports.retain(|key, (port, task)| {
            let keep = checks.get(key).is_some_and(|c| c.port == *port);
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, check) in checks {
            if self.node_ports.contains_key(key) {
                continue;
            }
            match listen(check.port).await {
                Ok(listener) => {
                    let health = self.health.clone();
                    let service = key.clone();
                    let task = tokio::spawn(serve(listener, move |_path: &str| {
                        health.service_answer(&service)
                    }));
                    self.node_ports.insert(key.clone(), (check.port, task));
                }
                Err(e) => tracing::warn!(
                    service = %format!("{}/{}", key.0, key.1),
                    port = check.port,
                    error = %e,
                    "health check node port not opened"
                ),
            }
        }
    }
}

impl Drop for HealthServers {
    fn drop(&mut self) {
        if let Some(task) = &self.healthz {
            task.abort();
        }
        for (_, task) in self.node_ports.values() {
            task.abort();
        }
    }
}

async fn listen(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await
}

async fn serve<F>(listener: TcpListener, answer: F)
where
    F: Fn(&str) -> Answer + Clone + Send + Sync + 'static,
{
    // Connections live in this set, so that aborting the server ends them too.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let answer = answer.clone();
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let a = answer(req.uri().path());
                    async move { Ok::<_, Infallible>(response(a)) }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn response(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in answer.headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests;
