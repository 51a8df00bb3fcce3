//! The fake API server against real clients, on 127.0.0.1 in the test process: kube-rs
//! (watchers, paged lists, writes), Debian's kubectl, and raw HTTP for what clients hide (410s,
//! bookmarks, the node proxy, many watches at once).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use probesim_lab::api::{ApiServer, ApiServerConfig, Store};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

mod apiserver {
    pub mod http;
    pub mod kube;
    pub mod kubectl;
    pub mod netns;
}

/// A server on an ephemeral loopback port.
struct Running {
    server: ApiServer,
    address: SocketAddr,
    serving: JoinHandle<()>,
}

impl Running {
    async fn start(store: Arc<Store>) -> Running {
        Running::with_config(store, ApiServerConfig::default()).await
    }

    async fn with_config(store: Arc<Store>, config: ApiServerConfig) -> Running {
        let server = ApiServer::with_config(store, config).expect("valid config");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let serving = server.serve(listener);
        Running {
            server,
            address,
            serving,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving (connections and watches end), as an API server restart does.
    async fn stop(&self) {
        self.serving.abort();
        while !self.serving.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Serves again on the same address.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.address).await.expect("rebind");
        self.serving = self.server.serve(listener);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

fn pod(namespace: &str, name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx"}]},
    })
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
}

/// Polls `check` until it holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
