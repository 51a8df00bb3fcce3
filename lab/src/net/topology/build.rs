//! The iproute2 commands that build a topology, namespace by namespace.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use probesim_agent::netns::NetNs;

use super::{
    CLUSTER_CIDR, FABRIC_GATEWAY, LB_FABRIC_ADDR, NODE_SUBNET, POD_GATEWAY, POD_GATEWAY_MAC,
    SERVICE_CIDR, TopologySpec, create_netns,
};
use crate::net::cmd::{ip, ip_batch, sysctl};
use crate::net::{NetError, Result};

/// A new link carries traffic only once the kernel's link watcher has seen it up (it activates
/// the queue, and a bridge enables its port then), up to a second later; this long at most.
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(5);
const LINK_UP_POLL: Duration = Duration::from_millis(10);

pub(super) fn bridge(spec: &TopologySpec) -> String {
    format!("{}br", spec.prefix)
}

fn lb_port(spec: &TopologySpec) -> String {
    format!("{}lb", spec.prefix)
}

fn node_port(spec: &TopologySpec, index: usize) -> String {
    format!("{}n{index}", spec.prefix)
}

/// The fabric and its bridge. The bridge comes first, so that no port's index equals its
/// peer's: the kernel then handles the ports' carrier changes at once rather than after a
/// second.
pub(super) fn fabric(spec: &TopologySpec) -> Result<NetNs> {
    let fabric = create_netns(&spec.netns_name("fabric"))?;
    let mut settings = router_sysctls();
    settings.push(("net/ipv4/conf/all/rp_filter".into(), "0"));
    sysctl(fabric.name(), &settings)?;
    let bridge = bridge(spec);
    ip_batch(
        fabric.name(),
        &[
            format!("link add {bridge} type bridge"),
            format!(
                "addr add {FABRIC_GATEWAY}/{} dev {bridge}",
                NODE_SUBNET.prefix_len()
            ),
            format!("link set {bridge} up"),
        ],
    )?;
    Ok(fabric)
}

/// The LB namespace: the LB sources and [`LB_FABRIC_ADDR`] on a veth to the fabric.
pub(super) fn lb(spec: &TopologySpec, fabric: &str) -> Result<NetNs> {
    let lb = create_netns(&spec.netns_name("lb"))?;
    sysctl(
        lb.name(),
        &[
            ("net/ipv4/conf/all/arp_announce".into(), "2"),
            ("net/ipv4/conf/all/rp_filter".into(), "0"),
            ("net/ipv6/conf/all/disable_ipv6".into(), "1"),
            ("net/ipv6/conf/default/disable_ipv6".into(), "1"),
        ],
    )?;
    let mut lines = vec![
        format!(
            "link add eth0 type veth peer name {} netns {fabric}",
            lb_port(spec)
        ),
        format!(
            "addr add {LB_FABRIC_ADDR}/{} dev eth0",
            NODE_SUBNET.prefix_len()
        ),
        "link set eth0 up".to_owned(),
        format!("route add {CLUSTER_CIDR} via {FABRIC_GATEWAY}"),
    ];
    for source in &spec.lb_sources {
        lines.push(format!("addr add {source}/32 dev eth0"));
    }
    ip_batch(lb.name(), &lines)?;
    Ok(lb)
}

/// Node `index`: its address on a veth to the fabric, routes to the other nodes' pods and back
/// to the LB sources through the fabric.
pub(super) fn node(spec: &TopologySpec, index: usize, fabric: &str) -> Result<NetNs> {
    let node = &spec.nodes[index];
    let netns = create_netns(&spec.netns_name(&format!("node-{}", node.name)))?;
    let mut settings = router_sysctls();
    settings.push(("net/ipv4/conf/all/rp_filter".into(), "2"));
    sysctl(netns.name(), &settings)?;
    let mut lines = vec![
        format!(
            "link add eth0 type veth peer name {} netns {fabric}",
            node_port(spec, index)
        ),
        format!("addr add {}/{} dev eth0", node.ip, NODE_SUBNET.prefix_len()),
        "link set eth0 up".to_owned(),
        // Addresses of this node's pod CIDR without a pod go nowhere, silently, as Calico's
        // blackhole route for its block does.
        format!("route add blackhole {}", node.pod_cidr),
    ];
    for other in spec.nodes.iter().filter(|o| o.name != node.name) {
        lines.push(format!("route add {} via {}", other.pod_cidr, other.ip));
    }
    for source in &spec.lb_sources {
        lines.push(format!("route add {source}/32 via {FABRIC_GATEWAY}"));
    }
    lines.push(format!("route add {SERVICE_CIDR} via {FABRIC_GATEWAY}"));
    ip_batch(netns.name(), &lines)?;
    Ok(netns)
}

/// Puts every port on the fabric's bridge, routes pod CIDRs to their nodes and the LB sources to
/// the LB namespace, and waits until the ports forward.
pub(super) fn attach(spec: &TopologySpec, fabric: &str) -> Result<()> {
    let bridge = bridge(spec);
    let ports: Vec<String> = std::iter::once(lb_port(spec))
        .chain((0..spec.nodes.len()).map(|i| node_port(spec, i)))
        .collect();
    let mut lines: Vec<String> = ports
        .iter()
        .map(|port| format!("link set {port} master {bridge} up"))
        .collect();
    for node in &spec.nodes {
        lines.push(format!("route add {} via {}", node.pod_cidr, node.ip));
    }
    for source in &spec.lb_sources {
        lines.push(format!("route add {source}/32 via {LB_FABRIC_ADDR}"));
    }
    ip_batch(fabric, &lines)?;
    wait_up(fabric, &ports)
}

/// A pod's veth pair and routes: the pod's address on its `eth0`, a default route through the
/// link-local gateway, and the node's route to the pod.
pub(super) fn pod(pod_ns: &str, node_ns: &str, host_if: &str, ip: Ipv4Addr) -> Result<()> {
    sysctl(
        pod_ns,
        &[
            ("net/ipv6/conf/all/disable_ipv6".into(), "1"),
            ("net/ipv6/conf/default/disable_ipv6".into(), "1"),
        ],
    )?;
    ip_batch(
        pod_ns,
        &[
            format!(
                "link add eth0 type veth peer name {host_if} address {POD_GATEWAY_MAC} netns {node_ns}"
            ),
            format!("addr add {ip}/32 dev eth0"),
            "link set eth0 up".to_owned(),
            format!("route add {POD_GATEWAY} dev eth0 scope link"),
            format!("route add default via {POD_GATEWAY} dev eth0"),
            format!("neigh add {POD_GATEWAY} lladdr {POD_GATEWAY_MAC} dev eth0 nud permanent"),
        ],
    )?;
    ip_batch(
        node_ns,
        &[
            format!("link set {host_if} up"),
            format!("route add {ip}/32 dev {host_if} scope link"),
        ],
    )?;
    wait_up(node_ns, &[host_if.to_owned()])?;
    wait_up(pod_ns, &["eth0".to_owned()])
}

/// Forwarding on, no ICMP redirects between the hosts of one subnet, no IPv6.
fn router_sysctls() -> Vec<(String, &'static str)> {
    vec![
        ("net/ipv4/ip_forward".into(), "1"),
        ("net/ipv4/conf/all/send_redirects".into(), "0"),
        ("net/ipv4/conf/default/send_redirects".into(), "0"),
        ("net/ipv6/conf/all/disable_ipv6".into(), "1"),
        ("net/ipv6/conf/default/disable_ipv6".into(), "1"),
    ]
}

/// Waits until every link of `links` in `namespace` is operationally up.
fn wait_up(namespace: &str, links: &[String]) -> Result<()> {
    let deadline = Instant::now() + LINK_UP_TIMEOUT;
    loop {
        let shown = ip(namespace, &["-o", "link", "show"])?;
        let down: Vec<String> = links
            .iter()
            .filter(|link| {
                !shown.lines().any(|line| {
                    let name = line.split(": ").nth(1).unwrap_or_default();
                    name.split('@').next() == Some(link.as_str()) && line.contains(" state UP ")
                })
            })
            .cloned()
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NetError::LinkDown {
                namespace: namespace.to_owned(),
                links: down,
            });
        }
        std::thread::sleep(LINK_UP_POLL);
    }
}
