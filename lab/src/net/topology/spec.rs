//! What a topology is made of, checked before anything is created.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    CLUSTER_CIDR, FABRIC_GATEWAY, FIRST_NODE_ADDR, LB_FABRIC_ADDR, NETNS_PREFIX, NODE_SUBNET,
};
use crate::net::addr::Ipv4Cidr;
use crate::net::{NetError, Result};

/// The longest run prefix: with `p` and six digits a pod's interface name stays within 15
/// characters.
pub const MAX_PREFIX_LEN: usize = 8;
/// Nodes' interfaces on the fabric are `<prefix>n<index>`.
pub const MAX_NODES: usize = 1000;
/// Node names stay short enough to be read in namespace names.
const MAX_NODE_NAME_LEN: usize = 63;
/// How much of a pod's id its namespace's name shows.
const POD_NAME_CHARS: usize = 40;
/// Pod CIDRs are `10.244.<index>.0/24`: one `/24` per node, as kubenet hands them out.
const POD_CIDR_LEN: u8 = 24;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Starts every name the run creates: 2 to 8 of `[a-z0-9]`, a letter first (`pl3f2a`).
    pub prefix: String,
    pub nodes: Vec<NodeSpec>,
    /// The addresses load balancers probe from, held by the LB namespace (168.63.129.16 for
    /// Azure, ALB/NLB subnet addresses for AWS).
    pub lb_sources: Vec<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
    pub pod_cidr: Ipv4Cidr,
}

impl TopologySpec {
    /// Nodes with AKS's default addresses (10.224.0.4, .5, ... and 10.244.0.0/24, 10.244.1.0/24,
    /// ...) under a fresh prefix.
    pub fn new(node_names: &[&str], lb_sources: &[Ipv4Addr]) -> TopologySpec {
        let nodes = node_names
            .iter()
            .zip(0u32..)
            .map(|(name, i)| NodeSpec {
                name: (*name).to_owned(),
                ip: Ipv4Addr::from_bits(FIRST_NODE_ADDR.to_bits() + i),
                pod_cidr: Ipv4Cidr::new(
                    Ipv4Addr::from_bits(CLUSTER_CIDR.network().to_bits() + (i << 8)),
                    POD_CIDR_LEN,
                ),
            })
            .collect();
        TopologySpec {
            prefix: unique_prefix(),
            nodes,
            lb_sources: lb_sources.to_vec(),
        }
    }

    /// The same spec under another prefix.
    pub fn with_prefix(mut self, prefix: &str) -> TopologySpec {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// The namespace called `what` of this run: `probesim-<prefix>-<what>`.
    pub fn netns_name(&self, what: &str) -> String {
        format!("{NETNS_PREFIX}{}-{what}", self.prefix)
    }

    /// The `number`th pod's namespace, showing a readable part of its id.
    pub(super) fn pod_netns_name(&self, number: u32, pod_id: &str) -> String {
        let readable: String = pod_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(POD_NAME_CHARS)
            .collect();
        self.netns_name(&format!("pod{number}-{readable}"))
    }

    /// Checks names and addresses: every error names the field and the value at fault.
    pub fn validate(&self) -> Result<()> {
        let fail = |what: String| {
            Err(NetError::InvalidSpec {
                prefix: self.prefix.clone(),
                what,
            })
        };
        let p = &self.prefix;
        let valid_prefix = (2..=MAX_PREFIX_LEN).contains(&p.len())
            && p.starts_with(|c: char| c.is_ascii_lowercase())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid_prefix {
            return fail(format!(
                "prefix {p:?} must be 2 to {MAX_PREFIX_LEN} of [a-z0-9], starting with a letter"
            ));
        }
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            return fail(format!(
                "nodes: {} given, 1 to {MAX_NODES} allowed",
                self.nodes.len()
            ));
        }
        let reserved = [NODE_SUBNET.network(), FABRIC_GATEWAY, LB_FABRIC_ADDR];
        let mut names = BTreeSet::new();
        let mut ips = BTreeSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let n = &node.name;
            let valid_name = !n.is_empty()
                && n.len() <= MAX_NODE_NAME_LEN
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !valid_name {
                return fail(format!(
                    "nodes[{i}].name {n:?} must be 1 to {MAX_NODE_NAME_LEN} of [a-z0-9.-]"
                ));
            }
            if !names.insert(n.as_str()) {
                return fail(format!("nodes[{i}].name {n:?} is given twice"));
            }
            let last = Ipv4Addr::from_bits(NODE_SUBNET.network().to_bits() | 0xffff);
            if !NODE_SUBNET.contains(node.ip) || reserved.contains(&node.ip) || node.ip == last {
                return fail(format!(
                    "nodes[{i}].ip {} must be a host of {NODE_SUBNET} other than {FABRIC_GATEWAY} and {LB_FABRIC_ADDR}",
                    node.ip
                ));
            }
            if !ips.insert(node.ip) {
                return fail(format!("nodes[{i}].ip {} is given twice", node.ip));
            }
            if !CLUSTER_CIDR.covers(node.pod_cidr) || node.pod_cidr.size() < 4 {
                return fail(format!(
                    "nodes[{i}].pod_cidr {} must lie inside {CLUSTER_CIDR} and hold at least 4 addresses",
                    node.pod_cidr
                ));
            }
            if let Some(other) = self.nodes[..i]
                .iter()
                .find(|o| o.pod_cidr.overlaps(node.pod_cidr))
            {
                return fail(format!(
                    "nodes[{i}].pod_cidr {} overlaps node {}'s {}",
                    node.pod_cidr, other.name, other.pod_cidr
                ));
            }
        }
        for (i, source) in self.lb_sources.iter().enumerate() {
            let clash = reserved.contains(source)
                || ips.contains(source)
                || CLUSTER_CIDR.contains(*source)
                || source.is_loopback()
                || source.is_unspecified()
                || source.is_multicast();
            if clash {
                return fail(format!(
                    "lb_sources[{i}] {source} clashes with the lab's own addresses (nodes, {CLUSTER_CIDR}, {FABRIC_GATEWAY}, {LB_FABRIC_ADDR}) or is not unicast"
                ));
            }
            if self.lb_sources[..i].contains(source) {
                return fail(format!("lb_sources[{i}] {source} is given twice"));
            }
        }
        Ok(())
    }
}

/// `pl` and four hex digits from the process id and the clock, skipping prefixes in use.
pub fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut x = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    let mut candidate = String::new();
    // Bounded: 64 tries of 65 536 prefixes never all collide on a real machine.
    for _ in 0..64 {
        candidate = format!("pl{:04x}", x & 0xffff);
        if !super::leftovers::prefix_in_use(&candidate) {
            break;
        }
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    }
    candidate
}
