//! Service -> NLB target groups, as the AWS Load Balancer Controller builds them: one target group
//! per Service port, configured by `service.beta.kubernetes.io/aws-load-balancer-*` annotations.

use k8s_openapi::api::core::v1::Service;

use super::attributes::{self, DEFAULT_DEREGISTRATION_DELAY_S};
use super::health::{self, Check, ELBV2_TIMEOUT_RANGE, INTERVAL_RANGE, THRESHOLD_RANGE};
use super::ports::{self, TargetType};
use super::values::{Findings, Found, Layers};
use super::{LOAD_BALANCER_TYPE, NLB_TARGET_TYPE, SERVICE_PREFIX};
use crate::lb::annotations::Annotations;
use crate::lb::matcher::{Matcher, MatcherKind, NLB_HTTP_RANGE};
use crate::model::{
    HttpVersion, LbKind, ObjectRef, ProbePort, ProbeProtocol, Rule, RuleProtocol, ServiceResult,
    TargetKind,
};

/// The health check defaults of the controller's Service model builder.
struct Defaults {
    protocol: ProbeProtocol,
    path: &'static str,
    interval_s: u32,
    timeout_s: u32,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

/// Every target group but instance targets of a Local Service (spec/aws-elb.md section 4).
const DEFAULTS: Defaults = Defaults {
    protocol: ProbeProtocol::Tcp,
    path: "/",
    interval_s: 10,
    timeout_s: 10,
    healthy_threshold: 3,
    unhealthy_threshold: 3,
};

/// Instance targets of an externalTrafficPolicy Local Service: kube-proxy's answer on the
/// healthCheckNodePort says whether the node has a ready pod.
const LOCAL_INSTANCE_DEFAULTS: Defaults = Defaults {
    protocol: ProbeProtocol::Http,
    path: "/healthz",
    interval_s: 10,
    timeout_s: 6,
    healthy_threshold: 2,
    unhealthy_threshold: 2,
};

/// The controller's success codes for HTTP(S) health checks.
const DEFAULT_SUCCESS_CODES: &str = "200-399";

const TARGET_GROUP_ATTRIBUTES: &str = "aws-load-balancer-target-group-attributes";
/// A target group attribute the controller checks itself.
const PRESERVE_CLIENT_IP: &str = "preserve_client_ip.enabled";

/// What the controller would configure for a Service it owns (see [`super::service_owner`]).
pub fn derive_service(svc: &Service) -> ServiceResult {
    let object = ObjectRef::from_meta("Service", &svc.metadata);
    let mut findings = Findings::default();
    let mut result = ServiceResult::new(object.clone(), LbKind::Nlb);
    let layers = Layers::new(SERVICE_PREFIX).then(&object, &svc.metadata);
    let target = target_type(svc, &object, &mut findings);
    let local_instance = target == TargetType::Instance && ports::is_local(svc);
    let defaults = if local_instance {
        &LOCAL_INSTANCE_DEFAULTS
    } else {
        &DEFAULTS
    };
    let Some(mut check) = check(&layers, defaults, &mut findings) else {
        return findings.finish(result);
    };
    let chosen = layers
        .get("aws-load-balancer-healthcheck-interval")
        .is_some()
        || layers
            .get("aws-load-balancer-healthcheck-timeout")
            .is_some();
    check.warn_timeout_not_below_interval(&object.to_string(), chosen, &mut findings);
    let hc_port_annotation = layers.get("aws-load-balancer-healthcheck-port");
    let default_port = if local_instance && hc_port_annotation.is_none() {
        ports::health_check_node_port(svc, &object, &mut findings)
    } else {
        ProbePort::TrafficPort
    };
    if local_instance {
        findings.warn(format!(
            "{object}: instance targets with externalTrafficPolicy Local: a node is healthy only \
             while it has a ready pod of this Service; when its last pod goes, the NLB keeps \
             opening connections to it until {} checks {}s apart have failed (about {}s)",
            check.unhealthy_threshold,
            check.interval_s,
            check.unhealthy_threshold * check.interval_s
        ));
    }
    let base_delay = layers
        .get(TARGET_GROUP_ATTRIBUTES)
        .and_then(|found| attribute_delay(&found, &mut findings));

    for port in ports::ports(svc) {
        let subject = format!("{object} port {}", port.port);
        let Some(protocol) = RuleProtocol::from_k8s(port.protocol.as_deref()) else {
            findings.error(format!(
                "{subject}: protocol {:?} is not one of TCP, UDP, SCTP",
                port.protocol.as_deref().unwrap_or_default()
            ));
            continue;
        };
        if target == TargetType::Instance
            && ports::node_port(port).is_none()
            && svc
                .spec
                .as_ref()
                .and_then(|s| s.allocate_load_balancer_node_ports)
                == Some(false)
        {
            findings.error(format!(
                "{subject}: instance targets need a NodePort but allocateLoadBalancerNodePorts \
                 is false: the controller refuses the target group"
            ));
            continue;
        }
        if target == TargetType::Ip
            && let Some(name) = ports::named_target_port(port)
        {
            findings.warn(ports::named_target_port_warning(&subject, name));
        }
        let hc_port = ports::lbc_health_check_port(
            hc_port_annotation.as_ref(),
            default_port,
            svc,
            port,
            target,
            &mut findings,
        );
        if protocol == RuleProtocol::Udp
            && check.protocol == ProbeProtocol::Tcp
            && hc_port == Some(ProbePort::TrafficPort)
        {
            findings.warn(format!(
                "{subject}: a UDP target group checked by TCP on the traffic port: the targets \
                 pass only if something also accepts TCP on that port; set \
                 {SERVICE_PREFIX}aws-load-balancer-healthcheck-port to a TCP port"
            ));
        }
        // `…-target-group-attributes.PORT` refines the Service-wide attributes for one port.
        let delay = layers
            .get(&format!("{TARGET_GROUP_ATTRIBUTES}.{}", port.port))
            .and_then(|found| attribute_delay(&found, &mut findings))
            .or(base_delay)
            .unwrap_or(DEFAULT_DEREGISTRATION_DELAY_S);
        let probe = hc_port.map(|hc_port| {
            check.port = hc_port;
            let target = match target {
                TargetType::Instance => TargetKind::Node,
                TargetType::Ip => TargetKind::Pod,
            };
            check
                .clone()
                .into_spec(LbKind::Nlb, target, HttpVersion::Http1, Some(delay))
        });
        result.rules.push(Rule {
            port: port.port,
            protocol,
            probe,
            service: object.clone(),
        });
    }
    findings.finish(result)
}

/// `nlb-ip` or `nlb-target-type: ip` give ip targets; anything else instance targets.
fn target_type(svc: &Service, object: &ObjectRef, findings: &mut Findings) -> TargetType {
    let annotations = Annotations::of(&svc.metadata);
    let target_type = annotations.get(NLB_TARGET_TYPE);
    if annotations.get(LOAD_BALANCER_TYPE) == Some("nlb-ip") || target_type == Some("ip") {
        return TargetType::Ip;
    }
    if let Some(other) = target_type.filter(|t| *t != "instance") {
        findings.warn(format!(
            "{object}: annotation {NLB_TARGET_TYPE}: {other:?} is not ip or instance: the \
             controller uses instance targets"
        ));
    }
    if ports::service_type(svc) == "ClusterIP" {
        findings.error(format!(
            "{object}: a ClusterIP Service has no NodePort for instance targets: the controller \
             refuses it (use {NLB_TARGET_TYPE}: ip)"
        ));
    }
    TargetType::Instance
}

/// The health check shared by every port's target group (its port comes later).
fn check(layers: &Layers<'_>, defaults: &Defaults, findings: &mut Findings) -> Option<Check> {
    let errors_before = findings.errors.len();
    let protocol = match layers.get("aws-load-balancer-healthcheck-protocol") {
        None => defaults.protocol,
        Some(found) => match found.value.to_uppercase().as_str() {
            "TCP" => ProbeProtocol::Tcp,
            "HTTP" => ProbeProtocol::Http,
            "HTTPS" => ProbeProtocol::Https,
            _ => {
                findings.error(found.invalid("is not one of TCP, HTTP, HTTPS"));
                defaults.protocol
            }
        },
    };
    let path_annotation = layers.get("aws-load-balancer-healthcheck-path");
    health::warn_path_ignored(path_annotation.as_ref(), protocol, findings);
    let (path, matcher) = if protocol == ProbeProtocol::Tcp {
        (None, None)
    } else {
        (
            Some(path(path_annotation.as_ref(), defaults.path, findings)),
            success_codes(
                layers.get("aws-load-balancer-healthcheck-success-codes"),
                findings,
            ),
        )
    };
    let check = Check {
        protocol,
        port: ProbePort::TrafficPort,
        path,
        interval_s: layers.count(
            "aws-load-balancer-healthcheck-interval",
            defaults.interval_s,
            INTERVAL_RANGE,
            findings,
        ),
        timeout_s: layers.count(
            "aws-load-balancer-healthcheck-timeout",
            defaults.timeout_s,
            ELBV2_TIMEOUT_RANGE,
            findings,
        ),
        healthy_threshold: layers.count(
            "aws-load-balancer-healthcheck-healthy-threshold",
            defaults.healthy_threshold,
            THRESHOLD_RANGE,
            findings,
        ),
        unhealthy_threshold: layers.count(
            "aws-load-balancer-healthcheck-unhealthy-threshold",
            defaults.unhealthy_threshold,
            THRESHOLD_RANGE,
            findings,
        ),
        matcher,
    };
    (findings.errors.len() == errors_before).then_some(check)
}

fn path(found: Option<&Found<'_>>, default: &str, findings: &mut Findings) -> String {
    found.map_or_else(|| default.to_owned(), |f| health::path(f, findings))
}

fn success_codes(found: Option<Found<'_>>, findings: &mut Findings) -> Option<Matcher> {
    health::matcher(
        found.as_ref(),
        DEFAULT_SUCCESS_CODES,
        MatcherKind::Http,
        NLB_HTTP_RANGE,
        findings,
    )
}

/// The deregistration delay one target-group-attributes annotation sets, if it sets one; the
/// attributes the controller checks itself are checked too.
fn attribute_delay(found: &Found<'_>, findings: &mut Findings) -> Option<u32> {
    let map = attributes::parse(found, findings)?;
    if let Some(value) = map.get(PRESERVE_CLIENT_IP)
        && !is_go_bool(value)
    {
        findings.error(found.invalid(format_args!(
            "sets {PRESERVE_CLIENT_IP} to {value:?}, which is not true or false"
        )));
    }
    // An empty value leaves the Service-wide one in place.
    map.get(attributes::DEREGISTRATION_DELAY)
        .is_some_and(|v| !v.is_empty())
        .then(|| attributes::deregistration_delay(&map, found, findings))
}

/// Go's `strconv.ParseBool`.
fn is_go_bool(value: &str) -> bool {
    matches!(
        value,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    )
}
