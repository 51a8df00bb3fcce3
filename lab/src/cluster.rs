//! A whole lab cluster: the network (fabric, nodes, the LB's namespace), the API server, the
//! controllers, and on every node kube-proxy's rules and a kubelet, all following one store.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use probesim_agent::netns::NetNs;
use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, Measurement, ProbeRequest};
use tokio::task::JoinHandle;

use crate::api::server::{ApiServer, ApiServerConfig};
use crate::api::{Resource, Store};
use crate::apps::{AppServer, Apps};
use crate::controllers::Controllers;
use crate::kubelet::{Kubelet, NodeInfo, PodNetwork};
use crate::net::topology::{AZURE_LB_SOURCE, CONTROL_PLANE_ADDR, CONTROL_PLANE_PORT};
use crate::net::{DataplaneConfig, NodeDataplane, Topology, TopologySpec};
use crate::scenario::actions;
use crate::scenario::admit;
use crate::scenario::file::{ProbeSource, Scenario, ScenarioCloud};
use crate::truth::Truth;

/// An address of an ALB/NLB subnet in the lab's VPC, the source of AWS health checks.
pub const AWS_PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 224, 255, 10);

/// Checks what the lab needs before anything is created: root, `ip`, `iptables`.
pub fn preflight() -> Result<(), String> {
    crate::net::check_tools()
}

fn tool_runs(tool: &str, arg: &str) -> bool {
    std::process::Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Removes the namespaces and state of crashed runs; returns how many runs it cleaned.
pub fn remove_leftovers() -> Result<usize, String> {
    crate::net::remove_leftovers()
        .map(|removed| removed.len())
        .map_err(|e| e.to_string())
}

/// A running cluster. [`Cluster::down`] removes it; dropping it does too, less orderly.
#[derive(Debug)]
pub struct Cluster {
    store: Arc<Store>,
    apps: Arc<Apps>,
    truth: Truth,
    api: ApiServer,
    api_addr: SocketAddr,
    api_tasks: Vec<JoinHandle<()>>,
    lb_source: Ipv4Addr,
    tls: Arc<TlsConfigs>,
    // Dropped in this order: kubelets (pods), dataplanes, controllers, then the network.
    kubelets: Vec<Kubelet>,
    dataplanes: Vec<NodeDataplane>,
    controllers: Option<Controllers>,
    topology: Arc<Topology>,
}

/// Tries at taking a pod address that another pod of the node did not take meanwhile.
const POD_ADDRESS_ATTEMPTS: usize = 8;

/// The kubelets' pod networks, from the topology.
#[derive(Debug)]
struct Pods(Arc<Topology>);

impl PodNetwork for Pods {
    fn attach(&self, node: &str, pod: &str) -> Result<(Arc<NetNs>, Ipv4Addr), String> {
        // The topology hands out addresses round robin, as host-local IPAM does; a pod of the
        // same node created meanwhile may take the address first, so ask again then.
        let mut last = String::new();
        for _ in 0..POD_ADDRESS_ATTEMPTS {
            let ip = self.0.allocate_pod_ip(node).map_err(|e| e.to_string())?;
            match self.0.add_pod(node, pod, ip) {
                Ok(netns) => return Ok((netns, ip)),
                Err(e @ crate::net::NetError::PodAddress { .. }) => last = e.to_string(),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(last)
    }

    fn detach(&self, pod: &str) {
        if let Err(e) = self.0.remove_pod(pod) {
            tracing::warn!(pod, error = %e, "pod network not removed");
        }
    }
}

impl Cluster {
    /// Builds the scenario's cluster and applies its objects.
    pub async fn up(scenario: &Scenario) -> Result<Cluster, String> {
        let nginx = scenario
            .apps
            .iter()
            .flat_map(|a| &a.ports)
            .any(|p| p.server == AppServer::Nginx);
        if nginx && !tool_runs("nginx", "-v") {
            return Err(format!(
                "scenario {} runs nginx: apt-get install -y nginx",
                scenario.name
            ));
        }
        let lb_source = match scenario.cloud {
            ScenarioCloud::Azure => AZURE_LB_SOURCE,
            ScenarioCloud::Aws => AWS_PROBE_SOURCE,
        };
        let names: Vec<&str> = scenario.nodes.iter().map(|n| n.name.as_str()).collect();
        let spec = TopologySpec::new(&names, &[lb_source]);
        let topology = tokio::task::spawn_blocking(move || Topology::create(spec))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let topology = Arc::new(topology);
        let store = Store::new();
        let truth = Truth::default();
        let apps = Arc::new(Apps::new(scenario.apps.clone()));
        let version =
            probesim_agent::lb::azure::version::CpaVersion::from_str(&scenario.kubernetes_version)
                .map_err(|e| format!("kubernetesVersion {:?}: {e}", scenario.kubernetes_version))?;
        let git_version = format!("v1.{}.{}", version.minor, version.patch.unwrap_or(0));
        let config = ApiServerConfig {
            kubernetes_version: git_version.clone(),
            ..ApiServerConfig::default()
        };
        let api = ApiServer::with_config(store.clone(), config).map_err(|e| e.to_string())?;
        let local = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("API server listener: {e}"))?;
        let api_addr = local.local_addr().map_err(|e| e.to_string())?;
        let fabric_addr = SocketAddr::new(IpAddr::V4(CONTROL_PLANE_ADDR), CONTROL_PLANE_PORT);
        let fabric = bind_in(&topology.fabric_netns(), fabric_addr)?;
        let api_tasks = vec![api.serve(local), api.serve(fabric)];

        for (index, node) in scenario.nodes.iter().enumerate() {
            let ip = topology.node_ip(&node.name).map_err(|e| e.to_string())?;
            let cidr = topology.pod_cidr(&node.name).map_err(|e| e.to_string())?;
            let object = admit::node_object(
                scenario.cloud,
                index,
                &node.name,
                &ip.to_string(),
                &cidr.to_string(),
                &git_version,
                &node.labels,
            );
            store.apply(object).map_err(|e| e.to_string())?;
        }
        for namespace in admit::namespaces(&scenario.objects) {
            store.apply(namespace).map_err(|e| e.to_string())?;
        }
        let controllers = Controllers::start(store.clone());
        let mut dataplanes = Vec::new();
        let mut kubelets = Vec::new();
        for node in &scenario.nodes {
            let netns = topology.node_netns(&node.name).map_err(|e| e.to_string())?;
            let ip = topology.node_ip(&node.name).map_err(|e| e.to_string())?;
            dataplanes.push(
                NodeDataplane::start(
                    store.clone(),
                    &netns,
                    &node.name,
                    DataplaneConfig::default(),
                )
                .map_err(|e| e.to_string())?,
            );
            let info = NodeInfo {
                name: node.name.clone(),
                ip,
                k8s_minor: version.minor,
            };
            let network = Arc::new(Pods(topology.clone()));
            kubelets.push(
                Kubelet::start(
                    &netns,
                    info,
                    store.clone(),
                    apps.clone(),
                    truth.clone(),
                    network,
                )
                .map_err(|e| e.to_string())?,
            );
        }
        for object in &scenario.objects {
            actions::apply(&store, object.clone())?;
        }
        Ok(Cluster {
            store,
            apps,
            truth,
            api,
            api_addr,
            api_tasks,
            lb_source,
            tls: Arc::new(TlsConfigs::new()),
            kubelets,
            dataplanes,
            controllers: Some(controllers),
            topology,
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Where kubectl reaches the API server (127.0.0.1 in the root namespace).
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Stops the API server (its listeners close, its connections end), as a control-plane
    /// restart does; the store keeps going.
    pub async fn stop_api_server(&mut self) {
        for task in self.api_tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Serves the API again on the same addresses.
    pub async fn start_api_server(&mut self) -> Result<(), String> {
        let local = tokio::net::TcpListener::bind(self.api_addr)
            .await
            .map_err(|e| format!("bind {}: {e}", self.api_addr))?;
        let fabric_addr = SocketAddr::new(IpAddr::V4(CONTROL_PLANE_ADDR), CONTROL_PLANE_PORT);
        let fabric = bind_in(&self.topology.fabric_netns(), fabric_addr)?;
        self.api_tasks = vec![self.api.serve(local), self.api.serve(fabric)];
        Ok(())
    }

    /// A listener on the control plane's fabric address (where nodes reach the lab's own
    /// services, such as the API server and the collector).
    pub fn bind_control_plane(&self, port: u16) -> Result<tokio::net::TcpListener, String> {
        let addr = SocketAddr::new(IpAddr::V4(CONTROL_PLANE_ADDR), port);
        bind_in(&self.topology.fabric_netns(), addr)
    }

    /// The nodes' names, in the scenario's order.
    pub fn node_names(&self) -> Vec<String> {
        self.topology
            .nodes()
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// The network namespace of a node (its root namespace, as hostNetwork pods see it).
    pub fn node_netns(&self, node: &str) -> Result<Arc<NetNs>, String> {
        self.topology.node_netns(node).map_err(|e| e.to_string())
    }

    pub fn node_ip(&self, node: &str) -> Option<IpAddr> {
        self.topology.node_ip(node).ok().map(IpAddr::V4)
    }

    pub fn set_tunnel(&self, node: &str, up: bool) -> Result<(), String> {
        if self.store.get(Resource::Node, "", node).is_none() {
            return Err(format!("no node {node}"));
        }
        self.api.set_node_tunnel(node, up);
        Ok(())
    }

    /// Sends one probe from the LB's source address (through the node's packet path, as the
    /// cloud's are) or from the node's own address. Blocking: it runs on a thread inside the
    /// namespace the probe leaves from.
    pub fn probe_from(
        &self,
        source: ProbeSource,
        node: Option<&str>,
        mut request: ProbeRequest,
    ) -> Measurement {
        let netns = match (source, node) {
            (ProbeSource::Lb, _) => {
                request.bind = Some(SocketAddr::new(IpAddr::V4(self.lb_source), 0));
                Ok(self.topology.lb_netns())
            }
            (ProbeSource::Node, Some(node)) => {
                self.topology.node_netns(node).map_err(|e| e.to_string())
            }
            (ProbeSource::Node, None) => Err("a probe from a node needs the node".to_owned()),
        };
        let local_failure = |why: String| {
            tracing::error!(error = %why, "lab probe could not run");
            Measurement {
                outcome: probesim_agent::lb::outcome::Outcome::Local(
                    probesim_agent::lb::outcome::LocalFailure::Other,
                ),
                timings: probesim_agent::probe::Timings::default(),
            }
        };
        let netns = match netns {
            Ok(ns) => ns,
            Err(why) => return local_failure(why),
        };
        let tls = self.tls.clone();
        match netns.spawn(move || async move { probe::probe(&request, &tls).await }) {
            Ok(thread) => match thread.join() {
                Ok(Ok(measurement)) => measurement,
                Ok(Err(e)) => local_failure(e.to_string()),
                Err(_) => local_failure("the probe thread panicked".to_owned()),
            },
            Err(e) => local_failure(e.to_string()),
        }
    }

    /// Stops everything in order and removes the cluster's namespaces.
    pub async fn down(mut self) {
        for kubelet in self.kubelets.drain(..) {
            let _ = tokio::task::spawn_blocking(move || kubelet.stop()).await;
        }
        self.dataplanes.clear();
        if let Some(controllers) = self.controllers.take() {
            controllers.stop().await;
        }
        for task in &self.api_tasks {
            task.abort();
        }
        let topology = self.topology.clone();
        drop(self);
        if let Ok(topology) = Arc::try_unwrap(topology) {
            let _ = tokio::task::spawn_blocking(move || drop(topology)).await;
        }
    }
}

/// A listening socket created inside `netns`, served from the current runtime.
pub fn bind_in(netns: &NetNs, addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let listener = netns
        .spawn(move || async move {
            // SO_REUSEADDR, as tokio's own bind: a restarted server binds again at once although
            // the connections it closed linger in TIME_WAIT.
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::STREAM,
                None,
            )?;
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(1024)?;
            Ok::<_, std::io::Error>(std::net::TcpListener::from(socket))
        })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|_| "the binding thread panicked".to_owned())?
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("bind {addr}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())
}
