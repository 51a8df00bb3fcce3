//! Service -> NLB on the AWS Load Balancer Controller: what it refuses and the traps it warns of.

use super::nlb::nlb;
use super::*;
use crate::model::RuleProtocol;

const S: &str = "service.beta.kubernetes.io/";

#[test]
fn every_invalid_annotation_rejects_the_service_naming_key_and_value() {
    let http = ("aws-load-balancer-healthcheck-protocol", "HTTP");
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (&[], "aws-load-balancer-healthcheck-protocol", "UDP"),
        (&[], "aws-load-balancer-healthcheck-port", "0"),
        (&[], "aws-load-balancer-healthcheck-port", "65536"),
        (&[], "aws-load-balancer-healthcheck-port", "status"),
        (&[http], "aws-load-balancer-healthcheck-path", "healthz"),
        (&[], "aws-load-balancer-healthcheck-interval", "ten"),
        (&[], "aws-load-balancer-healthcheck-interval", "4"),
        (&[], "aws-load-balancer-healthcheck-interval", "301"),
        (&[], "aws-load-balancer-healthcheck-timeout", "1"),
        (&[], "aws-load-balancer-healthcheck-timeout", "121"),
        (&[], "aws-load-balancer-healthcheck-healthy-threshold", "1"),
        (
            &[],
            "aws-load-balancer-healthcheck-unhealthy-threshold",
            "11",
        ),
        (
            &[http],
            "aws-load-balancer-healthcheck-success-codes",
            "600",
        ),
        (
            &[http],
            "aws-load-balancer-healthcheck-success-codes",
            "199",
        ),
        (
            &[],
            "aws-load-balancer-target-group-attributes",
            "deregistration_delay.timeout_seconds=4000",
        ),
        (
            &[],
            "aws-load-balancer-target-group-attributes",
            "preserve_client_ip.enabled=yes",
        ),
        (
            &[],
            "aws-load-balancer-target-group-attributes",
            "proxy_protocol_v2.enabled",
        ),
        (
            &[],
            "aws-load-balancer-target-group-attributes.80",
            "deregistration_delay.timeout_seconds=x",
        ),
    ];
    for (context, suffix, value) in cases {
        let mut annotations = context.to_vec();
        annotations.push((suffix, value));
        let result = nlb("", &annotations);
        assert_rejected(
            &result,
            &["Service/shop/web", &format!("{S}{suffix}"), value],
        );
    }
}

#[test]
fn a_named_health_check_port_with_ip_targets_and_a_named_target_port_is_refused() {
    let result = only(&service(
        "web",
        &[
            (
                "service.beta.kubernetes.io/aws-load-balancer-type",
                "nlb-ip",
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port",
                "status",
            ),
        ],
        "type: LoadBalancer",
        &["http:80:8080:-", "status:15021:status-port:-"],
    ));
    assert_rejected(
        &result,
        &[
            "aws-load-balancer-healthcheck-port",
            "\"status\"",
            "targetPort is a name",
        ],
    );
}

#[test]
fn instance_targets_are_refused_without_a_node_port() {
    let annotated = [
        (
            "service.beta.kubernetes.io/aws-load-balancer-type",
            "external",
        ),
        (
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
            "instance",
        ),
    ];
    let cluster_ip = only(&service(
        "web",
        &annotated,
        "type: ClusterIP",
        &["http:80:8080:-"],
    ));
    assert_rejected(&cluster_ip, &["Service/shop/web", "ClusterIP", "ip"]);
    let no_node_ports = only(&service(
        "web",
        &annotated,
        "type: LoadBalancer\nallocateLoadBalancerNodePorts: false",
        &["http:80:8080:-"],
    ));
    assert_rejected(
        &no_node_ports,
        &["port 80", "allocateLoadBalancerNodePorts"],
    );
}

#[test]
fn one_rule_per_port_with_the_ports_protocol_and_udp_checked_by_tcp_is_a_trap() {
    let result = only(&service(
        "dns",
        &[(
            "service.beta.kubernetes.io/aws-load-balancer-type",
            "nlb-ip",
        )],
        "type: LoadBalancer",
        &["dns-udp:53:53:-:UDP", "dns-tcp:5353:53:-:TCP"],
    ));
    let rules: Vec<(i32, RuleProtocol)> =
        result.rules.iter().map(|r| (r.port, r.protocol)).collect();
    assert_eq!(rules, [(53, RuleProtocol::Udp), (5353, RuleProtocol::Tcp)]);
    assert_warned(&result, &["Service/shop/dns port 53", "UDP", "TCP"]);
    assert_eq!(result.warnings.len(), 1, "{:#?}", result.warnings);
}

#[test]
fn known_traps_each_give_their_warning_and_only_then() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a [&'a str]>);
    let cases: &[Case<'_>] = &[
        (
            "",
            &[("aws-load-balancer-healthcheck-path", "/x")],
            Some(&["healthcheck-path", "\"/x\"", "ignored", "TCP"]),
        ),
        (
            "",
            &[
                ("aws-load-balancer-healthcheck-protocol", "HTTP"),
                ("aws-load-balancer-healthcheck-path", "/x"),
            ],
            None,
        ),
        (
            "",
            &[("aws-load-balancer-healthcheck-timeout", "10")],
            Some(&["timeout 10s", "interval 10s"]),
        ),
        ("", &[("aws-load-balancer-healthcheck-timeout", "9")], None),
        (
            "",
            &[("aws-load-balancer-nlb-target-type", "pods")],
            Some(&["\"pods\"", "instance"]),
        ),
    ];
    for (spec, annotations, expected) in cases {
        let result = nlb(spec, annotations);
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

#[test]
fn a_named_target_port_with_ip_targets_is_a_trap() {
    let result = only(&service(
        "web",
        &[(
            "service.beta.kubernetes.io/aws-load-balancer-type",
            "nlb-ip",
        )],
        "type: LoadBalancer",
        &["http:80:web-http:-"],
    ));
    assert_eq!(probe(&result, 80).port, ProbePort::TrafficPort);
    assert_warned(&result, &["targetPort \"web-http\" is a name"]);
}
