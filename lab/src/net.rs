//! The lab's network: node, pod and fabric namespaces, kube-proxy's rules and NetworkPolicies.
//!
//! - [`topology`]: the namespaces and links of a cluster (a VNet/VPC fabric with a bridge, nodes,
//!   pods, and an LB namespace holding the load balancers' source addresses).
//! - [`proxy`]: kube-proxy's iptables rules rendered from Services and EndpointSlices, and its
//!   health servers (health-check node ports and `:10256`).
//! - [`policy`]: the ingress part of NetworkPolicies rendered as iptables rules.
//! - [`iptables`]: rules as `iptables-restore` input, applied to a namespace.
//! - [`dataplane`]: per node, the loop that follows the store and applies both.
//! - [`reach`]: running code, backends and HTTP checks inside those namespaces.
//!
//! Everything is IPv4, as the clouds' default cluster networks are.

pub mod addr;
mod cmd;
pub mod dataplane;
mod error;
pub mod iptables;
pub mod policy;
pub mod proxy;
pub mod reach;
pub mod topology;

pub use addr::Ipv4Cidr;
pub use cmd::check_tools;
pub use dataplane::{DataplaneConfig, NodeDataplane, SyncState};
pub use error::NetError;
pub use topology::{NodeSpec, Topology, TopologySpec, remove_leftovers};

pub type Result<T, E = NetError> = std::result::Result<T, E>;

/// For tests that build lab networks: `true` when they can run (root, iproute2, iptables).
/// Otherwise it says why on standard error and returns `false`, except under `CI=true`, where a
/// test that cannot run is a failure, not a skip.
pub fn can_run_network_test(test: &str) -> bool {
    probesim_agent::netns::test_may_run(test, check_tools())
}
