//! Endpoints as kube-proxy reads them from EndpointSlices, and its choice of which to use.

use std::net::Ipv4Addr;

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One endpoint of one service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub node: Option<String>,
    /// Unset conditions read as kube-proxy reads them: ready and serving unless said otherwise,
    /// not terminating.
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

impl Endpoint {
    /// `ip:port`, as kube-proxy names endpoints in comments and chain hashes.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn is_local(&self, node: &str) -> bool {
        self.node.as_deref() == Some(node)
    }

    fn serving_terminating(&self) -> bool {
        self.serving && self.terminating
    }
}

/// The endpoints of port `port_name`/`protocol` of Service `namespace`/`service`, from every IPv4
/// slice labelled with the Service's name; the first address of each endpoint, as kube-proxy
/// takes it. Sorted by `ip:port`, duplicates (an endpoint moving between slices) once.
pub fn endpoints_of(
    slices: &[EndpointSlice],
    namespace: &str,
    service: &str,
    port_name: &str,
    protocol: &str,
) -> Vec<Endpoint> {
    let mut found: Vec<Endpoint> = Vec::new();
    let owned = slices.iter().filter(|s| {
        s.metadata.namespace.as_deref().unwrap_or("default") == namespace
            && s.address_type == "IPv4"
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .is_some_and(|n| n == service)
    });
    for slice in owned {
        let port = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && p.protocol.as_deref().unwrap_or("TCP") == protocol
        });
        let Some(port) = port
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let Some(ip) = endpoint.addresses.first().and_then(|a| a.parse().ok()) else {
                continue;
            };
            let conditions = endpoint.conditions.clone().unwrap_or_default();
            let ready = conditions.ready.unwrap_or(true);
            found.push(Endpoint {
                ip,
                port,
                node: endpoint.node_name.clone(),
                ready,
                serving: conditions.serving.unwrap_or(ready),
                terminating: conditions.terminating.unwrap_or(false),
            });
        }
    }
    found.sort_by_key(Endpoint::addr);
    found.dedup_by(|a, b| a.addr() == b.addr());
    found
}

/// kube-proxy's `CategorizeEndpoints` for a Service whose internal traffic policy is Cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized {
    /// Ready endpoints anywhere; if there are none, the serving terminating ones.
    pub cluster: Vec<Endpoint>,
    /// With externalTrafficPolicy Local: this node's ready endpoints; if there are none, its
    /// serving terminating ones.
    pub local: Vec<Endpoint>,
    /// Both lists together, once each: the endpoints that get a KUBE-SEP chain.
    pub reachable: Vec<Endpoint>,
    /// Whether the Service has any usable endpoint on any node.
    pub has_any: bool,
}

pub fn categorize(endpoints: &[Endpoint], node: &str, uses_local: bool) -> Categorized {
    let pick = |f: &dyn Fn(&Endpoint) -> bool| -> Vec<Endpoint> {
        endpoints.iter().filter(|e| f(e)).cloned().collect()
    };
    let mut cluster = pick(&|e| e.ready);
    if cluster.is_empty() {
        cluster = pick(&|e| e.serving_terminating());
    }
    let mut has_any = !cluster.is_empty();
    if !uses_local {
        return Categorized {
            reachable: cluster.clone(),
            cluster,
            local: Vec::new(),
            has_any,
        };
    }
    has_any |= endpoints.iter().any(|e| e.ready || e.serving_terminating());
    let mut local = pick(&|e| e.is_local(node) && e.ready);
    if local.is_empty() {
        local = pick(&|e| e.is_local(node) && e.serving_terminating());
    }
    let mut reachable = cluster.clone();
    for e in &local {
        if !reachable.contains(e) {
            reachable.push(e.clone());
        }
    }
    Categorized {
        cluster,
        local,
        reachable,
        has_any,
    }
}

/// This node's ready endpoints of a Service: what its health-check node port reports
/// (terminating endpoints do not count).
pub fn local_ready(endpoints: &[Endpoint], node: &str) -> usize {
    endpoints
        .iter()
        .filter(|e| e.is_local(node) && e.ready)
        .count()
}
