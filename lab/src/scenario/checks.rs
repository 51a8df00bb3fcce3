//! Expectations: checked against the lab's objects and by probing it as the cloud would.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use probesim_agent::lb::azure::version::CpaVersion;
use probesim_agent::lb::{self, Objects, Settings, verdict};
use probesim_agent::model::{Cloud, ProbePort, ProbeSpec, TargetKind};
use probesim_agent::probe::{Measurement, ProbeRequest};
use serde::Serialize;

use super::file::{EndpointsCheck, LbCheck, LbExpect, ScenarioCloud};
use crate::api::Store;

/// How one expectation turned out.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub passed: bool,
    /// What was checked, and what was seen.
    pub summary: String,
}

/// Sends a probe from the LB's source address (inside the lab) and returns what it saw.
pub type LbProber<'a> = &'a dyn Fn(ProbeRequest) -> Measurement;

/// The LB's view of one backend: derives the probe from the objects as the cloud's controller
/// would, resolves the target, probes it from the LB's source and judges the outcome with the
/// cloud's success rule.
pub fn lb(
    check: &LbCheck,
    cloud: ScenarioCloud,
    k8s_version: &str,
    store: &Store,
    node_ip: &dyn Fn(&str) -> Option<IpAddr>,
    probe: LbProber<'_>,
) -> Checked {
    let version = check.k8s_version.as_deref().unwrap_or(k8s_version);
    match lb_probe_results(check, cloud, version, store, node_ip, probe) {
        Err(why) => Checked {
            passed: false,
            summary: format!("{}: {why}", check.object),
        },
        Ok(results) => {
            let all_as_expected = results
                .iter()
                .all(|(_, up, _)| *up == (check.expect == LbExpect::Up));
            let details: Vec<String> = results
                .iter()
                .map(|(target, _, seen)| format!("{target}: {seen}"))
                .collect();
            let detail_ok = check
                .detail
                .as_ref()
                .is_none_or(|want| details.iter().all(|d| d.contains(want.as_str())));
            let expect = match check.expect {
                LbExpect::Up => "up",
                LbExpect::Down => "down",
            };
            Checked {
                passed: !results.is_empty() && all_as_expected && detail_ok,
                summary: format!(
                    "LB view of {} (Kubernetes {version}) expected {expect}{}: {}",
                    check.object,
                    check
                        .detail
                        .as_deref()
                        .map(|d| format!(" with {d:?}"))
                        .unwrap_or_default(),
                    if details.is_empty() {
                        "no target to probe".to_owned()
                    } else {
                        details.join("; ")
                    }
                ),
            }
        }
    }
}

/// Each probed target with whether the LB counts the probe as a success, and what it saw.
fn lb_probe_results(
    check: &LbCheck,
    cloud: ScenarioCloud,
    version: &str,
    store: &Store,
    node_ip: &dyn Fn(&str) -> Option<IpAddr>,
    probe: LbProber<'_>,
) -> Result<Vec<(String, bool, String)>, String> {
    let services: Vec<Service> = store.list_typed(None);
    let objects = Objects {
        services: services.clone(),
        ingresses: store.list_typed::<Ingress>(None),
        ingress_classes: store.list_typed::<IngressClass>(None),
    };
    let mut settings = Settings {
        cloud: match cloud {
            ScenarioCloud::Azure => Cloud::Azure,
            ScenarioCloud::Aws => Cloud::Aws,
        },
        azure: lb::azure::AzureSettings::default(),
        aws: lb::aws::AwsSettings::default(),
    };
    settings.azure.version = CpaVersion::from_str(version)
        .map_err(|e| format!("Kubernetes version {version:?}: {e}"))?;
    let results = lb::derive(&objects, &settings);
    let result = results
        .iter()
        .find(|r| r.object.to_string() == check.object)
        .ok_or_else(|| {
            format!(
                "the cloud would configure no load balancer for {}",
                check.object
            )
        })?;
    if !result.errors.is_empty() {
        return Err(format!(
            "the cloud's controller rejects it: {}",
            result.errors.join("; ")
        ));
    }
    let rule = result
        .rules
        .iter()
        .filter(|r| r.probe.is_some())
        .find(|r| check.port.is_none_or(|p| p == r.port))
        .ok_or_else(|| {
            format!(
                "no probed rule{}",
                check
                    .port
                    .map(|p| format!(" for port {p}"))
                    .unwrap_or_default()
            )
        })?;
    let Some(spec) = rule.probe.as_ref() else {
        return Err("no probe".to_owned());
    };
    let service = services
        .iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(rule.service.namespace.as_str())
                && s.metadata.name.as_deref() == Some(rule.service.name.as_str())
        })
        .ok_or_else(|| format!("{} does not exist", rule.service))?;
    let targets = match spec.target {
        TargetKind::Node => {
            let node = check.node.as_deref().ok_or("a node target needs `node`")?;
            let ip = node_ip(node).ok_or_else(|| format!("no node {node}"))?;
            let port = node_port(spec, service, rule.port)?;
            vec![(format!("node {node}"), SocketAddr::new(ip, port))]
        }
        TargetKind::Pod => pod_targets(check, spec, service, rule.port, store)?,
    };
    Ok(targets
        .into_iter()
        .map(|(name, addr)| {
            let measurement = probe(ProbeRequest::for_spec(spec, addr));
            let verdict = verdict::judge(spec, &measurement.outcome);
            let seen = format!(
                "{} {addr}{} -> {} ({})",
                spec.protocol.as_str().to_uppercase(),
                spec.path
                    .as_deref()
                    .map(|p| format!(" GET {p}"))
                    .unwrap_or_default(),
                measurement.outcome,
                verdict.kind()
            );
            (name, verdict.is_success(), seen)
        })
        .collect())
}

fn node_port(spec: &ProbeSpec, service: &Service, rule_port: i32) -> Result<u16, String> {
    let svc = service.spec.as_ref().ok_or("the Service has no spec")?;
    let number = match spec.port {
        ProbePort::Number(n) => return Ok(n),
        ProbePort::HealthCheckNodePort => svc.health_check_node_port,
        ProbePort::TrafficPort => svc
            .ports
            .iter()
            .flatten()
            .find(|p| p.port == rule_port)
            .and_then(|p| p.node_port),
    };
    number
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("the Service has no allocated port for {}", spec.port))
}

fn pod_targets(
    check: &LbCheck,
    spec: &ProbeSpec,
    service: &Service,
    rule_port: i32,
    store: &Store,
) -> Result<Vec<(String, SocketAddr)>, String> {
    let svc = service.spec.as_ref().ok_or("the Service has no spec")?;
    let selector: BTreeMap<String, String> = check
        .pods
        .clone()
        .or_else(|| svc.selector.clone())
        .unwrap_or_default();
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let target_port = svc
        .ports
        .iter()
        .flatten()
        .find(|p| p.port == rule_port)
        .and_then(|p| p.target_port.clone());
    let pods: Vec<Pod> = store.list_typed(Some(namespace));
    let mut targets = Vec::new();
    for pod in pods {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            continue;
        }
        let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok())
        else {
            continue;
        };
        let port = match spec.port {
            ProbePort::Number(n) => n,
            _ => resolve_target_port(target_port.as_ref(), &pod).unwrap_or(0),
        };
        targets.push((
            format!("pod {}", pod.metadata.name.unwrap_or_default()),
            SocketAddr::new(ip, port),
        ));
    }
    Ok(targets)
}

fn resolve_target_port(
    target: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    pod: &Pod,
) -> Option<u16> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match target? {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Counts a Service's endpoints by condition, over its EndpointSlices.
pub fn endpoints(check: &EndpointsCheck, store: &Store) -> Checked {
    let (namespace, name) = check
        .service
        .split_once('/')
        .unwrap_or(("default", &check.service));
    let slices: Vec<EndpointSlice> = store.list_typed(Some(namespace));
    let (mut ready, mut serving, mut terminating) = (0, 0, 0);
    for slice in slices.iter().filter(|s| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .map(String::as_str)
            == Some(name)
    }) {
        for ep in &slice.endpoints {
            let c = ep.conditions.clone().unwrap_or_default();
            ready += usize::from(c.ready.unwrap_or(false));
            serving += usize::from(c.serving.unwrap_or(false));
            terminating += usize::from(c.terminating.unwrap_or(false));
        }
    }
    let want = |w: Option<usize>, got: usize| w.is_none_or(|w| w == got);
    Checked {
        passed: want(check.ready, ready)
            && want(check.serving, serving)
            && want(check.terminating, terminating),
        summary: format!(
            "endpoints of Service {}: ready {ready}, serving {serving}, terminating {terminating} (expected{}{}{})",
            check.service,
            check
                .ready
                .map(|n| format!(" ready {n}"))
                .unwrap_or_default(),
            check
                .serving
                .map(|n| format!(" serving {n}"))
                .unwrap_or_default(),
            check
                .terminating
                .map(|n| format!(" terminating {n}"))
                .unwrap_or_default(),
        ),
    }
}
