//! NetworkPolicy emulation: the ingress part of the API, as iptables rules in a node's `filter`
//! table for the traffic to that node's pods, the way iptables-based policy engines (Azure NPM,
//! kube-router) enforce it.
//!
//! The rules sit in FORWARD, ahead of kube-proxy's: they see each new connection to a pod after
//! kube-proxy's DNAT (so the pod's address and target port) and before its SNAT, so the source is
//! the client's own address for traffic that entered this node, and the first node's address for
//! Cluster-policy traffic that kube-proxy forwarded from another node. Traffic from the node itself
//! to its pods does not cross FORWARD and is always allowed, as Kubernetes requires for kubelet's
//! probes. A pod that no policy selects for ingress accepts everything; a selected pod accepts what
//! one of its policies' rules allows and drops the rest.
//!
//! Layout: `KUBE-POD-FW` sends each selected pod's new connections to its `KUBE-POD-FW-<hash>`
//! chain, whose rules mark what is allowed; unmarked connections are dropped there. An ipBlock
//! with exceptions gets a `KUBE-NWPLCY-<hash>` chain that returns early for the exceptions.

pub mod select;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::addr::Ipv4Cidr;
use super::iptables::{Hook, Ruleset, Table, chain_name, comment};
use select::matches;

/// The chain FORWARD sends every packet to first.
pub const POD_FW_CHAIN: &str = "KUBE-POD-FW";
/// Marks a connection some policy allows (a bit kube-proxy's 0x4000 and 0x8000 leave free).
pub const ALLOW_MARK: &str = "0x10000";
/// The label every Namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The jump from FORWARD, first in the chain as policy engines put theirs.
pub const HOOK: Hook = Hook {
    table: Table::Filter,
    builtin: "FORWARD",
    args: "-m comment --comment \"network policies for pods on this node\"",
    target: POD_FW_CHAIN,
    first: true,
};

/// What a node's policy rules are rendered from.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    pub node: &'a str,
    pub pods: &'a [Pod],
    pub namespaces: &'a [Namespace],
    pub policies: &'a [NetworkPolicy],
}

/// A pod that has an address on the pod network.
struct LivePod<'a> {
    pod: &'a Pod,
    namespace: &'a str,
    name: &'a str,
    ip: Ipv4Addr,
    labels: BTreeMap<String, String>,
}

/// The rules for the pods of `input.node`.
pub fn render(input: &PolicyInput<'_>) -> Ruleset {
    let mut rules = Ruleset::default();
    rules.chain(Table::Filter, POD_FW_CHAIN);
    let pods: Vec<LivePod<'_>> = input.pods.iter().filter_map(live).collect();
    let namespaces = namespace_labels(input.namespaces, &pods);
    let mut local: Vec<&LivePod<'_>> = pods
        .iter()
        .filter(|p| p.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(input.node))
        .collect();
    local.sort_by_key(|p| (p.namespace, p.name));
    for pod in local {
        let mut selecting: Vec<&NetworkPolicy> = input
            .policies
            .iter()
            .filter(|np| np.metadata.namespace.as_deref().unwrap_or("default") == pod.namespace)
            .filter(|np| applies_to_ingress(np))
            .filter(|np| {
                let selector = np.spec.as_ref().and_then(|s| s.pod_selector.clone());
                matches(&selector.unwrap_or_default(), &pod.labels)
            })
            .collect();
        if selecting.is_empty() {
            continue;
        }
        selecting.sort_by_key(|np| np.metadata.name.clone());
        let id = format!("{}/{}", pod.namespace, pod.name);
        let chain = chain_name("KUBE-POD-FW-", &id);
        rules.rule(
            Table::Filter,
            POD_FW_CHAIN,
            &format!(
                "-d {}/32 -m conntrack --ctstate NEW {} -j {chain}",
                pod.ip,
                comment(&id)
            ),
        );
        rules.chain(Table::Filter, &chain);
        for np in selecting {
            let policy = format!(
                "{}/{}",
                pod.namespace,
                np.metadata.name.as_deref().unwrap_or_default()
            );
            let ingress = np.spec.as_ref().and_then(|s| s.ingress.as_ref());
            for (i, rule) in ingress.into_iter().flatten().enumerate() {
                let label = format!("{policy} ingress[{i}]");
                let ports = port_matches(rule.ports.as_deref(), pod.pod);
                let peers = match rule.from.as_deref() {
                    None | Some([]) => vec![Source::Any],
                    Some(from) => from
                        .iter()
                        .flat_map(|peer| sources(peer, pod.namespace, &pods, &namespaces))
                        .collect(),
                };
                for (j, peer) in peers.iter().enumerate() {
                    for port in &ports {
                        allow(&mut rules, &chain, &label, (i, j), &id, peer, port);
                    }
                }
            }
        }
        rules.rule(
            Table::Filter,
            &chain,
            &format!(
                "-m mark ! --mark {ALLOW_MARK}/{ALLOW_MARK} {} -j DROP",
                comment(&format!("{id}: no NetworkPolicy allows this connection"))
            ),
        );
        rules.rule(
            Table::Filter,
            &chain,
            &format!("-j MARK --set-xmark 0x0/{ALLOW_MARK}"),
        );
    }
    rules
}

/// Where an allowed connection may come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Any,
    Pod(Ipv4Addr),
    Block {
        cidr: Ipv4Cidr,
        except: Vec<Ipv4Cidr>,
    },
}

fn allow(
    rules: &mut Ruleset,
    chain: &str,
    label: &str,
    (rule, peer): (usize, usize),
    pod: &str,
    source: &Source,
    port: &str,
) {
    let mark = format!("-j MARK --set-xmark {ALLOW_MARK}/{ALLOW_MARK}");
    let c = comment(label);
    match source {
        Source::Any => rules.rule(Table::Filter, chain, &format!("{c}{port} {mark}")),
        Source::Pod(ip) => rules.rule(
            Table::Filter,
            chain,
            &format!("{c} -s {ip}/32{port} {mark}"),
        ),
        Source::Block { cidr, except } if except.is_empty() => {
            rules.rule(Table::Filter, chain, &format!("{c} -s {cidr}{port} {mark}"));
        }
        Source::Block { cidr, except } => {
            let block = chain_name(
                "KUBE-NWPLCY-",
                &format!("{pod} {label} {rule} {peer} {cidr}"),
            );
            if rules
                .chains(Table::Filter)
                .all(|existing| existing != block)
            {
                for e in except {
                    rules.rule(Table::Filter, &block, &format!("-s {e} -j RETURN"));
                }
                rules.rule(Table::Filter, &block, &format!("{c} -s {cidr} {mark}"));
            }
            rules.rule(Table::Filter, chain, &format!("{c}{port} -j {block}"));
        }
    }
}

fn live(pod: &Pod) -> Option<LivePod<'_>> {
    let spec = pod.spec.as_ref()?;
    let status = pod.status.as_ref()?;
    let finished = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    if spec.host_network == Some(true) || finished {
        return None;
    }
    Some(LivePod {
        pod,
        namespace: pod.metadata.namespace.as_deref().unwrap_or("default"),
        name: pod.metadata.name.as_deref()?,
        ip: status.pod_ip.as_deref()?.parse().ok()?,
        labels: pod.metadata.labels.clone().unwrap_or_default(),
    })
}

/// Every namespace's labels, including the ones only pods mention, with the automatic
/// `kubernetes.io/metadata.name` label.
fn namespace_labels(
    namespaces: &[Namespace],
    pods: &[LivePod<'_>],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut all: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for ns in namespaces {
        if let Some(name) = &ns.metadata.name {
            all.insert(name.clone(), ns.metadata.labels.clone().unwrap_or_default());
        }
    }
    for pod in pods {
        all.entry(pod.namespace.to_owned()).or_default();
    }
    for (name, labels) in &mut all {
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), name.clone());
    }
    all
}

/// Without `policyTypes`, every policy is an ingress policy.
fn applies_to_ingress(np: &NetworkPolicy) -> bool {
    np.spec
        .as_ref()
        .and_then(|s| s.policy_types.as_ref())
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"))
}

fn sources(
    peer: &NetworkPolicyPeer,
    policy_namespace: &str,
    pods: &[LivePod<'_>],
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Source> {
    if let Some(block) = &peer.ip_block {
        let Ok(cidr) = block.cidr.parse() else {
            tracing::warn!(cidr = %block.cidr, "ipBlock.cidr is not an IPv4 prefix; it allows nothing");
            return Vec::new();
        };
        let except = block
            .except
            .iter()
            .flatten()
            .filter_map(|e| e.parse().ok())
            .collect();
        return vec![Source::Block { cidr, except }];
    }
    let in_namespace = |ns: &str| match &peer.namespace_selector {
        Some(selector) => namespaces
            .get(ns)
            .is_some_and(|labels| matches(selector, labels)),
        None => ns == policy_namespace,
    };
    pods.iter()
        .filter(|p| in_namespace(p.namespace))
        .filter(|p| {
            peer.pod_selector
                .as_ref()
                .is_none_or(|s| matches(s, &p.labels))
        })
        .map(|p| Source::Pod(p.ip))
        .collect()
}

/// The port matches of a rule's `ports` for `pod`, each starting with a space; `[""]` for any
/// port. Named ports resolve against the pod's containers; one that does not resolve matches
/// nothing on this pod.
fn port_matches(ports: Option<&[NetworkPolicyPort]>, pod: &Pod) -> Vec<String> {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return vec![String::new()];
    };
    ports
        .iter()
        .filter_map(|p| {
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            let proto = protocol.to_ascii_lowercase();
            let number = match &p.port {
                None => return Some(format!(" -p {proto}")),
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(name)) => named_port(pod, name, protocol)?,
            };
            let range = match p.end_port {
                Some(end) if end > number => format!("{number}:{end}"),
                _ => number.to_string(),
            };
            Some(format!(" -p {proto} -m {proto} --dport {range}"))
        })
        .collect()
}

fn named_port(pod: &Pod, name: &str, protocol: &str) -> Option<i32> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == protocol
        })
        .map(|p| p.container_port)
}

#[cfg(test)]
mod tests;
