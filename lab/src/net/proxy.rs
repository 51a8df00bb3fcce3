//! kube-proxy's iptables mode, rendered: Services and EndpointSlices in, the node's `nat` and
//! `filter` rules out, with kube-proxy's chain layout and names (KUBE-SERVICES, KUBE-NODEPORTS,
//! KUBE-SVC-*, KUBE-SVL-*, KUBE-EXT-*, KUBE-SEP-*, KUBE-MARK-MASQ, KUBE-POSTROUTING), so that a
//! lab node's `iptables-save` reads like a real node's.
//!
//! Covered: ClusterIP, NodePort and LoadBalancer Services (their NodePorts), TCP/UDP/SCTP ports,
//! externalTrafficPolicy Cluster and Local, terminating endpoints as a fallback, REJECT for
//! Services without endpoints and DROP for Local ones without local endpoints, and the
//! health-check node ports. Not covered (no scenario needs them): load balancer and external IPs,
//! loadBalancerSourceRanges, session affinity, internalTrafficPolicy Local, topology hints.

pub mod endpoints;
pub mod health;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use self::endpoints::{Endpoint, categorize, endpoints_of, local_ready};
use super::addr::Ipv4Cidr;
use super::iptables::{Hook, Ruleset, Table, chain_name, comment};

/// kube-proxy's masquerade mark (`--iptables-masquerade-bit` 14).
pub const MASQ_MARK: &str = "0x4000";

/// The jumps from the built-in chains into kube-proxy's, in the order kube-proxy leaves them.
pub const HOOKS: [Hook; 9] = [
    append(
        Table::Filter,
        "INPUT",
        "-m comment --comment \"kubernetes health check service ports\"",
        "KUBE-NODEPORTS",
    ),
    append(
        Table::Filter,
        "INPUT",
        "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\"",
        "KUBE-EXTERNAL-SERVICES",
    ),
    append(
        Table::Filter,
        "FORWARD",
        "-m comment --comment \"kubernetes forwarding rules\"",
        "KUBE-FORWARD",
    ),
    append(
        Table::Filter,
        "FORWARD",
        "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\"",
        "KUBE-SERVICES",
    ),
    append(
        Table::Filter,
        "FORWARD",
        "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\"",
        "KUBE-EXTERNAL-SERVICES",
    ),
    append(
        Table::Filter,
        "OUTPUT",
        "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\"",
        "KUBE-SERVICES",
    ),
    append(
        Table::Nat,
        "PREROUTING",
        "-m comment --comment \"kubernetes service portals\"",
        "KUBE-SERVICES",
    ),
    append(
        Table::Nat,
        "OUTPUT",
        "-m comment --comment \"kubernetes service portals\"",
        "KUBE-SERVICES",
    ),
    append(
        Table::Nat,
        "POSTROUTING",
        "-m comment --comment \"kubernetes postrouting rules\"",
        "KUBE-POSTROUTING",
    ),
];

const fn append(
    table: Table,
    builtin: &'static str,
    args: &'static str,
    target: &'static str,
) -> Hook {
    Hook {
        table,
        builtin,
        args,
        target,
        first: false,
    }
}

/// What the rules are rendered for.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    pub name: &'a str,
    /// kube-proxy's `--cluster-cidr`: traffic from outside it to a ClusterIP is masqueraded, and
    /// pods' traffic to a Local Service's NodePort is treated as internal. `None` leaves both
    /// rules out, as kube-proxy does without a local traffic detector.
    pub cluster_cidr: Option<Ipv4Cidr>,
}

/// A Service's health-check node port on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub port: u16,
    /// This node's ready endpoints of the Service.
    pub local_endpoints: usize,
}

/// Namespace and name.
pub type ServiceKey = (String, String);

/// Every health-check node port of the node, by Service.
pub type HealthChecks = BTreeMap<ServiceKey, HealthCheck>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyRules {
    pub rules: Ruleset,
    pub health_checks: HealthChecks,
}

/// kube-proxy's rules for `node`, from every Service and EndpointSlice.
pub fn render(services: &[Service], slices: &[EndpointSlice], node: &NodeView<'_>) -> ProxyRules {
    let mut out = ProxyRules::default();
    fixed_rules(&mut out.rules);
    let mut services: Vec<&Service> = services.iter().collect();
    services.sort_by_key(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()));
    for service in services {
        let (Some(name), Some(spec)) = (&service.metadata.name, &service.spec) else {
            continue;
        };
        let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
        let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
        let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
        if kind == "ExternalName" || cluster_ip == "None" {
            continue;
        }
        let local_policy = matches!(kind, "NodePort" | "LoadBalancer")
            && spec.external_traffic_policy.as_deref() == Some("Local");
        let health_port = spec
            .health_check_node_port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0 && kind == "LoadBalancer" && local_policy);
        let mut local_endpoints = 0;
        for port in spec.ports.iter().flatten() {
            let sp = PortRender {
                namespace,
                service: name,
                port,
                cluster_ip: (!cluster_ip.is_empty()).then_some(cluster_ip),
                node_port: matches!(kind, "NodePort" | "LoadBalancer")
                    .then_some(port.node_port)
                    .flatten()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0),
                local_policy,
                health_port,
            };
            let endpoints = endpoints_of(
                slices,
                namespace,
                name,
                port.name.as_deref().unwrap_or(""),
                port.protocol.as_deref().unwrap_or("TCP"),
            );
            local_endpoints = local_endpoints.max(local_ready(&endpoints, node.name));
            sp.render(&endpoints, node, &mut out.rules);
        }
        if let Some(port) = health_port {
            out.health_checks.insert(
                (namespace.to_owned(), name.clone()),
                HealthCheck {
                    port,
                    local_endpoints,
                },
            );
        }
    }
    out.rules.rule(
        Table::Nat,
        "KUBE-SERVICES",
        &format!(
            "{} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
            comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        ),
    );
    out
}

/// The chains every node has, services or not, and their fixed rules.
fn fixed_rules(rules: &mut Ruleset) {
    for chain in [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
    ] {
        rules.chain(Table::Nat, chain);
    }
    for chain in [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
    ] {
        rules.chain(Table::Filter, chain);
    }
    let nat = |r: &mut Ruleset, chain, args: String| r.rule(Table::Nat, chain, &args);
    nat(
        rules,
        "KUBE-MARK-MASQ",
        format!("-j MARK --or-mark {MASQ_MARK}"),
    );
    nat(
        rules,
        "KUBE-POSTROUTING",
        format!("-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"),
    );
    nat(
        rules,
        "KUBE-POSTROUTING",
        format!("-j MARK --xor-mark {MASQ_MARK}"),
    );
    nat(
        rules,
        "KUBE-POSTROUTING",
        format!(
            "{} -j MASQUERADE --random-fully",
            comment("kubernetes service traffic requiring SNAT")
        ),
    );
    let filter = |r: &mut Ruleset, args: String| r.rule(Table::Filter, "KUBE-FORWARD", &args);
    filter(rules, "-m conntrack --ctstate INVALID -j DROP".to_owned());
    filter(
        rules,
        format!(
            "{} -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
            comment("kubernetes forwarding rules")
        ),
    );
    filter(
        rules,
        format!(
            "{} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            comment("kubernetes forwarding conntrack rule")
        ),
    );
}

/// One port of one Service.
struct PortRender<'a> {
    namespace: &'a str,
    service: &'a str,
    port: &'a ServicePort,
    cluster_ip: Option<&'a str>,
    node_port: Option<u16>,
    local_policy: bool,
    health_port: Option<u16>,
}

impl PortRender<'_> {
    /// `ns/name:port`, or `ns/name` for an unnamed port: kube-proxy's ServicePortName.
    fn name(&self) -> String {
        match self.port.name.as_deref().unwrap_or("") {
            "" => format!("{}/{}", self.namespace, self.service),
            port => format!("{}/{}:{port}", self.namespace, self.service),
        }
    }

    fn render(&self, endpoints: &[Endpoint], node: &NodeView<'_>, rules: &mut Ruleset) {
        let name = self.name();
        let proto = self
            .port
            .protocol
            .as_deref()
            .unwrap_or("TCP")
            .to_ascii_lowercase();
        let port = self.port.port;
        let svc = chain_name("KUBE-SVC-", &format!("{name}{proto}"));
        let svl = chain_name("KUBE-SVL-", &format!("{name}{proto}"));
        let ext = chain_name("KUBE-EXT-", &format!("{name}{proto}"));
        let match_proto = format!("-m {proto} -p {proto}");

        let externally_accessible = self.node_port.is_some();
        let uses_local = self.local_policy && externally_accessible;
        let eps = categorize(endpoints, node.name, uses_local);
        let has_endpoints = eps.has_any;
        let has_external = if uses_local {
            !eps.local.is_empty()
        } else {
            has_endpoints
        };
        let (filter_target, filter_comment) = if has_endpoints {
            ("DROP", format!("{name} has no local endpoints"))
        } else {
            ("REJECT", format!("{name} has no endpoints"))
        };

        if let Some(ip) = self.cluster_ip {
            let dest = format!("{match_proto} -d {ip} --dport {port}");
            if has_endpoints {
                let c = comment(&format!("{name} cluster IP"));
                rules.rule(Table::Nat, "KUBE-SERVICES", &format!("{c} {dest} -j {svc}"));
            } else {
                let c = comment(&filter_comment);
                rules.rule(
                    Table::Filter,
                    "KUBE-SERVICES",
                    &format!("{c} {dest} -j REJECT"),
                );
            }
        }
        if let Some(node_port) = self.node_port {
            if has_endpoints {
                let c = comment(&name);
                let args = format!("{c} {match_proto} --dport {node_port} -j {ext}");
                rules.rule(Table::Nat, "KUBE-NODEPORTS", &args);
            }
            if !has_external {
                let c = comment(&filter_comment);
                let args = format!(
                    "{c} -m addrtype --dst-type LOCAL {match_proto} --dport {node_port} -j {filter_target}"
                );
                rules.rule(Table::Filter, "KUBE-EXTERNAL-SERVICES", &args);
            }
        }
        if let Some(health_port) = self.health_port {
            let c = comment(&format!("{name} health check node port"));
            let args = format!("{c} -m tcp -p tcp --dport {health_port} -j ACCEPT");
            rules.rule(Table::Filter, "KUBE-NODEPORTS", &args);
        }

        if !eps.cluster.is_empty() {
            rules.chain(Table::Nat, &svc);
            if let (Some(ip), Some(cidr)) = (self.cluster_ip, node.cluster_cidr) {
                let c = comment(&format!("{name} cluster IP"));
                let args = format!(
                    "{c} {match_proto} -d {ip} --dport {port} ! -s {cidr} -j KUBE-MARK-MASQ"
                );
                rules.rule(Table::Nat, &svc, &args);
            }
        }
        if has_endpoints && externally_accessible {
            rules.chain(Table::Nat, &ext);
            if !uses_local {
                let c = comment(&format!(
                    "masquerade traffic for {name} external destinations"
                ));
                rules.rule(Table::Nat, &ext, &format!("{c} -j KUBE-MARK-MASQ"));
            } else {
                if let Some(cidr) = node.cluster_cidr {
                    let c = comment(&format!("pod traffic for {name} external destinations"));
                    rules.rule(Table::Nat, &ext, &format!("{c} -s {cidr} -j {svc}"));
                }
                let c = comment(&format!(
                    "masquerade LOCAL traffic for {name} external destinations"
                ));
                let args = format!("{c} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ");
                rules.rule(Table::Nat, &ext, &args);
                let c = comment(&format!(
                    "route LOCAL traffic for {name} external destinations"
                ));
                let args = format!("{c} -m addrtype --src-type LOCAL -j {svc}");
                rules.rule(Table::Nat, &ext, &args);
            }
            if has_external {
                let target = if uses_local { &svl } else { &svc };
                rules.rule(Table::Nat, &ext, &format!("-j {target}"));
            }
        }
        let sep = |e: &Endpoint| chain_name("KUBE-SEP-", &format!("{name}{proto}{}", e.addr()));
        let spread = |rules: &mut Ruleset, chain: &str, list: &[Endpoint]| {
            for (i, e) in list.iter().enumerate() {
                let c = comment(&format!("{name} -> {}", e.addr()));
                let left = list.len() - i;
                let chance = if left > 1 {
                    format!(
                        " -m statistic --mode random --probability {:.10}",
                        1.0 / left as f64
                    )
                } else {
                    String::new()
                };
                rules.rule(Table::Nat, chain, &format!("{c}{chance} -j {}", sep(e)));
            }
        };
        spread(rules, &svc, &eps.cluster);
        if uses_local && !eps.local.is_empty() {
            rules.chain(Table::Nat, &svl);
            spread(rules, &svl, &eps.local);
        }
        for e in &eps.reachable {
            let chain = sep(e);
            let c = comment(&name);
            rules.rule(
                Table::Nat,
                &chain,
                &format!("{c} -s {} -j KUBE-MARK-MASQ", e.ip),
            );
            let args = format!("{c} {match_proto} -j DNAT --to-destination {}", e.addr());
            rules.rule(Table::Nat, &chain, &args);
        }
    }
}

#[cfg(test)]
mod tests;
