//! The control plane's path to this node (S7): the agent asks the API server to proxy to its own
//! kubelet (`/api/v1/nodes/NODE/proxy/healthz`: control plane → tunnel → kubelet) and reports
//! when that path fails while the API server itself answers.

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

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub api_server: Result<(), String>,
    pub node_proxy: Result<(), String>,
}

/// Checks the API server (`/version`) and the node proxy path once.
pub async fn check(client: &Client, node: &str) -> Check {
    let api_server =
        match tokio::time::timeout(NODE_PROXY_TIMEOUT, client.apiserver_version()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {NODE_PROXY_TIMEOUT:?}")),
        };
    let path = format!("/api/v1/nodes/{node}/proxy/healthz");
    let node_proxy = match http::Request::get(&path).body(Vec::new()) {
        Err(e) => Err(e.to_string()),
        Ok(request) => {
            match tokio::time::timeout(NODE_PROXY_TIMEOUT, client.request_text(request)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(kube::Error::Api(status))) if status.code == 403 => Err(format!(
                    "missing permission: cannot get nodes/proxy (RBAC: the agent's ClusterRole needs get on nodes/proxy): {}",
                    status.message
                )),
                Ok(Err(e)) => Err(format!("GET {path}: {e}")),
                Err(_) => Err(format!(
                    "GET {path}: no answer within {NODE_PROXY_TIMEOUT:?}"
                )),
            }
        }
    };
    Check {
        api_server,
        node_proxy,
    }
}

/// The path's new state and, when it changed, the lifecycle event for it. A failure only counts
/// while the API server answers (otherwise the API server is down, not the tunnel); a path that
/// works from the first check is not news.
pub fn change(
    previous: Option<bool>,
    check: &Check,
    node: &str,
    seen_at: SystemTime,
) -> (Option<bool>, Option<Lifecycle>) {
    if check.api_server.is_err() {
        return (previous, None);
    }
    let ok = check.node_proxy.is_ok();
    if previous == Some(ok) || (previous.is_none() && ok) {
        return (Some(ok), None);
    }
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
mod tests {
    use super::*;

    fn check(api: bool, proxy: bool) -> Check {
        Check {
            api_server: if api { Ok(()) } else { Err("refused".into()) },
            node_proxy: if proxy {
                Ok(())
            } else {
                Err("502 tunnel down".into())
            },
        }
    }

    #[test]
    fn the_node_proxy_path_is_reported_when_it_breaks_and_when_it_comes_back_only() {
        let at = SystemTime::UNIX_EPOCH;
        let (state, event) = change(None, &check(true, true), "n1", at);
        assert_eq!((state, event), (Some(true), None));
        let (state, event) = change(state, &check(true, false), "n1", at);
        let event = event.expect("failure reported");
        assert_eq!(event.kind, LifecycleKind::NodeProxyFailed);
        assert!(
            event
                .detail
                .iter()
                .any(|(k, v)| k == "error" && v.contains("tunnel"))
        );
        assert_eq!(state, Some(false));
        assert_eq!(change(state, &check(true, false), "n1", at).1, None);
        let (state, event) = change(state, &check(true, true), "n1", at);
        assert_eq!(
            event.map(|e| e.kind),
            Some(LifecycleKind::NodeProxyRestored)
        );
        assert_eq!(state, Some(true));
    }

    #[test]
    fn a_failing_api_server_is_not_a_broken_tunnel() {
        let at = SystemTime::UNIX_EPOCH;
        assert_eq!(
            change(Some(true), &check(false, false), "n1", at),
            (Some(true), None)
        );
        assert_eq!(change(None, &check(false, false), "n1", at), (None, None));
    }

    #[test]
    fn a_path_broken_from_the_start_is_reported() {
        let (state, event) = change(None, &check(true, false), "n1", SystemTime::UNIX_EPOCH);
        assert_eq!(state, Some(false));
        assert_eq!(event.map(|e| e.kind), Some(LifecycleKind::NodeProxyFailed));
    }
}
