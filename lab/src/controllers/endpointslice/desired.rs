//! The endpoints a Service should have: one per matching pod with an address, grouped by the
//! ports they resolve to (`podToEndpoint`, `getEndpointPorts`, `FindPort` upstream).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::controllers::objects::{self, name_of, namespace_of};

/// The node label whose value becomes an endpoint's `zone`.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const IPV4: &str = "IPv4";
pub const IPV6: &str = "IPv6";

/// The endpoints that share one set of ports.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// A set of ports as a comparable key (order-insensitive, `None` and empty alike).
pub fn port_key(ports: Option<&[EndpointPort]>) -> String {
    let mut keys: Vec<String> = ports
        .unwrap_or(&[])
        .iter()
        .map(|p| serde_json::to_string(p).unwrap_or_default())
        .collect();
    keys.sort();
    keys.join("\n")
}

/// An endpoint's identity within a Service (`endpointHashObj` upstream): its pod and addresses.
pub fn endpoint_key(endpoint: &Endpoint) -> (String, String, String, Vec<String>) {
    let target = endpoint.target_ref.as_ref();
    let mut addresses = endpoint.addresses.clone();
    addresses.sort();
    (
        target.and_then(|t| t.namespace.clone()).unwrap_or_default(),
        target.and_then(|t| t.name.clone()).unwrap_or_default(),
        endpoint.hostname.clone().unwrap_or_default(),
        addresses,
    )
}

/// Address types the Service asks for. The lab's API server does not default `ipFamilies`, so
/// none listed means IPv4 (upstream would guess from the cluster IP, or both when headless).
pub fn address_types(service: &Service) -> Vec<&'static str> {
    let families = service
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_deref())
        .unwrap_or(&[]);
    let mut types = Vec::new();
    if families.is_empty() || families.iter().any(|f| f == IPV4) {
        types.push(IPV4);
    }
    if families.iter().any(|f| f == IPV6) {
        types.push(IPV6);
    }
    types
}

/// The desired endpoints of `service` for `address_type`, by port key. Pods are taken in the
/// order given; a pod whose node is unknown is left out unless the Service publishes not-ready
/// addresses (as upstream).
pub fn desired(
    service: &Service,
    pods: &[Pod],
    nodes: &HashMap<&str, &Node>,
    address_type: &str,
) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return groups;
    };
    let namespace = namespace_of(&service.metadata);
    let publish_not_ready = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    for pod in pods {
        if namespace_of(&pod.metadata) != namespace
            || !objects::labels_match(selector, pod.metadata.labels.as_ref())
            || objects::is_terminal(pod)
        {
            continue;
        }
        if pod_ips(pod).is_empty() {
            continue;
        }
        let node = nodes.get(objects::node_name(pod)).copied();
        if node.is_none() && !publish_not_ready {
            continue;
        }
        let mut ports = endpoint_ports(service, pod);
        ports.sort_by(|a, b| (&a.name, a.port, &a.protocol).cmp(&(&b.name, b.port, &b.protocol)));
        let addresses = addresses(pod, address_type);
        let endpoint = endpoint(service, pod, node, addresses, publish_not_ready);
        if endpoint.addresses.is_empty() {
            continue;
        }
        groups
            .entry(port_key(Some(&ports)))
            .or_insert_with(|| Group {
                ports,
                endpoints: Vec::new(),
            })
            .endpoints
            .push(endpoint);
    }
    groups
}

fn pod_ips(pod: &Pod) -> Vec<String> {
    let status = pod.status.as_ref();
    let listed: Vec<String> = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().map(|ip| ip.ip.clone()).collect())
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    status
        .and_then(|s| s.pod_ip.clone())
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// The pod's addresses of one family, normalised.
fn addresses(pod: &Pod, address_type: &str) -> Vec<String> {
    pod_ips(pod)
        .iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| ip.is_ipv6() == (address_type == IPV6))
        .map(|ip| ip.to_string())
        .collect()
}

fn endpoint(
    service: &Service,
    pod: &Pod,
    node: Option<&Node>,
    addresses: Vec<String>,
    publish_not_ready: bool,
) -> Endpoint {
    let serving = objects::is_ready(pod);
    let terminating = objects::is_terminating(pod);
    let ready = publish_not_ready || (serving && !terminating);
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    let subdomain = spec.and_then(|s| s.subdomain.as_deref());
    let set_hostname = hostname.is_some()
        && subdomain == Some(name_of(&service.metadata))
        && namespace_of(&service.metadata) == namespace_of(&pod.metadata);
    Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            namespace: Some(namespace_of(&pod.metadata).to_owned()),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        node_name: Some(objects::node_name(pod).to_owned()).filter(|n| !n.is_empty()),
        zone: node
            .and_then(|n| n.metadata.labels.as_ref())
            .and_then(|l| l.get(LABEL_ZONE))
            .filter(|z| !z.is_empty())
            .cloned(),
        hostname: hostname.filter(|_| set_hostname),
        ..Endpoint::default()
    }
}

/// One port per Service port that resolves for this pod; the others are left out.
fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let spec = service.spec.as_ref();
    spec.and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|port| {
            let number = find_port(pod, port)?;
            Some(EndpointPort {
                name: Some(port.name.clone().unwrap_or_default()),
                port: Some(number),
                protocol: Some(protocol(port.protocol.as_deref())),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect()
}

fn protocol(p: Option<&str>) -> String {
    p.filter(|p| !p.is_empty()).unwrap_or("TCP").to_owned()
}

/// `FindPort`: a number is taken as is (none means the Service port, the API default); a name is
/// looked up among the containers' ports of the same protocol, then restartable init containers'.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let name = match &port.target_port {
        None => return Some(port.port),
        Some(IntOrString::Int(n)) => return Some(*n),
        Some(IntOrString::String(name)) => name,
    };
    let wanted = protocol(port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name.as_str()) && protocol(p.protocol.as_deref()) == wanted
        })
        .map(|p| p.container_port)
}
