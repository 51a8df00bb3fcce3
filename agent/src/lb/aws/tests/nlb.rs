//! Service -> NLB target groups on the AWS Load Balancer Controller.

use super::*;
use crate::model::{ObjectRef, Rule, RuleProtocol};

const S: &str = "service.beta.kubernetes.io/";

/// A LoadBalancer Service of the LBC's class with ports 80 (nodePort 30080) and 443 (30443),
/// healthCheckNodePort 32000 for Local, and the given annotations (suffixes after `S`).
pub(super) fn nlb(spec: &str, annotations: &[(&str, &str)]) -> ServiceResult {
    let annotations: Vec<(String, &str)> = annotations
        .iter()
        .map(|(k, v)| (format!("{S}{k}"), *v))
        .collect();
    let annotations: Vec<(&str, &str)> =
        annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let spec = format!("type: LoadBalancer\nloadBalancerClass: service.k8s.aws/nlb\n{spec}");
    only(&service(
        "web",
        &annotations,
        &spec,
        &["http:80:8080:30080", "https:443:8443:30443"],
    ))
}

const LOCAL: &str = "externalTrafficPolicy: Local\nhealthCheckNodePort: 32000";

fn local_default() -> ProbeSpec {
    ProbeSpec {
        port: ProbePort::Number(32000),
        path: Some("/healthz".to_owned()),
        timeout_s: 6,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..nlb_http("/healthz")
    }
}

#[test]
fn an_unannotated_service_gets_tcp_on_the_traffic_port_of_each_node_10_10_3_3() {
    let result = nlb("", &[]);
    assert_eq!(result.load_balancer, LbKind::Nlb);
    let web = ObjectRef::new("Service", "shop", "web");
    assert_eq!(
        result.rules,
        [
            Rule {
                port: 80,
                protocol: RuleProtocol::Tcp,
                probe: Some(nlb_default()),
                service: web.clone()
            },
            Rule {
                port: 443,
                protocol: RuleProtocol::Tcp,
                probe: Some(nlb_default()),
                service: web
            },
        ]
    );
    assert!(result.warnings.is_empty(), "{:#?}", result.warnings);
}

#[test]
fn ip_targets_come_from_nlb_ip_or_nlb_target_type_ip() {
    let ip = ProbeSpec {
        target: TargetKind::Pod,
        ..nlb_default()
    };
    let cases: &[(&[(&str, &str)], ProbeSpec)] = &[
        (&[("aws-load-balancer-type", "nlb-ip")], ip.clone()),
        (&[("aws-load-balancer-nlb-target-type", "ip")], ip.clone()),
        (
            &[
                ("aws-load-balancer-type", "nlb-ip"),
                ("aws-load-balancer-nlb-target-type", "instance"),
            ],
            ip.clone(),
        ),
        (
            &[("aws-load-balancer-nlb-target-type", "instance")],
            nlb_default(),
        ),
        (
            &[
                ("aws-load-balancer-type", "external"),
                ("aws-load-balancer-nlb-target-type", "ip"),
            ],
            ip,
        ),
    ];
    for (annotations, expected) in cases {
        assert_eq!(
            probe(&nlb("", annotations), 80),
            *expected,
            "{annotations:?}"
        );
    }
}

#[test]
fn instance_targets_of_a_local_service_default_to_http_healthz_on_the_health_check_node_port() {
    let result = nlb(LOCAL, &[]);
    assert_eq!(probe(&result, 80), local_default());
    assert_eq!(probe(&result, 443), local_default());
    assert_warned(
        &result,
        &[
            "instance targets with externalTrafficPolicy Local",
            "2 checks 10s apart",
            "20s",
        ],
    );
}

#[test]
fn ip_targets_of_a_local_service_keep_the_ordinary_defaults() {
    let result = nlb(LOCAL, &[("aws-load-balancer-nlb-target-type", "ip")]);
    assert_eq!(
        probe(&result, 80),
        ProbeSpec {
            target: TargetKind::Pod,
            ..nlb_default()
        }
    );
    assert!(result.warnings.is_empty(), "{:#?}", result.warnings);
}

#[test]
fn a_local_service_not_applied_yet_probes_the_health_check_node_port_to_be_allocated() {
    let result = nlb("externalTrafficPolicy: Local", &[]);
    assert_eq!(
        probe(&result, 80),
        ProbeSpec {
            port: ProbePort::HealthCheckNodePort,
            ..local_default()
        }
    );
    assert_warned(&result, &["no healthCheckNodePort yet"]);
    let chosen = nlb(
        "externalTrafficPolicy: Local",
        &[("aws-load-balancer-healthcheck-port", "traffic-port")],
    );
    assert!(
        !chosen
            .warnings
            .iter()
            .any(|w| w.contains("no healthCheckNodePort")),
        "{:#?}",
        chosen.warnings
    );
}

#[test]
fn the_health_check_protocol_annotation_switches_path_and_matcher_with_it() {
    let tcp_local = ProbeSpec {
        protocol: ProbeProtocol::Tcp,
        path: None,
        matcher: None,
        ..local_default()
    };
    let https = |s: ProbeSpec| ProbeSpec {
        protocol: ProbeProtocol::Https,
        ..s
    };
    // (protocol annotation, expected for Cluster, expected for Local instance targets)
    let cases = [
        ("HTTP", nlb_http("/"), local_default()),
        ("http", nlb_http("/"), local_default()),
        ("HTTPS", https(nlb_http("/")), https(local_default())),
        ("tcp", nlb_default(), tcp_local.clone()),
        ("TCP", nlb_default(), tcp_local),
    ];
    for (protocol, cluster, local) in cases {
        let annotations = [("aws-load-balancer-healthcheck-protocol", protocol)];
        assert_eq!(
            probe(&nlb("", &annotations), 80),
            cluster,
            "Cluster {protocol}"
        );
        assert_eq!(
            probe(&nlb(LOCAL, &annotations), 80),
            local,
            "Local {protocol}"
        );
    }
}

#[test]
fn each_annotation_changes_its_field_for_cluster_and_local_services_alike() {
    type Change = fn(&mut ProbeSpec);
    let http = ("aws-load-balancer-healthcheck-protocol", "HTTP");
    let cases: &[(&[(&str, &str)], Change)] = &[
        (
            &[http, ("aws-load-balancer-healthcheck-path", "/ready")],
            |s| s.path = Some("/ready".to_owned()),
        ),
        (
            &[
                http,
                ("aws-load-balancer-healthcheck-success-codes", "200-599"),
            ],
            |s| s.matcher = http_matcher("200-599"),
        ),
        (&[("aws-load-balancer-healthcheck-port", "10254")], |s| {
            s.port = ProbePort::Number(10254)
        }),
        (&[("aws-load-balancer-healthcheck-port", "https")], |s| {
            s.port = ProbePort::Number(30443)
        }),
        (&[("aws-load-balancer-healthcheck-interval", "30")], |s| {
            s.interval_s = 30
        }),
        (&[("aws-load-balancer-healthcheck-timeout", "5")], |s| {
            s.timeout_s = 5
        }),
        (
            &[("aws-load-balancer-healthcheck-healthy-threshold", "2")],
            |s| s.healthy_threshold = 2,
        ),
        (
            &[("aws-load-balancer-healthcheck-unhealthy-threshold", "5")],
            |s| s.unhealthy_threshold = 5,
        ),
        (
            &[(
                "aws-load-balancer-target-group-attributes",
                "deregistration_delay.timeout_seconds=15,preserve_client_ip.enabled=false",
            )],
            |s| s.deregistration_delay_s = Some(15),
        ),
    ];
    for (annotations, change) in cases {
        let with_http = annotations.contains(&http);
        let mut cluster = if with_http {
            nlb_http("/")
        } else {
            nlb_default()
        };
        let mut local = local_default();
        change(&mut cluster);
        change(&mut local);
        assert_eq!(
            probe(&nlb("", annotations), 80),
            cluster,
            "Cluster {annotations:?}"
        );
        assert_eq!(
            probe(&nlb(LOCAL, annotations), 80),
            local,
            "Local {annotations:?}"
        );
    }
    let traffic = [("aws-load-balancer-healthcheck-port", "traffic-port")];
    assert_eq!(probe(&nlb("", &traffic), 80), nlb_default());
    assert_eq!(
        probe(&nlb(LOCAL, &traffic), 80),
        ProbeSpec {
            port: ProbePort::TrafficPort,
            ..local_default()
        }
    );
}

#[test]
fn success_codes_are_neither_used_nor_validated_for_a_tcp_check() {
    let codes = [("aws-load-balancer-healthcheck-success-codes", "none")];
    assert_eq!(probe(&nlb("", &codes), 80), nlb_default());
    // A Local Service's HTTP check reads them, and AWS refuses these.
    assert_rejected(
        &nlb(LOCAL, &codes),
        &["aws-load-balancer-healthcheck-success-codes", "\"none\""],
    );
}

#[test]
fn per_port_target_group_attributes_refine_the_service_wide_ones() {
    let result = nlb(
        "",
        &[
            (
                "aws-load-balancer-target-group-attributes",
                "deregistration_delay.timeout_seconds=60",
            ),
            (
                "aws-load-balancer-target-group-attributes.443",
                "deregistration_delay.timeout_seconds=5",
            ),
        ],
    );
    assert_eq!(probe(&result, 80).deregistration_delay_s, Some(60));
    assert_eq!(probe(&result, 443).deregistration_delay_s, Some(5));
    let empty = nlb(
        "",
        &[
            (
                "aws-load-balancer-target-group-attributes",
                "deregistration_delay.timeout_seconds=60",
            ),
            (
                "aws-load-balancer-target-group-attributes.443",
                "deregistration_delay.timeout_seconds=",
            ),
        ],
    );
    assert_eq!(
        probe(&empty, 443).deregistration_delay_s,
        Some(60),
        "an empty value keeps the base"
    );
}
