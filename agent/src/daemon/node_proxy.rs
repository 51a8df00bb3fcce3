//! The control plane's path to this node (S7): the agent asks the API server to proxy to its own
//! kubelet (`/api/v1/nodes/NODE/proxy/healthz`: control plane → tunnel → kubelet) and reports
//! when that path fails while the API server itself answers.
//!
//! A check sends exactly one request per path, without retries: kube's default client stack
//! retries 429/503/504 answers with backoff, which would hide an outage shorter than the check's
//! timeout and miss one that ends during the retries. Checks therefore go through a client made
//! by [`client`] (kube's retry layer off) and under their own [`NODE_PROXY_TIMEOUT`]. What a
//! check finds is stamped with the moment its requests left ([`Check::started_at`]), not the
//! moment the answers came back.

use std::time::{Duration, SystemTime};

use kube::Client;

use crate::event::{Lifecycle, LifecycleKind};
use crate::model::ObjectRef;

/// How often the path is checked, unless configured: `kubectl logs` users notice a broken
/// tunnel within about this long.
pub const DEFAULT_NODE_PROXY_INTERVAL: Duration = Duration::from_secs(10);
/// How long one check may take: the API server's own proxy timeout is longer, but a tunnel that
/// needs more than this is broken for `kubectl exec` users.
pub const NODE_PROXY_TIMEOUT: Duration = Duration::from_secs(5);

/// The client for the checks: `config` (the one the agent's watches use) with kube's retry layer
/// off, so that one check is one request and a 503 is an answer, not something to retry.
pub fn client(mut config: kube::Config) -> kube::Result<Client> {
    config.default_retry = false;
    Client::try_from(config)
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// When the check's requests left: the moment its findings are stamped with.
    pub started_at: SystemTime,
    pub api_server: Result<(), String>,
    pub node_proxy: Result<(), String>,
}

/// Checks the API server (`/version`) and the node proxy path once, both at the same moment,
/// within [`NODE_PROXY_TIMEOUT`]. `client` must not retry (see [`client`]): one check is one
/// request per path.
pub async fn check(client: &Client, node: &str) -> Check {
    check_within(client, node, NODE_PROXY_TIMEOUT).await
}

/// [`check`] with another timeout.
pub async fn check_within(client: &Client, node: &str, timeout: Duration) -> Check {
    let started_at = SystemTime::now();
    let (api_server, node_proxy) = tokio::join!(
        api_server(client, timeout),
        node_proxy(client, node, timeout)
    );
    Check {
        started_at,
        api_server,
        node_proxy,
    }
}

async fn api_server(client: &Client, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("GET /version: {e}")),
        Err(_) => Err(format!("GET /version: no answer within {timeout:?}")),
    }
}

async fn node_proxy(client: &Client, node: &str, timeout: Duration) -> Result<(), String> {
    let path = format!("/api/v1/nodes/{node}/proxy/healthz");
    let request = http::Request::get(&path)
        .body(Vec::new())
        .map_err(|e| format!("GET {path}: {e}"))?;
    match tokio::time::timeout(timeout, client.request_text(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(status))) if status.code == 403 => Err(format!(
            "missing permission: cannot get nodes/proxy (RBAC: the agent's ClusterRole needs get on nodes/proxy): {}",
            status.message
        )),
        Ok(Err(e)) => Err(format!("GET {path}: {e}")),
        Err(_) => Err(format!("GET {path}: no answer within {timeout:?}")),
    }
}

/// The path's new state and, when it changed, the lifecycle event for it, stamped with the
/// check's start. A failure only counts while the API server answers (otherwise the API server
/// is down, not the tunnel); a path that works from the first check is not news.
pub fn change(
    previous: Option<bool>,
    check: &Check,
    node: &str,
) -> (Option<bool>, Option<Lifecycle>) {
    if check.api_server.is_err() {
        return (previous, None);
    }
    let ok = check.node_proxy.is_ok();
    if previous == Some(ok) || (previous.is_none() && ok) {
        return (Some(ok), None);
    }
    let seen_at = check.started_at;
    let event = match &check.node_proxy {
        Ok(()) => lifecycle(LifecycleKind::NodeProxyRestored, node, seen_at, Vec::new()),
        Err(why) => lifecycle(
            LifecycleKind::NodeProxyFailed,
            node,
            seen_at,
            vec![
                ("error".to_owned(), why.clone()),
                ("api_server".to_owned(), "ok".to_owned()),
            ],
        ),
    };
    (Some(ok), Some(event))
}

fn lifecycle(
    kind: LifecycleKind,
    node: &str,
    seen_at: SystemTime,
    detail: Vec<(String, String)>,
) -> Lifecycle {
    Lifecycle {
        kind,
        object: ObjectRef::new("Node", "", node),
        node: Some(node.to_owned()),
        address: None,
        object_time: None,
        seen_at,
        detail,
    }
}

#[cfg(test)]
mod tests;
