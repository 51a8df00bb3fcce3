//! Service -> Classic LB and legacy NLB on cloud-provider-aws.

use super::*;
use crate::lb::aws::LegacyProbeMode;
use crate::model::{ObjectRef, Rule, RuleProtocol};

const S: &str = "service.beta.kubernetes.io/";
const LOCAL: &str = "externalTrafficPolicy: Local\nhealthCheckNodePort: 32000";

/// A plain LoadBalancer Service with ports 80 (nodePort 30080) and 443 (30443); annotations are
/// suffixes after `S`.
fn legacy_with(spec: &str, annotations: &[(&str, &str)], settings: &AwsSettings) -> ServiceResult {
    let keys: Vec<String> = annotations.iter().map(|(k, _)| format!("{S}{k}")).collect();
    let annotations: Vec<(&str, &str)> = keys
        .iter()
        .map(String::as_str)
        .zip(annotations.iter().map(|(_, v)| *v))
        .collect();
    only_with(
        &service(
            "web",
            &annotations,
            &format!("type: LoadBalancer\n{spec}"),
            &["http:80:8080:30080", "https:443:8443:30443"],
        ),
        settings,
    )
}

fn legacy(spec: &str, annotations: &[(&str, &str)]) -> ServiceResult {
    legacy_with(spec, annotations, &AwsSettings::default())
}

fn shared() -> AwsSettings {
    AwsSettings {
        legacy_probe_mode: LegacyProbeMode::Shared,
        ..AwsSettings::default()
    }
}

fn clb_default() -> ProbeSpec {
    ProbeSpec {
        lb: LbKind::Clb,
        protocol: ProbeProtocol::Tcp,
        port: ProbePort::Number(30080),
        path: None,
        interval_s: 10,
        timeout_s: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 6,
        matcher: None,
        target: TargetKind::Node,
        wire: WireDetails::for_lb(LbKind::Clb),
        deregistration_delay_s: None,
    }
}

fn clb_http(port: ProbePort, path: &str) -> ProbeSpec {
    ProbeSpec {
        protocol: ProbeProtocol::Http,
        port,
        path: Some(path.to_owned()),
        ..clb_default()
    }
}

fn legacy_nlb_default() -> ProbeSpec {
    ProbeSpec {
        interval_s: 30,
        timeout_s: 10,
        healthy_threshold: 3,
        unhealthy_threshold: 3,
        ..nlb_default()
    }
}

/// The legacy NLB's Cluster timings on an HTTP check.
fn legacy_nlb_http(path: &str) -> ProbeSpec {
    ProbeSpec {
        interval_s: 30,
        timeout_s: 10,
        healthy_threshold: 3,
        unhealthy_threshold: 3,
        ..nlb_http(path)
    }
}

fn legacy_nlb_local() -> ProbeSpec {
    ProbeSpec {
        port: ProbePort::Number(32000),
        interval_s: 10,
        timeout_s: 10,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..nlb_http("/healthz")
    }
}

const NLB: (&str, &str) = ("aws-load-balancer-type", "nlb");

#[test]
fn a_classic_lb_checks_tcp_on_the_first_node_port_for_every_port_10_5_2_6() {
    let result = legacy("", &[]);
    assert_eq!(result.load_balancer, LbKind::Clb);
    let web = ObjectRef::new("Service", "shop", "web");
    assert_eq!(
        result.rules,
        [
            Rule {
                port: 80,
                protocol: RuleProtocol::Tcp,
                probe: Some(clb_default()),
                service: web.clone()
            },
            Rule {
                port: 443,
                protocol: RuleProtocol::Tcp,
                probe: Some(clb_default()),
                service: web
            },
        ]
    );
    assert_warned(
        &result,
        &["one health check for all 2 ports", "first port's NodePort"],
    );
}

#[test]
fn a_classic_lb_with_an_https_or_ssl_backend_checks_the_tls_handshake() {
    let ssl = ProbeSpec {
        protocol: ProbeProtocol::Ssl,
        ..clb_default()
    };
    for (backend, expected) in [
        ("https", ssl.clone()),
        ("ssl", ssl.clone()),
        ("HTTPS", ssl),
        ("http", clb_default()),
        ("tcp", clb_default()),
    ] {
        let result = legacy("", &[("aws-load-balancer-backend-protocol", backend)]);
        assert_eq!(probe(&result, 80), expected, "backend protocol {backend}");
    }
}

#[test]
fn a_local_classic_lb_checks_http_healthz_on_the_health_check_node_port() {
    let result = legacy(LOCAL, &[]);
    assert_eq!(
        probe(&result, 443),
        clb_http(ProbePort::Number(32000), "/healthz")
    );
    assert!(
        result.warnings.is_empty(),
        "Local has no shared-port trap: {:#?}",
        result.warnings
    );

    let traffic = legacy(
        LOCAL,
        &[("aws-load-balancer-healthcheck-port", "traffic-port")],
    );
    assert_eq!(
        probe(&traffic, 443),
        clb_http(ProbePort::Number(30080), "/healthz")
    );

    let unapplied = legacy("externalTrafficPolicy: Local", &[]);
    assert_eq!(
        probe(&unapplied, 80),
        clb_http(ProbePort::HealthCheckNodePort, "/healthz")
    );
    assert_warned(&unapplied, &["no healthCheckNodePort yet"]);
}

#[test]
fn a_classic_lb_not_applied_yet_checks_the_traffic_port_and_says_why() {
    let result = only(&service(
        "web",
        &[],
        "type: LoadBalancer",
        &["http:80:8080:-", "https:443:8443:-"],
    ));
    assert_eq!(
        probe(&result, 80),
        ProbeSpec {
            port: ProbePort::TrafficPort,
            ..clb_default()
        }
    );
    assert_warned(&result, &["no NodePorts yet", "first port's NodePort"]);
}

#[test]
fn classic_lb_annotations_override_protocol_port_path_and_timings() {
    type Change = fn(&mut ProbeSpec);
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Change);
    let cases: &[Case<'_>] = &[
        (
            "",
            &[("aws-load-balancer-healthcheck-protocol", "HTTP")],
            |s| *s = clb_http(ProbePort::Number(30080), "/"),
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-protocol", "https")],
            |s| {
                *s = ProbeSpec {
                    protocol: ProbeProtocol::Https,
                    ..clb_http(ProbePort::Number(30080), "/")
                }
            },
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-protocol", "SSL")],
            |s| s.protocol = ProbeProtocol::Ssl,
        ),
        (
            "",
            &[
                ("aws-load-balancer-healthcheck-protocol", "HTTP"),
                ("aws-load-balancer-healthcheck-path", "/ready"),
            ],
            |s| *s = clb_http(ProbePort::Number(30080), "/ready"),
        ),
        (
            "",
            &[
                ("aws-load-balancer-healthcheck-protocol", "HTTP"),
                ("aws-load-balancer-healthcheck-path", ""),
            ],
            |s| *s = clb_http(ProbePort::Number(30080), "/"),
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-port", "10254")],
            |s| s.port = ProbePort::Number(10254),
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-port", "traffic-port")],
            |_| {},
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-interval", "30")],
            |s| s.interval_s = 30,
        ),
        ("", &[("aws-load-balancer-healthcheck-timeout", "2")], |s| {
            s.timeout_s = 2
        }),
        (
            "",
            &[("aws-load-balancer-healthcheck-healthy-threshold", "10")],
            |s| s.healthy_threshold = 10,
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-unhealthy-threshold", "2")],
            |s| s.unhealthy_threshold = 2,
        ),
        (
            LOCAL,
            &[("aws-load-balancer-healthcheck-path", "/livez")],
            |s| *s = clb_http(ProbePort::Number(32000), "/livez"),
        ),
        (
            LOCAL,
            &[("aws-load-balancer-healthcheck-protocol", "TCP")],
            |s| s.port = ProbePort::Number(32000),
        ),
    ];
    for (spec, annotations, change) in cases {
        let mut expected = clb_default();
        change(&mut expected);
        assert_eq!(
            probe(&legacy(spec, annotations), 80),
            expected,
            "{spec:?} {annotations:?}"
        );
    }
}

#[test]
fn the_shared_probe_mode_sends_a_cluster_classic_lb_to_kube_proxy_and_annotations_still_win() {
    let kube_proxy = clb_http(ProbePort::Number(10256), "/healthz");
    let result = legacy_with("", &[], &shared());
    assert_eq!(probe(&result, 80), kube_proxy);
    assert!(
        result.warnings.is_empty(),
        "kube-proxy's port is not the first NodePort: {:#?}",
        result.warnings
    );
    assert_eq!(
        probe(&legacy_with(LOCAL, &[], &shared()), 80),
        clb_http(ProbePort::Number(32000), "/healthz")
    );
    let custom = AwsSettings {
        legacy_shared_probe_port: 10999,
        legacy_shared_probe_path: "/livez".to_owned(),
        ..shared()
    };
    assert_eq!(
        probe(&legacy_with("", &[], &custom), 80),
        clb_http(ProbePort::Number(10999), "/livez")
    );
    let overridden = legacy_with(
        "",
        &[("aws-load-balancer-healthcheck-port", "30080")],
        &shared(),
    );
    assert_eq!(
        probe(&overridden, 80),
        clb_http(ProbePort::Number(30080), "/healthz")
    );
}

#[test]
fn a_legacy_nlb_checks_tcp_on_each_traffic_port_30_10_3_3_and_http_healthz_for_local() {
    let result = legacy("", &[NLB]);
    assert_eq!(result.load_balancer, LbKind::Nlb);
    assert_eq!(probe(&result, 80), legacy_nlb_default());
    assert_eq!(probe(&result, 443), legacy_nlb_default());
    assert!(result.warnings.is_empty(), "{:#?}", result.warnings);

    let local = legacy(LOCAL, &[NLB]);
    assert_eq!(probe(&local, 80), legacy_nlb_local());
    assert!(
        local.warnings.is_empty(),
        "10 s and 10 s are the provider's own: {:#?}",
        local.warnings
    );
}

#[test]
fn legacy_nlb_annotations_override_and_the_shared_mode_overrides_them() {
    type Change = fn(&mut ProbeSpec);
    let http = ("aws-load-balancer-healthcheck-protocol", "HTTP");
    let cases: &[(&[(&str, &str)], Change)] = &[
        (&[http], |s| *s = legacy_nlb_http("/")),
        (
            &[http, ("aws-load-balancer-healthcheck-path", "/ready")],
            |s| *s = legacy_nlb_http("/ready"),
        ),
        (&[("aws-load-balancer-healthcheck-port", "10254")], |s| {
            s.port = ProbePort::Number(10254)
        }),
        (&[("aws-load-balancer-healthcheck-interval", "10")], |s| {
            s.interval_s = 10
        }),
        (&[("aws-load-balancer-healthcheck-timeout", "6")], |s| {
            s.timeout_s = 6
        }),
        (
            &[("aws-load-balancer-healthcheck-healthy-threshold", "2")],
            |s| s.healthy_threshold = 2,
        ),
        (
            &[("aws-load-balancer-healthcheck-unhealthy-threshold", "2")],
            |s| s.unhealthy_threshold = 2,
        ),
    ];
    for (annotations, change) in cases {
        let mut expected = legacy_nlb_default();
        change(&mut expected);
        let mut annotations = annotations.to_vec();
        annotations.push(NLB);
        assert_eq!(
            probe(&legacy("", &annotations), 80),
            expected,
            "{annotations:?}"
        );
    }
    let local_tcp = legacy(
        LOCAL,
        &[NLB, ("aws-load-balancer-healthcheck-protocol", "TCP")],
    );
    assert_eq!(
        probe(&local_tcp, 80),
        ProbeSpec {
            protocol: ProbeProtocol::Tcp,
            path: None,
            matcher: None,
            ..legacy_nlb_local()
        }
    );
    let annotated = [
        NLB,
        ("aws-load-balancer-healthcheck-port", "10254"),
        ("aws-load-balancer-healthcheck-protocol", "TCP"),
    ];
    assert_eq!(
        probe(&legacy_with("", &annotated, &shared()), 80),
        ProbeSpec {
            port: ProbePort::Number(10256),
            ..legacy_nlb_http("/healthz")
        },
        "the shared mode is applied after the annotations"
    );
}

#[test]
fn what_the_legacy_provider_refuses_rejects_the_service_with_its_reason() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (
            "sessionAffinity: ClientIP",
            &[],
            &["sessionAffinity ClientIP"],
        ),
        ("loadBalancerIP: 10.0.0.1", &[], &["loadBalancerIP"]),
        (
            "",
            &[("aws-load-balancer-healthcheck-interval", "ten")],
            &["aws-load-balancer-healthcheck-interval", "\"ten\""],
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-interval", "301")],
            &["aws-load-balancer-healthcheck-interval", "\"301\"", "5-300"],
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-timeout", "61")],
            &["aws-load-balancer-healthcheck-timeout", "\"61\"", "2-60"],
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-healthy-threshold", "1")],
            &["healthy-threshold", "\"1\""],
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-unhealthy-threshold", "11")],
            &["unhealthy-threshold", "\"11\""],
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-port", "http")],
            &["aws-load-balancer-healthcheck-port", "\"http\""],
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-protocol", "UDP")],
            &["aws-load-balancer-healthcheck-protocol", "\"UDP\""],
        ),
        (
            "",
            &[NLB, ("aws-load-balancer-healthcheck-protocol", "SSL")],
            &["aws-load-balancer-healthcheck-protocol", "\"SSL\""],
        ),
        (
            "",
            &[NLB, ("aws-load-balancer-healthcheck-timeout", "61")],
            &[],
        ),
        (
            "",
            &[NLB, ("aws-load-balancer-healthcheck-port", "0")],
            &["aws-load-balancer-healthcheck-port", "\"0\""],
        ),
        (
            "",
            &[
                ("aws-load-balancer-healthcheck-protocol", "HTTP"),
                ("aws-load-balancer-healthcheck-path", "healthz"),
            ],
            &["aws-load-balancer-healthcheck-path", "\"healthz\"", "'/'"],
        ),
        (
            "",
            &[
                NLB,
                ("aws-load-balancer-healthcheck-protocol", "HTTP"),
                ("aws-load-balancer-healthcheck-path", "x"),
            ],
            &["aws-load-balancer-healthcheck-path", "\"x\""],
        ),
    ];
    for (spec, annotations, fragments) in cases {
        let result = legacy(spec, annotations);
        if fragments.is_empty() {
            assert!(
                result.errors.is_empty(),
                "an NLB accepts a 61 s timeout: {:#?}",
                result.errors
            );
            continue;
        }
        let mut fragments = fragments.to_vec();
        fragments.push("Service/shop/web");
        assert_rejected(&result, &fragments);
    }
}

#[test]
fn ports_the_legacy_provider_cannot_serve_reject_the_service() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (&[], &[], &["no ports"]),
        (
            &[],
            &["dns:53:53:30053:UDP"],
            &["port 53", "UDP", "Classic LB"],
        ),
        (
            &[(LB_TYPE, "nlb")],
            &["dns:53:53:30053:UDP", "web:80:80:30080:TCP"],
            &["different protocols"],
        ),
        (
            &[(LB_TYPE, "nlb")],
            &["sctp:99:99:30099:SCTP"],
            &["port 99", "SCTP", "NLB"],
        ),
    ];
    for (annotations, ports, fragments) in cases {
        let result = only(&service("web", annotations, "type: LoadBalancer", ports));
        assert_rejected(&result, fragments);
    }
    let udp = only(&service(
        "dns",
        &[(LB_TYPE, "nlb")],
        "type: LoadBalancer",
        &["dns:53:53:30053:UDP"],
    ));
    assert!(
        udp.errors.is_empty(),
        "an NLB serves UDP: {:#?}",
        udp.errors
    );
    assert_eq!(udp.rules[0].protocol, RuleProtocol::Udp);
}

const LB_TYPE: &str = "service.beta.kubernetes.io/aws-load-balancer-type";

#[test]
fn known_traps_each_give_their_warning_and_only_then() {
    let single = |annotations: &[(&str, &str)]| {
        let keys: Vec<String> = annotations.iter().map(|(k, _)| format!("{S}{k}")).collect();
        let annotations: Vec<(&str, &str)> = keys
            .iter()
            .map(String::as_str)
            .zip(annotations.iter().map(|(_, v)| *v))
            .collect();
        only(&service(
            "web",
            &annotations,
            "type: LoadBalancer",
            &["http:80:8080:30080"],
        ))
    };
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a [&'a str]>);
    let cases: &[Case<'_>] = &[
        (&[], None),
        (
            &[("aws-load-balancer-healthcheck-path", "/x")],
            Some(&["healthcheck-path", "ignored", "TCP"]),
        ),
        (
            &[
                ("aws-load-balancer-backend-protocol", "ssl"),
                ("aws-load-balancer-healthcheck-path", "/x"),
            ],
            Some(&["ignored", "SSL"]),
        ),
        (
            &[NLB, ("aws-load-balancer-healthcheck-path", "/x")],
            Some(&["ignored", "TCP"]),
        ),
        (
            &[("aws-load-balancer-healthcheck-timeout", "10")],
            Some(&["timeout 10s", "interval 10s"]),
        ),
        (
            &[NLB, ("aws-load-balancer-healthcheck-interval", "10")],
            Some(&["timeout 10s", "interval 10s"]),
        ),
    ];
    for (annotations, expected) in cases {
        let result = single(annotations);
        assert!(result.errors.is_empty(), "{:#?}", result.errors);
        match expected {
            Some(fragments) => assert_warned(&result, fragments),
            None => assert!(
                result.warnings.is_empty(),
                "{annotations:?}: {:#?}",
                result.warnings
            ),
        }
    }
}
