//! One node's dataplane: a loop inside the node's namespace that follows the store and keeps
//! kube-proxy's rules, the NetworkPolicy rules and kube-proxy's health servers in step with the
//! objects, as kube-proxy and a policy engine do on a real node.
//!
//! Every change of the store (its revision) is debounced, then everything is rendered again and
//! applied in one `iptables-restore`, like kube-proxy's full sync; identical rules are not
//! written again, except on the periodic resync. The rules follow a change well within a second.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use probesim_agent::netns::{NetNs, NetnsError};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::addr::Ipv4Cidr;
use super::iptables::{self, Hook, Ruleset, Table};
use super::proxy::health::{DEFAULT_HEALTH_TIMEOUT, HEALTHZ_PORT, HealthServers, ProxyHealth};
use super::proxy::{self, NodeView};
use super::topology::CLUSTER_CIDR;
use super::{NetError, Result, policy};
use crate::api::Store;

/// Changes closer together than this are applied together: one rollout step writes a Pod, then
/// its EndpointSlice, within a few milliseconds.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// Rules are written again this often even without a change (kube-proxy's default
/// `--iptables-sync-period`), which repairs rules changed behind the lab's back.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(30);
/// A failed apply is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// kube-proxy's `--cluster-cidr` (see [`NodeView::cluster_cidr`]).
    pub cluster_cidr: Option<Ipv4Cidr>,
    pub debounce: Duration,
    pub resync: Duration,
    /// kube-proxy turns unhealthy when an update waits longer than this.
    pub health_timeout: Duration,
    pub healthz_port: u16,
    /// Enforce NetworkPolicies (a cluster without a policy engine ignores them).
    pub network_policies: bool,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            cluster_cidr: Some(CLUSTER_CIDR),
            debounce: DEFAULT_DEBOUNCE,
            resync: DEFAULT_RESYNC,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            healthz_port: HEALTHZ_PORT,
            network_policies: true,
        }
    }
}

/// Where a node's dataplane stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The store revision the node's rules and health servers show (0 before the first sync).
    pub revision: u64,
    /// Successful syncs so far.
    pub syncs: u64,
    /// The last sync's error, until a sync succeeds.
    pub error: Option<String>,
}

/// A running dataplane; dropping it stops the loop and its health servers (the rules stay until
/// the namespace goes).
#[derive(Debug)]
pub struct NodeDataplane {
    node: String,
    state: watch::Receiver<SyncState>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::result::Result<(), NetnsError>>>,
}

impl NodeDataplane {
    /// Starts the loop of node `node` on a thread inside `netns`.
    pub fn start(
        store: Arc<Store>,
        netns: &NetNs,
        node: &str,
        config: DataplaneConfig,
    ) -> Result<NodeDataplane> {
        let (state_tx, state) = watch::channel(SyncState::default());
        let (stop, stop_rx) = oneshot::channel();
        let sync = Sync {
            store,
            namespace: netns.name().to_owned(),
            node: node.to_owned(),
            config,
            state: state_tx,
        };
        let thread = netns
            .spawn(move || sync.run(stop_rx))
            .map_err(|source| NetError::Thread {
                node: node.to_owned(),
                source,
            })?;
        Ok(NodeDataplane {
            node: node.to_owned(),
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn state(&self) -> watch::Receiver<SyncState> {
        self.state.clone()
    }

    /// Waits until the node shows store revision `revision` or later; on timeout, the state it
    /// reached.
    pub async fn synced_to(
        &self,
        revision: u64,
        timeout: Duration,
    ) -> std::result::Result<SyncState, SyncState> {
        let mut state = self.state.clone();
        let wait = state.wait_for(|s| s.revision >= revision);
        let reached = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        };
        reached.ok_or_else(|| self.state.borrow().clone())
    }
}

impl Drop for NodeDataplane {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The loop ends at its next await; at worst after an `iptables-restore` in flight.
            let _ = thread.join();
        }
    }
}

/// The loop's own state, moved onto the namespace's thread.
struct Sync {
    store: Arc<Store>,
    namespace: String,
    node: String,
    config: DataplaneConfig,
    state: watch::Sender<SyncState>,
}

impl Sync {
    async fn run(self, mut stop: oneshot::Receiver<()>) {
        let health = ProxyHealth::new(self.config.health_timeout);
        let mut servers = HealthServers::start(health.clone(), self.config.healthz_port).await;
        let hooks: Vec<Hook> = proxy::HOOKS.into_iter().chain([policy::HOOK]).collect();
        let mut revisions = self.store.revisions();
        let mut applied: Option<Ruleset> = None;
        let mut next_resync = Instant::now() + self.config.resync;
        loop {
            let revision = *revisions.borrow_and_update();
            let (rules, health_checks, node) = self.render();
            health.sync_node(node.as_ref());
            let ok = if applied.as_ref() == Some(&rules) {
                true
            } else {
                match iptables::apply(&self.namespace, &rules, &hooks).await {
                    Ok(()) => {
                        applied = Some(rules);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(node = %self.node, error = %e, "rules not applied");
                        self.state.send_modify(|s| s.error = Some(e.to_string()));
                        false
                    }
                }
            };
            if ok {
                health.updated();
                servers.sync(&health_checks).await;
                self.state.send_modify(|s| {
                    s.revision = revision;
                    s.syncs += 1;
                    s.error = None;
                });
            }
            let retry = async {
                if ok {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(RETRY_AFTER).await;
            };
            tokio::select! {
                _ = &mut stop => return,
                changed = revisions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    health.queued_update();
                    tokio::select! {
                        _ = &mut stop => return,
                        () = tokio::time::sleep(self.config.debounce) => {}
                    }
                }
                () = tokio::time::sleep_until(next_resync) => {
                    applied = None;
                    next_resync = Instant::now() + self.config.resync;
                }
                () = retry => {}
            }
        }
    }

    /// Everything the node's rules and health servers depend on, read now.
    fn render(&self) -> (Ruleset, proxy::HealthChecks, Option<Node>) {
        let store = &self.store;
        let services = store.list_typed::<Service>(None);
        let slices = store.list_typed::<EndpointSlice>(None);
        let view = NodeView {
            name: &self.node,
            cluster_cidr: self.config.cluster_cidr,
        };
        let proxy = proxy::render(&services, &slices, &view);
        let mut rules = proxy.rules;
        if self.config.network_policies {
            let pods = store.list_typed::<Pod>(None);
            let namespaces = store.list_typed::<Namespace>(None);
            let policies = store.list_typed::<NetworkPolicy>(None);
            rules.extend(policy::render(&policy::PolicyInput {
                node: &self.node,
                pods: &pods,
                namespaces: &namespaces,
                policies: &policies,
            }));
        } else {
            // The FORWARD hook needs its target even when nothing is enforced.
            rules.chain(Table::Filter, policy::POD_FW_CHAIN);
        }
        let node = store.get_typed::<Node>("", &self.node);
        (rules, proxy.health_checks, node)
    }
}
