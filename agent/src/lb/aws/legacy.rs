//! Service -> Classic LB or NLB, as the legacy in-tree provider (cloud-provider-aws) builds them.
//! A Classic LB has one health check for all its listeners; a legacy NLB gives every port a
//! target group with the same health check. Both register nodes.

use std::ops::RangeInclusive;

use k8s_openapi::api::core::v1::Service;

use super::attributes::DEFAULT_DEREGISTRATION_DELAY_S;
use super::health::{
    self, CLB_TIMEOUT_RANGE, Check, ELBV2_TIMEOUT_RANGE, INTERVAL_RANGE, THRESHOLD_RANGE,
};
use super::ports::{self, TRAFFIC_PORT};
use super::values::{Findings, Layers, go_parse_int};
use super::{AwsSettings, LOAD_BALANCER_TYPE, LegacyProbeMode, SERVICE_PREFIX};
use crate::lb::annotations::Annotations;
use crate::lb::matcher::{Matcher, MatcherKind, NLB_HTTP_RANGE};
use crate::model::{
    HttpVersion, LbKind, ObjectRef, ProbePort, ProbeProtocol, Rule, RuleProtocol, ServiceResult,
    TargetKind,
};

/// cloud-provider-aws's Classic LB health check: interval, timeout, healthy, unhealthy.
const CLB_DEFAULTS: (u32, u32, u32, u32) = (10, 5, 2, 6);
/// cloud-provider-aws's NLB health check for externalTrafficPolicy Cluster.
const NLB_DEFAULTS: (u32, u32, u32, u32) = (30, 10, 3, 3);
/// cloud-provider-aws's NLB health check for externalTrafficPolicy Local.
const NLB_LOCAL_DEFAULTS: (u32, u32, u32, u32) = (10, 10, 2, 2);
/// kube-proxy's health check path on the healthCheckNodePort.
const LOCAL_PATH: &str = "/healthz";
/// The AWS default matcher of NLB HTTP(S) health checks; the legacy provider sets none.
const NLB_AWS_DEFAULT_CODES: &str = "200-399";

const HC_PROTOCOL: &str = "aws-load-balancer-healthcheck-protocol";
const HC_PORT: &str = "aws-load-balancer-healthcheck-port";
const HC_PATH: &str = "aws-load-balancer-healthcheck-path";
const BACKEND_PROTOCOL: &str = "aws-load-balancer-backend-protocol";

/// What cloud-provider-aws would configure for a Service it owns (see
/// [`super::service_owner`]).
pub fn derive_service(svc: &Service, settings: &AwsSettings) -> ServiceResult {
    let object = ObjectRef::from_meta("Service", &svc.metadata);
    let is_nlb = Annotations::of(&svc.metadata).get(LOAD_BALANCER_TYPE) == Some("nlb");
    let lb = if is_nlb { LbKind::Nlb } else { LbKind::Clb };
    let mut findings = Findings::default();
    let mut result = ServiceResult::new(object.clone(), lb);
    let layers = Layers::new(SERVICE_PREFIX).then(&object, &svc.metadata);

    let rule_protocols = check_service(svc, &object, is_nlb, &mut findings);
    let check = if is_nlb {
        nlb_check(svc, &object, &layers, settings, &mut findings)
    } else {
        clb_check(svc, &object, &layers, settings, &mut findings)
    };
    if let Some(check) = &check {
        let chosen = layers
            .get("aws-load-balancer-healthcheck-interval")
            .is_some()
            || layers
                .get("aws-load-balancer-healthcheck-timeout")
                .is_some();
        check.warn_timeout_not_below_interval(&object.to_string(), chosen, &mut findings);
    }
    let delay = is_nlb.then_some(DEFAULT_DEREGISTRATION_DELAY_S);
    for (port, protocol) in ports::ports(svc).iter().zip(rule_protocols) {
        result.rules.push(Rule {
            port: port.port,
            protocol,
            probe: check
                .clone()
                .map(|c| c.into_spec(lb, TargetKind::Node, HttpVersion::Http1, delay)),
            service: object.clone(),
        });
    }
    findings.finish(result)
}

/// What the provider refuses before it looks at health checks; the rule protocol of each port.
fn check_service(
    svc: &Service,
    object: &ObjectRef,
    is_nlb: bool,
    findings: &mut Findings,
) -> Vec<RuleProtocol> {
    let spec = svc.spec.as_ref();
    let affinity = spec
        .and_then(|s| s.session_affinity.as_deref())
        .unwrap_or("None");
    if affinity != "None" {
        findings.error(format!(
            "{object}: sessionAffinity {affinity}: the legacy AWS provider supports no session \
             affinity"
        ));
    }
    if spec
        .and_then(|s| s.load_balancer_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty())
    {
        findings.error(format!(
            "{object}: spec.loadBalancerIP cannot be set for an AWS ELB"
        ));
    }
    let ports = ports::ports(svc);
    if ports.is_empty() {
        findings.error(format!("{object}: a load balancer with no ports"));
    }
    let protocols: Vec<Option<RuleProtocol>> = ports
        .iter()
        .map(|p| RuleProtocol::from_k8s(p.protocol.as_deref()))
        .collect();
    if protocols.windows(2).any(|w| w[0] != w[1]) {
        findings.error(format!(
            "{object}: ports of different protocols: the legacy AWS provider does not mix them"
        ));
    }
    let supported: &[RuleProtocol] = if is_nlb {
        &[RuleProtocol::Tcp, RuleProtocol::Udp]
    } else {
        &[RuleProtocol::Tcp]
    };
    ports
        .iter()
        .zip(protocols)
        .map(|(port, protocol)| match protocol {
            Some(p) if supported.contains(&p) => p,
            _ => {
                let lb = if is_nlb { "an NLB" } else { "a Classic LB" };
                findings.error(format!(
                    "{object} port {}: protocol {} is not supported by {lb} of the legacy AWS \
                     provider",
                    port.port,
                    port.protocol.as_deref().unwrap_or("TCP")
                ));
                RuleProtocol::Tcp
            }
        })
        .collect()
}

/// The Classic LB's single health check: `TCP:` (or `SSL:` for an https/ssl backend) on the
/// first port's NodePort, `HTTP:` on the healthCheckNodePort for Local, kube-proxy's port in the
/// shared probe mode; then the annotations.
fn clb_check(
    svc: &Service,
    object: &ObjectRef,
    layers: &Layers<'_>,
    settings: &AwsSettings,
    findings: &mut Findings,
) -> Option<Check> {
    let errors_before = findings.errors.len();
    let first_node_port = ports::ports(svc)
        .first()
        .map_or(ProbePort::TrafficPort, |p| {
            ports::node_port(p).map_or(ProbePort::TrafficPort, ProbePort::Number)
        });
    let port_annotation = layers.get(HC_PORT);
    let (mut protocol, mut port, mut path) = if ports::is_local(svc) {
        let port = if port_annotation
            .as_ref()
            .is_some_and(|f| f.value == TRAFFIC_PORT)
        {
            first_node_port
        } else {
            ports::health_check_node_port(svc, object, findings)
        };
        ("HTTP".to_owned(), port, LOCAL_PATH.to_owned())
    } else if settings.legacy_probe_mode == LegacyProbeMode::Shared {
        let shared = ProbePort::Number(settings.legacy_shared_probe_port);
        (
            "HTTP".to_owned(),
            shared,
            settings.legacy_shared_probe_path.clone(),
        )
    } else {
        let backend = layers.string(BACKEND_PROTOCOL, "").to_lowercase();
        let protocol = if backend == "https" || backend == "ssl" {
            "SSL"
        } else {
            "TCP"
        };
        (protocol.to_owned(), first_node_port, String::new())
    };
    if let Some(found) = layers.get(HC_PROTOCOL) {
        protocol = found.value.to_owned();
    }
    if let Some(found) = port_annotation.as_ref().filter(|f| f.value != TRAFFIC_PORT) {
        match go_parse_int(found.value)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
        {
            Some(n) => port = ProbePort::Number(n),
            None => findings.error(found.invalid("is not a port number (1-65535) or traffic-port")),
        }
    }
    let path_annotation = layers.get(HC_PATH);
    let protocol = match protocol.to_uppercase().as_str() {
        "TCP" => ProbeProtocol::Tcp,
        "SSL" => ProbeProtocol::Ssl,
        "HTTP" => ProbeProtocol::Http,
        "HTTPS" => ProbeProtocol::Https,
        _ => {
            let found = layers.get(HC_PROTOCOL);
            let message =
                "is not one of TCP, SSL, HTTP, HTTPS: AWS refuses the health check target";
            findings.error(found.map_or_else(
                || format!("{object}: protocol {protocol:?} {message}"),
                |f| f.invalid(message),
            ));
            ProbeProtocol::Tcp
        }
    };
    if protocol.is_http_like() {
        if path.is_empty() {
            path = "/".to_owned();
        }
        if let Some(found) = path_annotation.as_ref().filter(|f| !f.value.is_empty()) {
            path = health::path(found, findings);
        }
    } else {
        health::warn_path_ignored(path_annotation.as_ref(), protocol, findings);
    }
    let count = ports::ports(svc).len();
    if count > 1 && port == first_node_port {
        findings.warn(if first_node_port == ProbePort::TrafficPort {
            format!(
                "{object}: no NodePorts yet (the manifest was not applied): the Classic LB will \
                 check only the first port's NodePort, for all {count} ports; probesim checks \
                 each port's own NodePort until they are allocated"
            )
        } else {
            format!(
                "{object}: one health check for all {count} ports: the first port's NodePort \
                 decides whether a node is InService for every port"
            )
        });
    }
    let (interval_s, timeout_s, healthy_threshold, unhealthy_threshold) =
        timing(layers, CLB_DEFAULTS, CLB_TIMEOUT_RANGE, findings);
    let check = Check {
        protocol,
        port,
        path: protocol.is_http_like().then_some(path),
        interval_s,
        timeout_s,
        healthy_threshold,
        unhealthy_threshold,
        // A Classic LB's HTTP(S) check passes on 200 only: no matcher.
        matcher: None,
    };
    (findings.errors.len() == errors_before).then_some(check)
}

/// The legacy NLB's health check, the same for every port's target group.
fn nlb_check(
    svc: &Service,
    object: &ObjectRef,
    layers: &Layers<'_>,
    settings: &AwsSettings,
    findings: &mut Findings,
) -> Option<Check> {
    let errors_before = findings.errors.len();
    let local = ports::is_local(svc);
    let (mut protocol, defaults) = if local {
        (ProbeProtocol::Http, NLB_LOCAL_DEFAULTS)
    } else {
        (ProbeProtocol::Tcp, NLB_DEFAULTS)
    };
    if let Some(found) = layers.get(HC_PROTOCOL) {
        protocol = match found.value.to_uppercase().as_str() {
            "TCP" => ProbeProtocol::Tcp,
            "HTTP" => ProbeProtocol::Http,
            "HTTPS" => ProbeProtocol::Https,
            _ => {
                findings.error(found.invalid("is not one of TCP, HTTP, HTTPS"));
                protocol
            }
        };
    }
    let path_annotation = layers.get(HC_PATH);
    let mut path = (protocol != ProbeProtocol::Tcp).then(|| match path_annotation.as_ref() {
        Some(found) => health::path(found, findings),
        None => (if local { LOCAL_PATH } else { "/" }).to_owned(),
    });
    health::warn_path_ignored(path_annotation.as_ref(), protocol, findings);
    let port_annotation = layers.get(HC_PORT);
    let mut port = match port_annotation.as_ref() {
        Some(found) if found.value == TRAFFIC_PORT => ProbePort::TrafficPort,
        Some(found) => match go_parse_int(found.value)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
        {
            Some(n) => ProbePort::Number(n),
            None => {
                findings.error(found.invalid("is not a port number (1-65535) or traffic-port"));
                ProbePort::TrafficPort
            }
        },
        None if local => ports::health_check_node_port(svc, object, findings),
        None => ProbePort::TrafficPort,
    };
    if !local && settings.legacy_probe_mode == LegacyProbeMode::Shared {
        // The shared mode is applied after the annotations and wins over them.
        protocol = ProbeProtocol::Http;
        port = ProbePort::Number(settings.legacy_shared_probe_port);
        path = Some(settings.legacy_shared_probe_path.clone());
    }
    let (interval_s, timeout_s, healthy_threshold, unhealthy_threshold) =
        timing(layers, defaults, ELBV2_TIMEOUT_RANGE, findings);
    let matcher = (protocol != ProbeProtocol::Tcp)
        .then(|| Matcher::parse(MatcherKind::Http, NLB_AWS_DEFAULT_CODES, NLB_HTTP_RANGE).ok())
        .flatten();
    let check = Check {
        protocol,
        port,
        path,
        interval_s,
        timeout_s,
        healthy_threshold,
        unhealthy_threshold,
        matcher,
    };
    (findings.errors.len() == errors_before).then_some(check)
}

/// Interval, timeout and thresholds from the `aws-load-balancer-healthcheck-*` annotations over
/// `defaults` (in that order), each checked against the range AWS accepts; the two legacy LB
/// kinds differ only in their defaults and timeout range.
fn timing(
    layers: &Layers<'_>,
    (interval, timeout, healthy, unhealthy): (u32, u32, u32, u32),
    timeout_range: RangeInclusive<u32>,
    findings: &mut Findings,
) -> (u32, u32, u32, u32) {
    (
        layers.count(
            "aws-load-balancer-healthcheck-interval",
            interval,
            INTERVAL_RANGE,
            findings,
        ),
        layers.count(
            "aws-load-balancer-healthcheck-timeout",
            timeout,
            timeout_range,
            findings,
        ),
        layers.count(
            "aws-load-balancer-healthcheck-healthy-threshold",
            healthy,
            THRESHOLD_RANGE,
            findings,
        ),
        layers.count(
            "aws-load-balancer-healthcheck-unhealthy-threshold",
            unhealthy,
            THRESHOLD_RANGE,
            findings,
        ),
    )
}
