//! Ingress -> ALB target groups: defaults, every annotation, overrides, classes, backends, ports
//! and the S4/S5 scenarios.

use super::*;
use crate::model::{ObjectRef, RuleProtocol};

const A: &str = "alb.ingress.kubernetes.io/";

/// An `alb` Ingress in namespace `shop` with annotations and `service:port` path backends (a
/// port that is not a number is a port name).
pub(super) fn ingress(name: &str, annotations: &[(&str, &str)], backends: &[&str]) -> String {
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations:\n    kubernetes.io/ingress.class: alb\n"
    );
    for (k, v) in annotations {
        out.push_str(&format!("    {k}: {}\n", yaml_string(v)));
    }
    out.push_str("spec:\n  rules:\n  - http:\n      paths:\n");
    for (i, backend) in backends.iter().enumerate() {
        let (svc, port) = backend.split_once(':').expect("service:port");
        let port = match port.parse::<i32>() {
            Ok(n) => format!("number: {n}"),
            Err(_) => format!("name: {port}"),
        };
        out.push_str(&format!(
            "      - path: /p{i}\n        pathType: Prefix\n        backend:\n          service:\n            name: {svc}\n            port:\n              {port}\n"
        ));
    }
    out
}

/// The backend Service `web` (NodePort 80 -> 8080, nodePort 30080) with annotations.
pub(super) fn web(annotations: &[(&str, &str)]) -> String {
    service(
        "web",
        annotations,
        "type: NodePort",
        &["http:80:8080:30080"],
    )
}

/// The result of an Ingress with `ing` annotations in front of `web` with `svc` annotations.
pub(super) fn alb(ing: &[(&str, &str)], svc: &[(&str, &str)]) -> ServiceResult {
    only(&format!(
        "{}---\n{}",
        ingress("shop", ing, &["web:80"]),
        web(svc)
    ))
}

#[test]
fn an_unannotated_backend_gets_the_controllers_defaults_on_the_node_port() {
    let result = alb(&[], &[]);
    assert_eq!(result.object.to_string(), "Ingress/shop/shop");
    assert_eq!(result.load_balancer, LbKind::Alb);
    assert_eq!(probe(&result, 80), alb_default());
    assert!(result.warnings.is_empty(), "{:#?}", result.warnings);
}

/// Turns a default target group into a GRPC one.
fn grpc(s: &mut ProbeSpec) {
    s.protocol = ProbeProtocol::Grpc;
    s.path = Some("/AWS.ALB/healthcheck".to_owned());
    s.matcher = grpc_matcher("12");
    s.wire.http_version = HttpVersion::Http2;
}

#[test]
fn each_annotation_changes_exactly_its_field_of_the_target_group() {
    type Change = fn(&mut ProbeSpec);
    let cases: &[(&[(&str, &str)], Change)] = &[
        (&[("target-type", "instance")], |_| {}),
        (&[("target-type", "ip")], |s| s.target = TargetKind::Pod),
        (&[("backend-protocol", "HTTP")], |_| {}),
        (&[("backend-protocol", "HTTPS")], |s| {
            s.protocol = ProbeProtocol::Https
        }),
        (
            &[
                ("backend-protocol", "HTTPS"),
                ("healthcheck-protocol", "HTTP"),
            ],
            |_| {},
        ),
        (&[("healthcheck-protocol", "HTTPS")], |s| {
            s.protocol = ProbeProtocol::Https
        }),
        (&[("backend-protocol-version", "HTTP1")], |_| {}),
        (&[("backend-protocol-version", "HTTP2")], |s| {
            s.wire.http_version = HttpVersion::Http2
        }),
        (&[("backend-protocol-version", "GRPC")], grpc),
        (
            &[
                ("backend-protocol-version", "GRPC"),
                ("healthcheck-path", "/grpc.health.v1.Health/Check"),
                ("success-codes", "0-2"),
            ],
            |s| {
                grpc(s);
                s.path = Some("/grpc.health.v1.Health/Check".to_owned());
                s.matcher = grpc_matcher("0-2");
            },
        ),
        (&[("healthcheck-port", "traffic-port")], |_| {}),
        (&[("healthcheck-port", "8081")], |s| {
            s.port = ProbePort::Number(8081)
        }),
        (&[("healthcheck-path", "/healthz")], |s| {
            s.path = Some("/healthz".to_owned())
        }),
        (&[("healthcheck-interval-seconds", "30")], |s| {
            s.interval_s = 30
        }),
        (&[("healthcheck-interval-seconds", "+30")], |s| {
            s.interval_s = 30
        }),
        (&[("healthcheck-timeout-seconds", "10")], |s| {
            s.timeout_s = 10
        }),
        (&[("healthy-threshold-count", "5")], |s| {
            s.healthy_threshold = 5
        }),
        (&[("unhealthy-threshold-count", "10")], |s| {
            s.unhealthy_threshold = 10
        }),
        (&[("success-codes", "200-299")], |s| {
            s.matcher = http_matcher("200-299")
        }),
        (&[("success-codes", "200,302")], |s| {
            s.matcher = http_matcher("200,302")
        }),
        (
            &[(
                "target-group-attributes",
                "deregistration_delay.timeout_seconds=30",
            )],
            |s| s.deregistration_delay_s = Some(30),
        ),
        (
            &[(
                "target-group-attributes",
                " a.b=c , deregistration_delay.timeout_seconds=0,",
            )],
            |s| s.deregistration_delay_s = Some(0),
        ),
        (
            &[("target-group-attributes", "slow_start.duration_seconds=30")],
            |_| {},
        ),
        (&[("scheme", "internet-facing")], |_| {}),
    ];
    for (annotations, change) in cases {
        let keys: Vec<String> = annotations.iter().map(|(k, _)| format!("{A}{k}")).collect();
        let annotations: Vec<(&str, &str)> = keys
            .iter()
            .map(String::as_str)
            .zip(annotations.iter().map(|(_, v)| *v))
            .collect();
        let mut expected = alb_default();
        change(&mut expected);
        // On the Ingress, or the same on the backend Service: both places configure it.
        for (ing, svc) in [(&annotations[..], &[][..]), (&[][..], &annotations[..])] {
            let result = alb(ing, svc);
            let on = if svc.is_empty() { "Ingress" } else { "Service" };
            assert_eq!(probe(&result, 80), expected, "{annotations:?} on the {on}");
        }
    }
}

#[test]
fn the_backend_services_annotation_overrides_the_ingresss_for_the_same_key_only() {
    let result = alb(
        &[
            (&format!("{A}healthcheck-path"), "/from-ingress"),
            (&format!("{A}healthcheck-interval-seconds"), "20"),
            (&format!("{A}target-type"), "ip"),
        ],
        &[(&format!("{A}healthcheck-path"), "/from-service")],
    );
    assert_eq!(
        probe(&result, 80),
        ProbeSpec {
            path: Some("/from-service".to_owned()),
            interval_s: 20,
            target: TargetKind::Pod,
            ..alb_default()
        }
    );
}

#[test]
fn one_ingress_gives_each_service_its_own_annotations() {
    let yaml = format!(
        "{}---\n{}---\n{}",
        ingress(
            "shop",
            &[(&format!("{A}healthcheck-path"), "/ing")],
            &["web:80", "api:http"]
        ),
        web(&[]),
        service(
            "api",
            &[(&format!("{A}healthcheck-path"), "/api")],
            "type: NodePort",
            &["http:9000:9090:30090"]
        ),
    );
    let result = only(&yaml);
    assert_eq!(probe(&result, 80).path.as_deref(), Some("/ing"));
    assert_eq!(probe(&result, 9000).path.as_deref(), Some("/api"));
}

#[test]
fn one_rule_per_distinct_backend_with_the_services_port_number_in_order_of_appearance() {
    let yaml = format!(
        "{}{}---\n{}---\n{}",
        ingress(
            "shop",
            &[],
            &["web:80", "api:grpc", "web:http", "api:9001", "web:80"]
        ),
        "  defaultBackend:\n    service:\n      name: api\n      port:\n        name: metrics\n",
        web(&[]),
        service(
            "api",
            &[],
            "type: NodePort",
            &["grpc:9001:9091:30091", "metrics:9100:9100:30100"]
        ),
    );
    let result = only(&yaml);
    let rules: Vec<(i32, RuleProtocol, String)> = result
        .rules
        .iter()
        .map(|r| (r.port, r.protocol, r.service.to_string()))
        .collect();
    assert_eq!(
        rules,
        [
            (9100, RuleProtocol::Tcp, "Service/shop/api".to_owned()),
            (80, RuleProtocol::Tcp, "Service/shop/web".to_owned()),
            (9001, RuleProtocol::Tcp, "Service/shop/api".to_owned()),
        ]
    );
    assert_eq!(
        result.rules[1].service,
        ObjectRef::new("Service", "shop", "web")
    );
}

#[test]
fn health_check_port_names_resolve_to_the_node_port_or_the_numeric_target_port() {
    let svc = |node_ports: bool| {
        let (a, b) = if node_ports {
            ("30080", "30021")
        } else {
            ("-", "-")
        };
        service(
            "web",
            &[],
            "type: NodePort",
            &[
                &format!("http:80:8080:{a}"),
                &format!("status:15021:15021:{b}"),
                "named:9000:metrics:-",
            ],
        )
    };
    // (target type, healthcheck-port, nodePorts allocated, expected port or None for no probe)
    let cases: &[(&str, &str, bool, Option<ProbePort>)] = &[
        ("instance", "status", true, Some(ProbePort::Number(30021))),
        ("instance", "http", true, Some(ProbePort::Number(30080))),
        ("instance", "http", false, Some(ProbePort::TrafficPort)),
        ("instance", "status", false, None),
        ("ip", "status", true, Some(ProbePort::Number(15021))),
        ("ip", "status", false, Some(ProbePort::Number(15021))),
        ("ip", "http", false, Some(ProbePort::Number(8080))),
        ("ip", "15021", false, Some(ProbePort::Number(15021))),
    ];
    for (target, port, allocated, expected) in cases {
        let yaml = format!(
            "{}---\n{}",
            ingress(
                "shop",
                &[
                    (&format!("{A}target-type"), target),
                    (&format!("{A}healthcheck-port"), port)
                ],
                &["web:80"]
            ),
            svc(*allocated)
        );
        let result = only(&yaml);
        assert!(
            result.errors.is_empty(),
            "{target} {port}: {:#?}",
            result.errors
        );
        let got = result.rules[0].probe.as_ref().map(|p| p.port);
        assert_eq!(got, *expected, "{target} {port} allocated={allocated}");
        if expected.is_none() {
            assert_warned(
                &result,
                &["healthcheck-port", "\"status\"", "no NodePort yet"],
            );
        }
    }
}
