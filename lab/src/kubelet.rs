//! The kubelet of one lab node: it runs the pods bound to its node, as the real one does, on a
//! thread inside the node's network namespace (its readiness probes leave from the node, like a
//! host-network kubelet's).
//!
//! created → (network, IP) → containers start → application listens → Running → readiness probe
//! passes → Ready; deletionTimestamp → Terminating → preStop → SIGTERM → the application stops
//! accepting and exits, or is killed when the grace period ends → the Pod object is removed.

pub mod nginx;
pub mod pod;
pub mod readiness;
pub mod status;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use probesim_agent::netns::{NetNs, NetnsError};
use probesim_agent::probe::tls::TlsConfigs;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::api::{EventType, Resource, Store};
use crate::apps::Apps;
use crate::truth::Truth;

/// Gives pods their network: a namespace with the pod's IP, joined to its node.
pub trait PodNetwork: Send + Sync + fmt::Debug {
    /// Gives the pod an address of its node's pod CIDR and creates its network.
    fn attach(&self, node: &str, pod: &str) -> Result<(Arc<NetNs>, Ipv4Addr), String>;
    fn detach(&self, pod: &str);
}

/// What a kubelet knows of its node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub ip: Ipv4Addr,
    /// The cluster's Kubernetes minor version (the probes' `User-Agent`).
    pub k8s_minor: u32,
}

/// Shared by the kubelet's pod tasks.
#[derive(Debug)]
pub struct Context {
    pub node: NodeInfo,
    pub store: Arc<Store>,
    pub apps: Arc<Apps>,
    pub truth: Truth,
    pub network: Arc<dyn PodNetwork>,
    pub tls: TlsConfigs,
}

/// A running kubelet; dropping it stops it (pods are not terminated gracefully then).
#[derive(Debug)]
pub struct Kubelet {
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<Result<(), NetnsError>>>,
}

impl Kubelet {
    /// Starts the kubelet of `node` on a thread inside `node_netns`.
    pub fn start(
        node_netns: &NetNs,
        node: NodeInfo,
        store: Arc<Store>,
        apps: Arc<Apps>,
        truth: Truth,
        network: Arc<dyn PodNetwork>,
    ) -> Result<Kubelet, NetnsError> {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let ctx = Arc::new(Context {
            node,
            store,
            apps,
            truth,
            network,
            tls: TlsConfigs::new(),
        });
        let thread = node_netns.spawn(move || run(ctx, stop))?;
        Ok(Kubelet {
            cancel,
            thread: Some(thread),
        })
    }

    /// Stops the kubelet and waits for its thread; pods still running are killed.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.cancel.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Follows the store's pods; one task per pod bound to this node.
async fn run(ctx: Arc<Context>, cancel: CancellationToken) {
    let mut events = ctx.store.subscribe();
    let mut pods: HashMap<String, watch::Sender<Arc<Value>>> = HashMap::new();
    let tasks = tokio_util::task::TaskTracker::new();
    resync(&ctx, &mut pods, &tasks, &cancel);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            event = events.recv() => match event {
                Ok(event) if event.resource == Resource::Pod => {
                    let deleted = event.kind == EventType::Deleted;
                    deliver(&ctx, &mut pods, &tasks, &cancel, event.object, deleted);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => resync(&ctx, &mut pods, &tasks, &cancel),
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
        pods.retain(|_, tx| !tx.is_closed());
    }
    tasks.close();
    tasks.wait().await;
}

fn resync(
    ctx: &Arc<Context>,
    pods: &mut HashMap<String, watch::Sender<Arc<Value>>>,
    tasks: &tokio_util::task::TaskTracker,
    cancel: &CancellationToken,
) {
    let (current, _) = ctx.store.list(Resource::Pod, None);
    let present: BTreeSet<String> = current.iter().map(|p| status::pod_key(p)).collect();
    for (key, tx) in pods.iter() {
        if !present.contains(key) {
            tx.send_replace(Arc::new(Value::Null));
        }
    }
    for pod in current {
        deliver(ctx, pods, tasks, cancel, pod, false);
    }
}

/// Hands a pod's new state to its task, starting one for a pod newly bound to this node.
fn deliver(
    ctx: &Arc<Context>,
    pods: &mut HashMap<String, watch::Sender<Arc<Value>>>,
    tasks: &tokio_util::task::TaskTracker,
    cancel: &CancellationToken,
    object: Arc<Value>,
    deleted: bool,
) {
    if object["spec"]["nodeName"].as_str() != Some(ctx.node.name.as_str()) {
        return;
    }
    let key = status::pod_key(&object);
    let state = if deleted {
        Arc::new(Value::Null)
    } else {
        object
    };
    if let Some(tx) = pods.get(&key) {
        tx.send_replace(state);
        return;
    }
    if deleted {
        return;
    }
    let (tx, rx) = watch::channel(state);
    pods.insert(key.clone(), tx);
    tasks.spawn(pod::run(ctx.clone(), key, rx, cancel.child_token()));
}
