//! The cluster's network as namespaces: a fabric (the VNet/VPC) holding a bridge, nodes joined to
//! it by veth pairs, pods joined to their node, and an LB namespace holding the load balancers'
//! source addresses.
//!
//! ```text
//!   LB ns (10.224.0.2, 168.63.129.16, ...)      node ns (10.224.0.4)          pod ns (10.244.0.2/32)
//!        eth0 ─┐                                 eth0 ─┐   <prefix>p<k> ─────── eth0
//!              └─ <prefix>lb ─ fabric bridge <prefix>br (10.224.0.1) ─ <prefix>n<i>
//! ```
//!
//! Addresses follow AKS's defaults: nodes in `10.224.0.0/16` from `.4` (Azure keeps `.1`–`.3`),
//! pod CIDRs `10.244.N.0/24` routed by each node, as kubenet does. Pods reach their node through
//! a link-local gateway with a fixed MAC, as Calico does; a node routes each pod's `/32` to its
//! veth and other nodes' pod CIDRs to those nodes. The fabric routes pod CIDRs to nodes (Azure's
//! route table) and the LB sources to the LB namespace; nodes send replies to the LB sources to
//! the fabric's gateway, as an Azure VM's default route does.
//!
//! Nothing is created in the root namespace: every link is made inside a lab namespace, and no
//! lab namespace has a link or a route leading out of the lab. Every name carries the run's
//! prefix; a state file under [`STATE_DIR`] names the owning process, so that
//! [`remove_leftovers`] can remove what a crashed run left.

mod build;
mod leftovers;
mod spec;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use probesim_agent::netns::NetNs;

use super::addr::Ipv4Cidr;
use super::cmd::ip_batch;
use super::{NetError, Result};

pub use leftovers::{STATE_DIR, remove_leftovers, state_path};
pub use spec::{NodeSpec, TopologySpec};

/// The VNet/VPC subnet of the nodes (AKS's default node subnet).
pub const NODE_SUBNET: Ipv4Cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 224, 0, 0), 16);
/// The fabric's address: the nodes' gateway, and where the lab's API server listens for agents.
pub const FABRIC_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 1);
/// Where agents reach the lab's control plane (inside the fabric namespace).
pub const CONTROL_PLANE_ADDR: Ipv4Addr = FABRIC_GATEWAY;
pub const CONTROL_PLANE_PORT: u16 = 6443;
/// The LB namespace's own address on the fabric (one Azure keeps for itself).
pub const LB_FABRIC_ADDR: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 2);
/// The first node's address: Azure reserves `.0` to `.3` of a subnet.
pub const FIRST_NODE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 4);
/// The cluster's pod network (kubenet's default `--pod-cidr`).
pub const CLUSTER_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 244, 0, 0), 16);
/// AKS' default service CIDR. Nodes route it to the fabric, as a node's default route carries
/// it: the kernel needs a route before kube-proxy's OUTPUT rules rewrite a ClusterIP.
pub const SERVICE_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 0), 16);
/// The source of Azure Load Balancer's health probes.
pub const AZURE_LB_SOURCE: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);
/// Pods' default gateway, answered by a permanent neighbour entry (Calico's choice).
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The MAC of every node-side pod veth, so the pods' neighbour entry fits them all (Calico's).
pub const POD_GATEWAY_MAC: &str = "ee:ee:ee:ee:ee:ee";
/// Every lab namespace's name starts with this, then the run's prefix.
pub const NETNS_PREFIX: &str = "probesim-";

/// A running cluster network; dropping it removes every namespace it created (a namespace whose
/// [`NetNs`] is still held elsewhere goes when that last handle is dropped).
#[derive(Debug)]
pub struct Topology {
    // Fields drop in this order: pods before nodes before the fabric, the state file last.
    pods: Mutex<Pods>,
    /// The nodes' namespaces, in the order of `spec.nodes`.
    nodes: Vec<Arc<NetNs>>,
    lb: Arc<NetNs>,
    fabric: Arc<NetNs>,
    spec: TopologySpec,
    _state: leftovers::StateFile,
}

#[derive(Debug, Default)]
struct Pods {
    by_id: BTreeMap<String, Pod>,
    /// Numbers the pods' interfaces and namespaces.
    created: u32,
    /// Per node, the host part to try next: addresses are handed out round robin, as
    /// host-local IPAM does, so a deleted pod's address is not reused at once.
    cursors: HashMap<String, u32>,
}

#[derive(Debug)]
struct Pod {
    node: String,
    ip: Ipv4Addr,
    netns: Arc<NetNs>,
    /// The node's namespace and the pod's interface there.
    host_link: (String, String),
}

impl Drop for Pod {
    /// Deleting the node's end takes the pair and the route with it at once; the kernel
    /// dismantles a deleted namespace later, and the pod's address may be handed out again now.
    fn drop(&mut self) {
        let (node_ns, link) = &self.host_link;
        if let Err(e) = ip_batch(node_ns, &[format!("link del {link}")]) {
            tracing::warn!(error = %e, "could not delete a pod's veth");
        }
    }
}

/// Pods' interfaces are `<prefix>p<n>`: with a prefix of at most 8 characters, `n` below a million
/// keeps the name within the kernel's 15.
const MAX_PODS_CREATED: u32 = 999_999;

impl Topology {
    /// Builds the fabric, the LB namespace and the nodes. On error, whatever was created is
    /// removed again. Blocking: it runs a few `ip` commands per namespace.
    pub fn create(spec: TopologySpec) -> Result<Topology> {
        spec.validate()?;
        let state = leftovers::StateFile::write(&spec.prefix)?;
        let fabric = Arc::new(build::fabric(&spec)?);
        let lb = Arc::new(build::lb(&spec, fabric.name())?);
        let nodes = (0..spec.nodes.len())
            .map(|index| Ok(Arc::new(build::node(&spec, index, fabric.name())?)))
            .collect::<Result<Vec<_>>>()?;
        build::attach(&spec, fabric.name())?;
        Ok(Topology {
            pods: Mutex::new(Pods::default()),
            nodes,
            lb,
            fabric,
            spec,
            _state: state,
        })
    }

    pub fn spec(&self) -> &TopologySpec {
        &self.spec
    }

    pub fn prefix(&self) -> &str {
        &self.spec.prefix
    }

    pub fn nodes(&self) -> &[NodeSpec] {
        &self.spec.nodes
    }

    /// Every node's address, in the order of the spec.
    pub fn node_ips(&self) -> Vec<Ipv4Addr> {
        self.spec.nodes.iter().map(|n| n.ip).collect()
    }

    pub fn node_ip(&self, node: &str) -> Result<Ipv4Addr> {
        Ok(self.node(node)?.0.ip)
    }

    pub fn pod_cidr(&self, node: &str) -> Result<Ipv4Cidr> {
        Ok(self.node(node)?.0.pod_cidr)
    }

    pub fn node_netns(&self, node: &str) -> Result<Arc<NetNs>> {
        Ok(self.node(node)?.1.clone())
    }

    /// The namespace holding the LB source addresses (and [`LB_FABRIC_ADDR`]).
    pub fn lb_netns(&self) -> Arc<NetNs> {
        self.lb.clone()
    }

    /// The VNet/VPC: its bridge holds [`FABRIC_GATEWAY`], where the control plane listens.
    pub fn fabric_netns(&self) -> Arc<NetNs> {
        self.fabric.clone()
    }

    pub fn lb_sources(&self) -> &[Ipv4Addr] {
        &self.spec.lb_sources
    }

    fn node(&self, node: &str) -> Result<(&NodeSpec, &Arc<NetNs>)> {
        self.spec
            .nodes
            .iter()
            .zip(&self.nodes)
            .find(|(spec, _)| spec.name == node)
            .ok_or_else(|| NetError::UnknownNode {
                prefix: self.spec.prefix.clone(),
                node: node.to_owned(),
            })
    }

    fn pods(&self) -> MutexGuard<'_, Pods> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next free pod address on `node`, round robin from `.2` (kubenet keeps `.1`).
    pub fn allocate_pod_ip(&self, node: &str) -> Result<Ipv4Addr> {
        let cidr = self.pod_cidr(node)?;
        let mut pods = self.pods();
        let usable = u32::try_from(cidr.size().saturating_sub(3)).unwrap_or(u32::MAX);
        let start = pods.cursors.get(node).copied().unwrap_or(0);
        for step in 0..usable {
            let n = 2 + (start + step) % usable.max(1);
            let Some(ip) = cidr.nth(n) else { continue };
            if !pods.by_id.values().any(|p| p.ip == ip) {
                pods.cursors
                    .insert(node.to_owned(), (start + step + 1) % usable.max(1));
                return Ok(ip);
            }
        }
        Err(NetError::PodCidrFull {
            node: node.to_owned(),
            cidr,
        })
    }

    /// Creates pod `pod_id`'s namespace on `node` with address `ip` (see
    /// [`Topology::allocate_pod_ip`]), its veth pair and routes. Pods are created one at a time,
    /// so that two of them never get one address.
    pub fn add_pod(&self, node: &str, pod_id: &str, ip: Ipv4Addr) -> Result<Arc<NetNs>> {
        let (_, node_ns) = self.node(node)?;
        let cidr = self.pod_cidr(node)?;
        let prefix = &self.spec.prefix;
        let mut pods = self.pods();
        if pods.by_id.contains_key(pod_id) {
            return Err(NetError::PodExists {
                prefix: prefix.clone(),
                pod: pod_id.to_owned(),
            });
        }
        let taken = pods.by_id.values().any(|p| p.ip == ip);
        let host = ip.to_bits().wrapping_sub(cidr.network().to_bits());
        if taken || !cidr.contains(ip) || host == 0 || u64::from(host) + 1 >= cidr.size() {
            return Err(NetError::PodAddress {
                pod: pod_id.to_owned(),
                node: node.to_owned(),
                ip,
                cidr,
            });
        }
        if pods.created >= MAX_PODS_CREATED {
            return Err(NetError::InvalidSpec {
                prefix: prefix.clone(),
                what: format!("more than {MAX_PODS_CREATED} pods created"),
            });
        }
        pods.created += 1;
        let number = pods.created;
        let netns = Arc::new(create_netns(&self.spec.pod_netns_name(number, pod_id))?);
        let host_if = format!("{prefix}p{number}");
        build::pod(netns.name(), node_ns.name(), &host_if, ip)?;
        pods.by_id.insert(
            pod_id.to_owned(),
            Pod {
                node: node.to_owned(),
                ip,
                netns: netns.clone(),
                host_link: (node_ns.name().to_owned(), host_if),
            },
        );
        Ok(netns)
    }

    /// Removes the pod's namespace (when the last handle to it is dropped) and with it its veth
    /// pair and its node's route.
    pub fn remove_pod(&self, pod_id: &str) -> Result<()> {
        match self.pods().by_id.remove(pod_id) {
            Some(_) => Ok(()),
            None => Err(NetError::UnknownPod {
                prefix: self.spec.prefix.clone(),
                pod: pod_id.to_owned(),
            }),
        }
    }

    pub fn pod_netns(&self, pod_id: &str) -> Option<Arc<NetNs>> {
        self.pods().by_id.get(pod_id).map(|p| p.netns.clone())
    }

    /// The pod's node and address.
    pub fn pod(&self, pod_id: &str) -> Option<(String, Ipv4Addr)> {
        self.pods()
            .by_id
            .get(pod_id)
            .map(|p| (p.node.clone(), p.ip))
    }

    /// Removes everything now (the same as dropping it).
    pub fn shutdown(self) {}
}

pub(super) fn create_netns(name: &str) -> Result<NetNs> {
    NetNs::create(name).map_err(|source| NetError::Netns {
        namespace: name.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
