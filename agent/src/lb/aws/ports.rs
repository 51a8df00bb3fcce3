//! Ports of a Service as the AWS controllers resolve them: a backend's Service port, the
//! NodePort or numeric targetPort behind it, and the `healthcheck-port` annotation.

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::values::{Findings, Found, go_parse_int};
use crate::model::{ObjectRef, ProbePort};

/// `traffic-port`: the port the target is registered with.
pub(super) const TRAFFIC_PORT: &str = "traffic-port";

/// A reference to a Service port, by name or by number (an Ingress backend, a `healthcheck-port`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum PortRef {
    Number(i32),
    Name(String),
}

impl PortRef {
    /// Kubernetes' `intstr.Parse`: a whole number is a number, anything else a name.
    pub fn parse(value: &str) -> PortRef {
        match go_parse_int(value).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => PortRef::Number(n),
            None => PortRef::Name(value.to_owned()),
        }
    }
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// What AWS registers: the node at the NodePort, or the pod at the targetPort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TargetType {
    Instance,
    Ip,
}

pub(super) fn ports(svc: &Service) -> &[ServicePort] {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
}

/// The Service port a reference names (`k8s.LookupServicePort`: a name matches `name`, a number
/// matches `port`).
pub(super) fn find<'a>(svc: &'a Service, port: &PortRef) -> Option<&'a ServicePort> {
    ports(svc).iter().find(|p| match port {
        PortRef::Number(n) => p.port == *n,
        PortRef::Name(name) => p.name.as_deref() == Some(name.as_str()),
    })
}

/// The NodePort, once Kubernetes has allocated it.
pub(super) fn node_port(port: &ServicePort) -> Option<u16> {
    port.node_port
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// The numeric targetPort (Kubernetes defaults an absent one to `port`); `None` when it is a name.
pub(super) fn numeric_target_port(port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => go_parse_int(s).and_then(|n| i32::try_from(n).ok()),
    }
}

/// The targetPort's name, when it is one.
pub(super) fn named_target_port(port: &ServicePort) -> Option<&str> {
    match &port.target_port {
        Some(IntOrString::String(s)) if numeric_target_port(port).is_none() => Some(s),
        _ => None,
    }
}

pub(super) fn service_type(svc: &Service) -> &str {
    svc.spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("ClusterIP")
}

pub(super) fn is_local(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        == Some("Local")
}

/// The Service's `healthCheckNodePort` as a probe port: the number once allocated, else the
/// placeholder (and a warning saying so).
pub(super) fn health_check_node_port(
    svc: &Service,
    object: &ObjectRef,
    findings: &mut Findings,
) -> ProbePort {
    let allocated = svc
        .spec
        .as_ref()
        .and_then(|s| s.health_check_node_port)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0);
    match allocated {
        Some(n) => ProbePort::Number(n),
        None => {
            findings.warn(format!(
                "{object}: externalTrafficPolicy Local but no healthCheckNodePort yet (the \
                 manifest was not applied): the health check goes to the port Kubernetes will \
                 allocate"
            ));
            ProbePort::HealthCheckNodePort
        }
    }
}

/// A port number AWS accepts for a health check.
fn port_number(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|n| *n > 0)
}

/// The AWS Load Balancer Controller's `healthcheck-port` for the target group of `traffic`:
/// `traffic-port`, a number as given, or a Service port name resolved to its NodePort (instance
/// targets) or numeric targetPort (ip targets). `None` when no probe can be built: an error or a
/// warning says why.
pub(super) fn lbc_health_check_port(
    found: Option<&Found<'_>>,
    default: ProbePort,
    svc: &Service,
    traffic: &ServicePort,
    target: TargetType,
    findings: &mut Findings,
) -> Option<ProbePort> {
    let Some(found) = found else {
        return Some(default);
    };
    if found.value == TRAFFIC_PORT {
        return Some(ProbePort::TrafficPort);
    }
    let name = match PortRef::parse(found.value) {
        PortRef::Number(n) => {
            return match port_number(n.into()) {
                Some(n) => Some(ProbePort::Number(n)),
                None => {
                    findings.error(found.invalid("is not a port number (1-65535)"));
                    None
                }
            };
        }
        PortRef::Name(name) => name,
    };
    let Some(port) = find(svc, &PortRef::Name(name.clone())) else {
        let svc_ref = ObjectRef::from_meta("Service", &svc.metadata);
        findings.error(found.invalid(format_args!(
            "names no port of {svc_ref}: the controller fails to resolve the health check port"
        )));
        return None;
    };
    match target {
        TargetType::Instance => match node_port(port) {
            Some(n) => Some(ProbePort::Number(n)),
            None if port.port == traffic.port => Some(ProbePort::TrafficPort),
            None => {
                findings.warn(found.says(format_args!(
                    "port {name:?} has no NodePort yet (the manifest was not applied): \
                     probesim cannot tell the health check port until Kubernetes allocates it"
                )));
                None
            }
        },
        TargetType::Ip => match numeric_target_port(port).and_then(|n| port_number(n.into())) {
            Some(n) => Some(ProbePort::Number(n)),
            None => {
                findings.error(found.invalid(
                    "names a Service port whose targetPort is a name: the controller cannot use \
                     a named health check port with ip targets",
                ));
                None
            }
        },
    }
}

/// The trap of a named targetPort with pod targets, for ALB and NLB alike.
pub(super) fn named_target_port_warning(subject: &str, name: &str) -> String {
    format!(
        "{subject}: targetPort {name:?} is a name and the targets are pod IPs: each pod \
         resolves the name on its own (pods may disagree), the target group shows port 1, and a \
         named healthcheck-port cannot point at this port"
    )
}
