//! Table-driven tests of the AWS derivations, built from small manifests.

mod alb;
mod alb_classes;
mod alb_errors;
mod legacy;
mod nlb;
mod nlb_errors;
mod owner;
mod props;
mod scenarios;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::Deserialize;

use super::{AwsSettings, derive};
use crate::lb::Objects;
use crate::lb::matcher::{Matcher, MatcherKind, NLB_HTTP_RANGE};
use crate::model::{
    HttpVersion, LbKind, ProbePort, ProbeProtocol, ProbeSpec, ServiceResult, TargetKind,
    WireDetails,
};

/// Strips the indentation common to all non-empty lines, so manifests can sit indented in code.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a multi-document YAML manifest into Services, Ingresses and IngressClasses.
fn objects(yaml: &str) -> Objects {
    let mut objects = Objects::default();
    for doc in serde_yaml_ng::Deserializer::from_str(&dedent(yaml)) {
        let value = serde_yaml_ng::Value::deserialize(doc).expect("valid YAML");
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().expect("a kind").to_owned();
        match kind.as_str() {
            "Service" => objects
                .services
                .push(serde_yaml_ng::from_value::<Service>(value).expect("a Service")),
            "Ingress" => objects
                .ingresses
                .push(serde_yaml_ng::from_value::<Ingress>(value).expect("an Ingress")),
            "IngressClass" => objects
                .ingress_classes
                .push(serde_yaml_ng::from_value::<IngressClass>(value).expect("an IngressClass")),
            other => panic!("unexpected kind {other}"),
        }
    }
    objects
}

fn derive_with(yaml: &str, settings: &AwsSettings) -> Vec<ServiceResult> {
    derive(&objects(yaml), settings)
}

/// The one result the manifest yields, with default settings.
fn only(yaml: &str) -> ServiceResult {
    only_with(yaml, &AwsSettings::default())
}

fn only_with(yaml: &str, settings: &AwsSettings) -> ServiceResult {
    let mut results = derive_with(yaml, settings);
    assert_eq!(
        results.len(),
        1,
        "expected exactly one result: {results:#?}"
    );
    results.remove(0)
}

/// The result of the one Ingress among the manifest's objects.
fn ingress_result(yaml: &str) -> ServiceResult {
    let mut results: Vec<ServiceResult> = derive_with(yaml, &AwsSettings::default())
        .into_iter()
        .filter(|r| r.object.kind == "Ingress")
        .collect();
    assert_eq!(
        results.len(),
        1,
        "expected exactly one Ingress result: {results:#?}"
    );
    results.remove(0)
}

/// The probe of the rule for a Service port, asserting the object was accepted.
fn probe(result: &ServiceResult, port: i32) -> ProbeSpec {
    assert!(
        result.errors.is_empty(),
        "unexpected errors: {:#?}",
        result.errors
    );
    let rule = result
        .rules
        .iter()
        .find(|r| r.port == port)
        .unwrap_or_else(|| panic!("no rule for port {port}: {result:#?}"));
    rule.probe
        .clone()
        .unwrap_or_else(|| panic!("rule {port} has no probe: {result:#?}"))
}

/// Asserts the object was rejected with an error that mentions every fragment.
fn assert_rejected(result: &ServiceResult, fragments: &[&str]) {
    assert!(
        result.rules.is_empty(),
        "rejected objects have no rules: {result:#?}"
    );
    assert!(
        result
            .errors
            .iter()
            .any(|e| fragments.iter().all(|f| e.contains(f))),
        "no error mentions all of {fragments:?}: {:#?}",
        result.errors
    );
}

/// Asserts some warning mentions every fragment.
fn assert_warned(result: &ServiceResult, fragments: &[&str]) {
    assert!(
        result
            .warnings
            .iter()
            .any(|w| fragments.iter().all(|f| w.contains(f))),
        "no warning mentions all of {fragments:?}: {:#?}",
        result.warnings
    );
}

fn http_matcher(codes: &str) -> Option<Matcher> {
    Some(Matcher::parse(MatcherKind::Http, codes, 200..=599).expect("valid codes"))
}

fn grpc_matcher(codes: &str) -> Option<Matcher> {
    Some(Matcher::parse(MatcherKind::Grpc, codes, 0..=99).expect("valid codes"))
}

/// What the AWS Load Balancer Controller configures for an Ingress backend with no annotations.
fn alb_default() -> ProbeSpec {
    ProbeSpec {
        lb: LbKind::Alb,
        protocol: ProbeProtocol::Http,
        port: ProbePort::TrafficPort,
        path: Some("/".to_owned()),
        interval_s: 15,
        timeout_s: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: http_matcher("200"),
        target: TargetKind::Node,
        wire: WireDetails::for_lb(LbKind::Alb),
        deregistration_delay_s: Some(300),
    }
}

/// What the AWS Load Balancer Controller configures for a Service port with no annotations.
fn nlb_default() -> ProbeSpec {
    ProbeSpec {
        lb: LbKind::Nlb,
        protocol: ProbeProtocol::Tcp,
        port: ProbePort::TrafficPort,
        path: None,
        interval_s: 10,
        timeout_s: 10,
        healthy_threshold: 3,
        unhealthy_threshold: 3,
        matcher: None,
        target: TargetKind::Node,
        wire: WireDetails::for_lb(LbKind::Nlb),
        deregistration_delay_s: Some(300),
    }
}

/// An NLB HTTP health check with the controllers' default codes.
fn nlb_http(path: &str) -> ProbeSpec {
    ProbeSpec {
        protocol: ProbeProtocol::Http,
        path: Some(path.to_owned()),
        matcher: Some(
            Matcher::parse(MatcherKind::Http, "200-399", NLB_HTTP_RANGE).expect("valid codes"),
        ),
        ..nlb_default()
    }
}

fn http2(mut spec: ProbeSpec) -> ProbeSpec {
    spec.wire.http_version = HttpVersion::Http2;
    spec
}

/// A Service manifest: `annotations` as YAML lines (`key: value`), `spec` as YAML lines below
/// `spec:` (no `ports`), and ports as `name:port:targetPort:nodePort` (`-` leaves a field out).
fn service(name: &str, annotations: &[(&str, &str)], spec: &str, ports: &[&str]) -> String {
    let mut out =
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: shop\n");
    if !annotations.is_empty() {
        out.push_str("  annotations:\n");
        for (k, v) in annotations {
            out.push_str(&format!("    {k}: {}\n", yaml_string(v)));
        }
    }
    out.push_str("spec:\n");
    for line in spec.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str(&format!("  {}\n", line.trim()));
    }
    out.push_str("  ports:\n");
    for port in ports {
        let fields: Vec<&str> = port.split(':').collect();
        let [name, number, target, node, rest @ ..] = fields.as_slice() else {
            panic!("port {port:?} is not name:port:targetPort:nodePort[:protocol]");
        };
        out.push_str(&format!("  - port: {number}\n"));
        if *name != "-" {
            out.push_str(&format!("    name: {name}\n"));
        }
        if *target != "-" {
            out.push_str(&format!("    targetPort: {target}\n"));
        }
        if *node != "-" {
            out.push_str(&format!("    nodePort: {node}\n"));
        }
        if let [protocol] = rest {
            out.push_str(&format!("    protocol: {protocol}\n"));
        }
    }
    out
}

/// A double-quoted YAML scalar, so every annotation value stays a string.
fn yaml_string(value: &str) -> String {
    serde_json::to_string(value).expect("a string serializes")
}
