//! Ingress -> ALB target groups, as the AWS Load Balancer Controller builds them: one target
//! group per backend Service port, configured by `alb.ingress.kubernetes.io/*` annotations of the
//! Ingress, overridden key by key by those of the backend Service.

mod backends;
mod class;

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::networking::v1::Ingress;

use super::AwsSettings;
use super::attributes;
use super::health::{self, Check, ELBV2_TIMEOUT_RANGE, INTERVAL_RANGE, THRESHOLD_RANGE};
use super::ports::{self, TargetType};
use super::values::{Findings, Found, Layers};
use crate::lb::Objects;
use crate::lb::matcher::{ALB_GRPC_RANGE, ALB_HTTP_RANGE, MatcherKind};
use crate::model::{
    HttpVersion, LbKind, ObjectRef, ProbePort, ProbeProtocol, ProbeSpec, Rule, RuleProtocol,
    ServiceResult, TargetKind,
};
pub use class::{DEFAULT_CLASS_ANNOTATION, INGRESS_CLASS_ANNOTATION};

/// Prefix of the annotations the controller reads for ALBs.
pub const ALB_PREFIX: &str = "alb.ingress.kubernetes.io/";
/// The controller's default `--ingress-class`.
pub const DEFAULT_INGRESS_CLASS: &str = "alb";
/// `spec.controller` of the IngressClasses the controller owns.
pub const INGRESS_CLASS_CONTROLLER: &str = "ingress.k8s.aws/alb";

// Health check defaults of the controller's Ingress model builder (spec/aws-elb.md section 1):
// they differ from the AWS API defaults (30 s, 5 s, 5, 2).
const DEFAULT_INTERVAL_S: u32 = 15;
const DEFAULT_TIMEOUT_S: u32 = 5;
const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 2;
const DEFAULT_HTTP_PATH: &str = "/";
/// AWS's default path for GRPC target groups: a method that no server implements.
const DEFAULT_GRPC_PATH: &str = "/AWS.ALB/healthcheck";
const DEFAULT_HTTP_CODES: &str = "200";
/// gRPC status 12, UNIMPLEMENTED: the answer to [`DEFAULT_GRPC_PATH`].
const DEFAULT_GRPC_CODES: &str = "12";

/// `backend-protocol-version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Http1,
    Http2,
    Grpc,
}

/// What the controller would configure for an Ingress; `None` when it is not of class `alb`.
pub fn derive_ingress(
    ing: &Ingress,
    objects: &Objects,
    settings: &AwsSettings,
) -> Option<ServiceResult> {
    let verdict = class::classify(ing, &objects.ingress_classes, settings);
    if !verdict.alb {
        return None;
    }
    let object = ObjectRef::from_meta("Ingress", &ing.metadata);
    let mut findings = Findings::default();
    findings.warnings.extend(verdict.warning);
    let mut result = ServiceResult::new(object.clone(), LbKind::Alb);
    let mut seen = HashSet::new();
    for backend in backends::collect(ing, &object, settings, &mut findings) {
        let svc = objects.services.iter().find(|s| {
            let r = ObjectRef::from_meta("Service", &s.metadata);
            r.namespace == object.namespace && r.name == backend.service
        });
        let Some(svc) = svc else {
            let missing = format!(
                "{object}: backend Service {}/{} does not exist",
                object.namespace, backend.service
            );
            if backend.sole && settings.tolerate_missing_backend_service {
                findings.warn(format!(
                    "{missing}: the ALB answers its requests with a fixed 503 (\"Backend service \
                     does not exist\")"
                ));
            } else {
                findings.error(missing);
            }
            continue;
        };
        let service = ObjectRef::from_meta("Service", &svc.metadata);
        let Some(port) = ports::find(svc, &backend.port) else {
            findings.error(format!(
                "{object}: backend {service} has no port {}: the controller cannot build its \
                 target group",
                backend.port
            ));
            continue;
        };
        if !seen.insert((backend.service.clone(), port.port)) {
            continue;
        }
        let layers = Layers::new(ALB_PREFIX)
            .then(&service, &svc.metadata)
            .then(&object, &ing.metadata);
        let probe = target_group(&layers, svc, &service, port, &mut findings);
        result.rules.push(Rule {
            port: port.port,
            protocol: RuleProtocol::Tcp,
            probe,
            service,
        });
    }
    Some(findings.finish(result))
}

/// The health check of one target group; `None` when an error (or an unknowable port) leaves
/// nothing to probe.
fn target_group(
    layers: &Layers<'_>,
    svc: &Service,
    service: &ObjectRef,
    port: &ServicePort,
    findings: &mut Findings,
) -> Option<ProbeSpec> {
    let errors_before = findings.errors.len();
    let subject = format!("{service} port {}", port.port);
    let target = target_type(layers, findings);
    let tg_protocol = http_or_https(
        layers.get("backend-protocol"),
        ProbeProtocol::Http,
        findings,
    );
    let version = version(layers, findings);
    if target == TargetType::Instance
        && !matches!(ports::service_type(svc), "NodePort" | "LoadBalancer")
    {
        findings.error(format!(
            "{subject}: instance targets need a NodePort but the Service is of type {}: the \
             controller refuses the target group (use target-type ip or a NodePort Service)",
            ports::service_type(svc)
        ));
    }
    let hc_port = ports::lbc_health_check_port(
        layers.get("healthcheck-port").as_ref(),
        ProbePort::TrafficPort,
        svc,
        port,
        target,
        findings,
    );
    let hc_protocol = http_or_https(layers.get("healthcheck-protocol"), tg_protocol, findings);
    let path = health_check_path(layers, version, findings);
    let codes = layers.get("success-codes");
    let matcher = match version {
        Version::Grpc => health::matcher(
            codes.as_ref(),
            DEFAULT_GRPC_CODES,
            MatcherKind::Grpc,
            ALB_GRPC_RANGE,
            findings,
        ),
        _ => health::matcher(
            codes.as_ref(),
            DEFAULT_HTTP_CODES,
            MatcherKind::Http,
            ALB_HTTP_RANGE,
            findings,
        ),
    };
    let interval_s = layers.count(
        "healthcheck-interval-seconds",
        DEFAULT_INTERVAL_S,
        INTERVAL_RANGE,
        findings,
    );
    let timeout_s = layers.count(
        "healthcheck-timeout-seconds",
        DEFAULT_TIMEOUT_S,
        ELBV2_TIMEOUT_RANGE,
        findings,
    );
    let healthy_threshold = layers.count(
        "healthy-threshold-count",
        DEFAULT_HEALTHY_THRESHOLD,
        THRESHOLD_RANGE,
        findings,
    );
    let unhealthy_threshold = layers.count(
        "unhealthy-threshold-count",
        DEFAULT_UNHEALTHY_THRESHOLD,
        THRESHOLD_RANGE,
        findings,
    );
    let deregistration_delay_s = match layers.get("target-group-attributes") {
        Some(found) => attributes::parse(&found, findings)
            .map(|map| attributes::deregistration_delay(&map, &found, findings)),
        None => Some(attributes::DEFAULT_DEREGISTRATION_DELAY_S),
    };

    if version == Version::Grpc && codes.is_none() {
        findings.warn(format!(
            "{subject}: GRPC target group without {ALB_PREFIX}success-codes: the default matcher \
             is gRPC code 12 (UNIMPLEMENTED), so a target passes only while it does NOT serve \
             the health check method; set success-codes (usually 0) when the path names a \
             method the backend implements"
        ));
    }
    if target == TargetType::Ip
        && let Some(name) = ports::named_target_port(port)
    {
        findings.warn(ports::named_target_port_warning(&subject, name));
    }
    if target == TargetType::Instance && ports::is_local(svc) {
        findings.warn(format!(
            "{subject}: externalTrafficPolicy Local is not special-cased for Ingress instance \
             targets: the ALB checks the NodePort, not the healthCheckNodePort, so a node \
             without a ready pod of the Service fails the check only by refusing or dropping \
             the connection, and keeps its share of traffic until {} checks have failed",
            unhealthy_threshold
        ));
    }

    let check = Check {
        protocol: match version {
            Version::Grpc => ProbeProtocol::Grpc,
            _ => hc_protocol,
        },
        port: hc_port?,
        path: Some(path),
        interval_s,
        timeout_s,
        healthy_threshold,
        unhealthy_threshold,
        matcher,
    };
    let chosen = layers.get("healthcheck-interval-seconds").is_some()
        || layers.get("healthcheck-timeout-seconds").is_some();
    check.warn_timeout_not_below_interval(&subject, chosen, findings);
    if findings.errors.len() > errors_before {
        return None;
    }
    let http_version = match version {
        Version::Http1 => HttpVersion::Http1,
        Version::Http2 | Version::Grpc => HttpVersion::Http2,
    };
    let target = match target {
        TargetType::Instance => TargetKind::Node,
        TargetType::Ip => TargetKind::Pod,
    };
    Some(check.into_spec(LbKind::Alb, target, http_version, deregistration_delay_s))
}

fn target_type(layers: &Layers<'_>, findings: &mut Findings) -> TargetType {
    match layers.get("target-type") {
        None => TargetType::Instance,
        Some(found) => match found.value {
            "instance" => TargetType::Instance,
            "ip" => TargetType::Ip,
            _ => {
                findings.error(found.invalid("is not one of instance, ip"));
                TargetType::Instance
            }
        },
    }
}

/// `backend-protocol` and `healthcheck-protocol`: exactly `HTTP` or `HTTPS` (the controller
/// compares case-sensitively).
fn http_or_https(
    found: Option<Found<'_>>,
    default: ProbeProtocol,
    findings: &mut Findings,
) -> ProbeProtocol {
    let Some(found) = found else {
        return default;
    };
    match found.value {
        "HTTP" => ProbeProtocol::Http,
        "HTTPS" => ProbeProtocol::Https,
        _ => {
            findings.error(found.invalid("is not one of HTTP, HTTPS (upper case)"));
            default
        }
    }
}

fn version(layers: &Layers<'_>, findings: &mut Findings) -> Version {
    let Some(found) = layers.get("backend-protocol-version") else {
        return Version::Http1;
    };
    match found.value {
        "HTTP1" => Version::Http1,
        "HTTP2" => Version::Http2,
        "GRPC" => Version::Grpc,
        _ => {
            findings.error(found.invalid("is not one of HTTP1, HTTP2, GRPC (upper case)"));
            Version::Http1
        }
    }
}

fn health_check_path(layers: &Layers<'_>, version: Version, findings: &mut Findings) -> String {
    let default = match version {
        Version::Grpc => DEFAULT_GRPC_PATH,
        Version::Http1 | Version::Http2 => DEFAULT_HTTP_PATH,
    };
    match layers.get("healthcheck-path") {
        Some(found) => health::path(&found, findings),
        None => default.to_owned(),
    }
}
