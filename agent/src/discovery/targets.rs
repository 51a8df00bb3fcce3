//! The backends this node probes, derived from a [`Snapshot`]: pure, no I/O.
//!
//! - **LB backends**: for each rule the cloud would configure (derived by [`crate::lb::derive`]),
//!   node targets are this node's InternalIPs at the rule's probe port; pod targets (ALB/NLB ip
//!   mode) are this node's endpoints of the rule's Service at the endpoint's numeric port.
//! - **Hops** (spec/scenarios.md S3): for each LB-exposed Service port, plain TCP checks from the
//!   node of what lies behind the LB's view: local pods at `IP:targetPort`, the ClusterIP at its
//!   port, the NodePort on this node.
//! - **What-if versions**: the rules derived for another Kubernetes version; only probes that
//!   differ from the current ones become backends of their own.
//!
//! Nothing outside the cluster's own objects is ever a target.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};

use super::sources::{RulePort, SOURCE_ANNOTATION, SourceAnnotation, SourceChoice};
use super::{EndpointState, Snapshot, key_of, node};
use crate::event::{BackendKey, Hop, SourceMode, SpecVersion};
use crate::lb::{self, Settings};
use crate::model::{
    ObjectRef, ProbePort, ProbeProtocol, ProbeSpec, Rule, ServiceResult, TargetKind,
};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// How to derive: the cluster's own version and the what-if ones.
#[derive(Clone, Debug)]
pub struct PlanSettings {
    pub node: String,
    /// The derivation settings for the cluster's own version.
    pub current: (SpecVersion, Settings),
    /// `--what-if-k8s-version`: derivation settings per version.
    pub what_if: Vec<(SpecVersion, Settings)>,
    /// Where the LB backends' probes come from (hops always come from the node).
    pub sources: SourceChoice,
}

/// One backend this node should probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub key: BackendKey,
    pub spec: Arc<ProbeSpec>,
    /// Whether the LB would have the target registered: always for node targets; for pod
    /// targets, while the endpoint is ready (or held only by a readiness gate) and not
    /// terminating, as the AWS Load Balancer Controller registers them.
    pub registered: bool,
    /// What-if versions that derive the same probe for this rule (see [`Backend::also_for`]).
    ///
    /// [`Backend::also_for`]: crate::event::Backend::also_for
    pub also_for: Vec<String>,
}

/// A Service's endpoints as the report needs them (S3: "no ready endpoints").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointCount {
    pub service: ObjectRef,
    pub ready: u32,
    pub total: u32,
    /// The Service's selector, `k=v,k=v`; empty for a Service without one.
    pub selector: String,
}

/// Everything derived from one snapshot.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// By key: one backend per key.
    pub backends: BTreeMap<BackendKey, Desired>,
    /// Ready endpoints of every Service that an LB rule reaches.
    pub endpoints: Vec<EndpointCount>,
    /// Why something could not be probed (a missing allocated port, no InternalIP, ...).
    pub warnings: Vec<String>,
}

/// Derives what this node probes from the snapshot.
pub fn plan(snapshot: &Snapshot, settings: &PlanSettings) -> Plan {
    let mut plan = Plan::default();
    let objects = snapshot.lb_objects();
    let node_ips = snapshot.node().map(node::internal_ips).unwrap_or_default();
    if snapshot.node().is_some() && node_ips.is_empty() {
        plan.warnings.push(format!(
            "Node {}: no parsable InternalIP in status.addresses; node targets are not probed",
            settings.node
        ));
    }
    let ctx = Context {
        snapshot,
        settings,
        node_ips: &node_ips,
        slices: Slices::index(snapshot),
    };
    let (version, current_settings) = &settings.current;
    let current = lb::derive(&objects, current_settings);
    for result in &current {
        let annotation = ctx.source_annotation(&mut plan, result);
        for rule in &result.rules {
            let Some(spec) = &rule.probe else { continue };
            let lb = (result, annotation.as_ref());
            ctx.lb_backends(&mut plan, lb, rule, spec, version);
            ctx.hops(&mut plan, result, rule, spec, version);
        }
    }
    for (version, what_if_settings) in &settings.what_if {
        for result in lb::derive(&objects, what_if_settings) {
            let annotation = ctx.source_annotation(&mut plan, &result);
            for rule in &result.rules {
                let Some(spec) = &rule.probe else { continue };
                if same_probe_now(&current, &result, rule, spec) {
                    mark_same(&mut plan, &result, rule, &version.version);
                    continue;
                }
                let lb = (&result, annotation.as_ref());
                ctx.lb_backends(&mut plan, lb, rule, spec, version);
            }
        }
    }
    plan.endpoints = endpoint_counts(snapshot, &ctx.slices, &current);
    plan
}

/// Whether the current derivation has the same probe for this rule: then the what-if version
/// needs no backends of its own.
fn same_probe_now(
    current: &[ServiceResult],
    result: &ServiceResult,
    rule: &Rule,
    spec: &ProbeSpec,
) -> bool {
    current
        .iter()
        .filter(|r| r.object == result.object && r.load_balancer == result.load_balancer)
        .flat_map(|r| &r.rules)
        .any(|r| {
            r.port == rule.port
                && r.service == rule.service
                && r.protocol == rule.protocol
                && r.probe.as_ref() == Some(spec)
        })
}

/// Notes on the current LB backends of a rule that `version` probes them the same way.
fn mark_same(plan: &mut Plan, result: &ServiceResult, rule: &Rule, version: &str) {
    for desired in plan.backends.values_mut() {
        let key = &desired.key;
        if key.hop == Hop::Lb
            && !key.version.what_if
            && key.object == result.object
            && key.lb == result.load_balancer
            && key.port == rule.port
            && key.service == rule.service
            && !desired.also_for.iter().any(|v| v == version)
        {
            desired.also_for.push(version.to_owned());
        }
    }
}

struct Context<'a> {
    snapshot: &'a Snapshot,
    settings: &'a PlanSettings,
    node_ips: &'a [IpAddr],
    slices: Slices<'a>,
}

impl Context<'_> {
    fn service(&self, service: &ObjectRef) -> Option<&Service> {
        self.snapshot
            .services
            .get(&format!("{}/{}", service.namespace, service.name))
    }

    /// The key of a backend of this rule; `at` is what is probed and how.
    fn key(&self, rule: (&ServiceResult, &Rule, &SpecVersion), at: At) -> BackendKey {
        let (result, rule, version) = rule;
        BackendKey {
            lb: result.load_balancer,
            object: result.object.clone(),
            service: rule.service.clone(),
            port: rule.port,
            node: self.settings.node.clone(),
            target: at.target,
            target_kind: at.kind,
            pod: at.pod,
            hop: at.hop,
            source: at.source,
            version: version.clone(),
        }
    }

    /// The LB backends of one rule; `lb` is the rule's derivation and its object's parsed
    /// `probesim.io/source` annotation.
    fn lb_backends(
        &self,
        plan: &mut Plan,
        lb: (&ServiceResult, Option<&SourceAnnotation>),
        rule: &Rule,
        spec: &ProbeSpec,
        version: &SpecVersion,
    ) {
        let (result, annotation) = lb;
        let Some(service) = self.service(&rule.service) else {
            plan.warnings.push(format!(
                "{}: its Service {} is not known",
                result.object, rule.service
            ));
            return;
        };
        let spec = Arc::new(spec.clone());
        let port = RulePort {
            lb: result.load_balancer,
            number: rule.port,
            name: service_port_of(service, rule.port).and_then(|p| p.name.as_deref()),
            protocol: spec.protocol,
        };
        let modes = |plan: &mut Plan| {
            let choice = &self.settings.sources;
            choice.modes(&result.object, annotation, port, &mut plan.warnings)
        };
        match spec.target {
            TargetKind::Node => {
                let port = match node_probe_port(&spec, service, rule.port) {
                    Ok(port) => port,
                    Err(why) => {
                        plan.warnings
                            .push(format!("{} port {}: {why}", result.object, rule.port));
                        return;
                    }
                };
                let modes = modes(plan);
                for (ip, source) in self
                    .node_ips
                    .iter()
                    .flat_map(|ip| modes.iter().map(move |m| (ip, *m)))
                {
                    let key = self.key(
                        (result, rule, version),
                        At {
                            target: SocketAddr::new(*ip, port),
                            kind: TargetKind::Node,
                            pod: None,
                            hop: Hop::Lb,
                            source,
                        },
                    );
                    insert(plan, key, spec.clone(), true);
                }
            }
            TargetKind::Pod => {
                let modes = modes(plan);
                for local in self.local_endpoints(service, rule.port) {
                    let port = match spec.port {
                        ProbePort::Number(n) => n,
                        _ => local.port,
                    };
                    for &source in &modes {
                        let key = self.key(
                            (result, rule, version),
                            At {
                                target: SocketAddr::new(local.ip, port),
                                kind: TargetKind::Pod,
                                pod: local.pod.clone(),
                                hop: Hop::Lb,
                                source,
                            },
                        );
                        insert(plan, key, spec.clone(), local.registered);
                    }
                }
            }
        }
    }

    /// The object's `probesim.io/source` annotation, parsed; a malformed one is a warning and
    /// the agent's policy is used (see [`super::sources`]).
    fn source_annotation(
        &self,
        plan: &mut Plan,
        result: &ServiceResult,
    ) -> Option<SourceAnnotation> {
        let object = &result.object;
        let value = self.annotation(object)?;
        SourceAnnotation::parse(value)
            .map_err(|e| {
                plan.warnings.push(format!(
                    "{object}: {e}; probed as the agent's --source says"
                ));
            })
            .ok()
    }

    /// The `probesim.io/source` annotation of the Service or Ingress an LB is configured from.
    fn annotation(&self, object: &ObjectRef) -> Option<&str> {
        let key = format!("{}/{}", object.namespace, object.name);
        let meta = match object.kind.as_str() {
            "Ingress" => &self.snapshot.ingresses.get(&key)?.metadata,
            _ => &self.snapshot.services.get(&key)?.metadata,
        };
        meta.annotations
            .as_ref()?
            .get(SOURCE_ANNOTATION)
            .map(String::as_str)
    }

    fn hops(
        &self,
        plan: &mut Plan,
        result: &ServiceResult,
        rule: &Rule,
        spec: &ProbeSpec,
        version: &SpecVersion,
    ) {
        let Some(service) = self.service(&rule.service) else {
            return;
        };
        let Some(svc) = service.spec.as_ref() else {
            return;
        };
        let Some(port) = service_port_of(service, rule.port) else {
            return;
        };
        let tcp = |kind| {
            Arc::new(ProbeSpec {
                protocol: ProbeProtocol::Tcp,
                path: None,
                matcher: None,
                target: kind,
                ..spec.clone()
            })
        };
        for local in self.local_endpoints(service, rule.port) {
            let key = self.key(
                (result, rule, version),
                At {
                    target: SocketAddr::new(local.ip, local.port),
                    kind: TargetKind::Pod,
                    pod: local.pod.clone(),
                    hop: Hop::Pod,
                    source: SourceMode::Node,
                },
            );
            insert(plan, key, tcp(TargetKind::Pod), true);
        }
        let cluster_ips = svc
            .cluster_ips
            .clone()
            .unwrap_or_else(|| svc.cluster_ip.iter().cloned().collect());
        for ip in cluster_ips
            .iter()
            .filter_map(|ip| ip.parse::<IpAddr>().ok())
        {
            let Ok(service_port) = u16::try_from(port.port) else {
                continue;
            };
            let key = self.key(
                (result, rule, version),
                At {
                    target: SocketAddr::new(ip, service_port),
                    kind: TargetKind::Node,
                    pod: None,
                    hop: Hop::ClusterIp,
                    source: SourceMode::Node,
                },
            );
            insert(plan, key, tcp(TargetKind::Node), true);
        }
        if let Some(node_port) = port.node_port.and_then(|n| u16::try_from(n).ok()) {
            for ip in self.node_ips {
                let key = self.key(
                    (result, rule, version),
                    At {
                        target: SocketAddr::new(*ip, node_port),
                        kind: TargetKind::Node,
                        pod: None,
                        hop: Hop::NodePort,
                        source: SourceMode::Node,
                    },
                );
                insert(plan, key, tcp(TargetKind::Node), true);
            }
        }
    }

    /// This node's endpoints of one Service port, from the Service's EndpointSlices.
    fn local_endpoints(&self, service: &Service, service_port: i32) -> Vec<LocalEndpoint> {
        let Some(port) = service_port_of(service, service_port) else {
            return Vec::new();
        };
        let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
        let name = service.metadata.name.as_deref().unwrap_or("");
        let mut found = Vec::new();
        for slice in self.slices.of(namespace, name) {
            let Some(number) = slice
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref().unwrap_or("") == port.name.as_deref().unwrap_or(""))
                .and_then(|p| p.port)
                .and_then(|n| u16::try_from(n).ok())
            else {
                continue;
            };
            for endpoint in &slice.endpoints {
                if endpoint.node_name.as_deref() != Some(self.settings.node.as_str()) {
                    continue;
                }
                let Some(ip) = endpoint.addresses.first().and_then(|a| a.parse().ok()) else {
                    continue;
                };
                let pod = endpoint
                    .target_ref
                    .as_ref()
                    .filter(|r| r.kind.as_deref() == Some("Pod"))
                    .and_then(|r| r.name.as_deref())
                    .map(|n| format!("{namespace}/{n}"));
                let pod_object = pod.as_ref().and_then(|p| self.snapshot.pods.get(p));
                found.push(LocalEndpoint {
                    ip,
                    port: number,
                    registered: registered(endpoint, pod_object),
                    pod,
                });
            }
        }
        found
    }
}

/// What one backend of a rule probes, and how.
struct At {
    target: SocketAddr,
    kind: TargetKind,
    pod: Option<String>,
    hop: Hop,
    source: SourceMode,
}

struct LocalEndpoint {
    ip: IpAddr,
    port: u16,
    pod: Option<String>,
    registered: bool,
}

/// Adds a backend; of two with one key (two rules with the same probe), the first stays.
fn insert(plan: &mut Plan, key: BackendKey, spec: Arc<ProbeSpec>, registered: bool) {
    plan.backends.entry(key.clone()).or_insert(Desired {
        key,
        spec,
        registered,
        also_for: Vec::new(),
    });
}

/// Whether the AWS Load Balancer Controller would have this endpoint registered: ready, or
/// held back only by a readiness gate (containers ready), and not terminating.
fn registered(endpoint: &Endpoint, pod: Option<&Pod>) -> bool {
    let state = EndpointState::of(endpoint);
    if state.terminating {
        return false;
    }
    if state.ready {
        return true;
    }
    pod.is_some_and(|pod| {
        let gated = pod
            .spec
            .as_ref()
            .is_some_and(|s| s.readiness_gates.as_ref().is_some_and(|g| !g.is_empty()));
        gated
            && pod_condition(pod, "ContainersReady") == Some(true)
            && pod.metadata.deletion_timestamp.is_none()
    })
}

/// A pod condition's status, if the pod has the condition.
pub fn pod_condition(pod: &Pod, type_: &str) -> Option<bool> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status == "True")
}

/// The EndpointSlices by their Service (namespace, then name): indexed once per plan, as every
/// rule looks its Service's slices up more than once.
#[derive(Default)]
struct Slices<'a>(HashMap<&'a str, HashMap<&'a str, Vec<&'a EndpointSlice>>>);

impl<'a> Slices<'a> {
    fn index(snapshot: &'a Snapshot) -> Slices<'a> {
        let mut index = Slices::default();
        for slice in snapshot.slices.values() {
            let meta = &slice.metadata;
            let service = meta.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL));
            if let (Some(namespace), Some(service)) = (meta.namespace.as_deref(), service) {
                index
                    .0
                    .entry(namespace)
                    .or_default()
                    .entry(service.as_str())
                    .or_default()
                    .push(slice);
            }
        }
        index
    }

    /// The slices of one Service.
    fn of(&self, namespace: &str, name: &str) -> &[&'a EndpointSlice] {
        self.0
            .get(namespace)
            .and_then(|services| services.get(name))
            .map_or(&[], Vec::as_slice)
    }
}

fn service_port_of(service: &Service, port: i32) -> Option<&ServicePort> {
    service
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.port == port)
}

/// The port a node target's probe goes to, as allocated by Kubernetes.
fn node_probe_port(spec: &ProbeSpec, service: &Service, rule_port: i32) -> Result<u16, String> {
    let number = match spec.port {
        ProbePort::Number(n) => return Ok(n),
        ProbePort::HealthCheckNodePort => {
            service.spec.as_ref().and_then(|s| s.health_check_node_port)
        }
        ProbePort::TrafficPort => service_port_of(service, rule_port).and_then(|p| p.node_port),
    };
    number.and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
        format!(
            "Service {} has no allocated {}",
            key_of(&service.metadata),
            describe_port(spec.port)
        )
    })
}

fn describe_port(port: ProbePort) -> &'static str {
    match port {
        ProbePort::HealthCheckNodePort => "spec.healthCheckNodePort",
        _ => "nodePort",
    }
}

/// Ready and total endpoints of each Service an LB rule reaches, over all nodes.
fn endpoint_counts(
    snapshot: &Snapshot,
    slices: &Slices<'_>,
    results: &[ServiceResult],
) -> Vec<EndpointCount> {
    let mut services: Vec<&ObjectRef> = results
        .iter()
        .flat_map(|r| &r.rules)
        .map(|r| &r.service)
        .collect();
    services.sort();
    services.dedup();
    services
        .into_iter()
        .map(|service| {
            let mut count = EndpointCount {
                service: service.clone(),
                ready: 0,
                total: 0,
                selector: String::new(),
            };
            for slice in slices.of(&service.namespace, &service.name) {
                for endpoint in &slice.endpoints {
                    count.total += 1;
                    count.ready += u32::from(EndpointState::of(endpoint).ready);
                }
            }
            if let Some(selector) = snapshot
                .services
                .get(&format!("{}/{}", service.namespace, service.name))
                .and_then(|s| s.spec.as_ref())
                .and_then(|s| s.selector.as_ref())
            {
                count.selector = selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
            }
            count
        })
        .collect()
}

#[cfg(test)]
mod tests;
