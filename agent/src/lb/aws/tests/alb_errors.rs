//! Ingress -> ALB: what the controller refuses, what it tolerates, and the traps it warns of.

use super::alb::{alb, ingress, web};
use super::*;

const A: &str = "alb.ingress.kubernetes.io/";

#[test]
fn every_invalid_annotation_rejects_the_ingress_naming_object_key_and_value() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (&[], "target-type", "pod"),
        (&[], "target-type", "IP"),
        (&[], "backend-protocol", "http"),
        (&[], "backend-protocol", "TCP"),
        (&[], "backend-protocol-version", "HTTP3"),
        (&[], "backend-protocol-version", "grpc"),
        (&[], "healthcheck-protocol", "TCP"),
        (&[], "healthcheck-port", "0"),
        (&[], "healthcheck-port", "70000"),
        (&[], "healthcheck-port", "-1"),
        (&[], "healthcheck-port", "nosuchport"),
        (&[], "healthcheck-path", "healthz"),
        (&[], "healthcheck-interval-seconds", "abc"),
        (&[], "healthcheck-interval-seconds", " 10"),
        (&[], "healthcheck-interval-seconds", "4"),
        (&[], "healthcheck-interval-seconds", "301"),
        (&[], "healthcheck-interval-seconds", "-15"),
        (&[], "healthcheck-timeout-seconds", "1"),
        (&[], "healthcheck-timeout-seconds", "121"),
        (&[], "healthy-threshold-count", "1"),
        (&[], "healthy-threshold-count", "11"),
        (&[], "unhealthy-threshold-count", "1"),
        (&[], "unhealthy-threshold-count", "11"),
        (&[], "success-codes", "500"),
        (&[], "success-codes", "199"),
        (&[], "success-codes", "2xx"),
        (&[], "success-codes", ""),
        (
            &[("backend-protocol-version", "GRPC")],
            "success-codes",
            "100",
        ),
        (
            &[("backend-protocol-version", "GRPC")],
            "success-codes",
            "OK",
        ),
        (
            &[],
            "target-group-attributes",
            "deregistration_delay.timeout_seconds=3601",
        ),
        (
            &[],
            "target-group-attributes",
            "deregistration_delay.timeout_seconds=-1",
        ),
        (
            &[],
            "target-group-attributes",
            "deregistration_delay.timeout_seconds=abc",
        ),
        (
            &[],
            "target-group-attributes",
            "deregistration_delay.timeout_seconds",
        ),
        (&[], "target-group-attributes", "=30"),
    ];
    for (context, suffix, value) in cases {
        let key = format!("{A}{suffix}");
        let mut annotations: Vec<(String, &str)> = context
            .iter()
            .map(|(k, v)| (format!("{A}{k}"), *v))
            .collect();
        annotations.push((key.clone(), value));
        let annotations: Vec<(&str, &str)> =
            annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let on_ingress = alb(&annotations, &[]);
        assert_rejected(&on_ingress, &["Ingress/shop/shop", &key, value]);
        // Set on the backend Service, the error names the Service that carries it.
        let on_service = alb(&[], &annotations);
        assert_eq!(on_service.object.to_string(), "Ingress/shop/shop");
        assert_rejected(&on_service, &["Service/shop/web", &key, value]);
    }
}

#[test]
fn one_bad_backend_rejects_the_whole_ingress_and_every_error_is_reported() {
    let yaml = format!(
        "{}---\n{}---\n{}",
        ingress("shop", &[], &["web:80", "api:80"]),
        web(&[]),
        service(
            "api",
            &[
                (&format!("{A}healthcheck-interval-seconds"), "1"),
                (&format!("{A}target-type"), "pod")
            ],
            "type: NodePort",
            &["http:80:8080:30081"],
        ),
    );
    let result = only(&yaml);
    assert_rejected(&result, &["healthcheck-interval-seconds", "\"1\""]);
    assert_rejected(&result, &["target-type", "\"pod\""]);
}

#[test]
fn a_missing_backend_service_is_a_fixed_503_by_default_and_an_error_when_not_tolerated() {
    let yaml = format!(
        "{}---\n{}",
        ingress("shop", &[], &["web:80", "ghost:80"]),
        web(&[])
    );
    let tolerated = only(&yaml);
    assert!(tolerated.errors.is_empty(), "{:#?}", tolerated.errors);
    assert_eq!(
        tolerated.rules.len(),
        1,
        "the existing backend keeps its target group"
    );
    assert_warned(
        &tolerated,
        &["Ingress/shop/shop", "shop/ghost", "does not exist", "503"],
    );

    let strict = AwsSettings {
        tolerate_missing_backend_service: false,
        ..AwsSettings::default()
    };
    assert_rejected(
        &only_with(&yaml, &strict),
        &["Ingress/shop/shop", "shop/ghost", "does not exist"],
    );
}

#[test]
fn a_backend_port_the_service_does_not_have_rejects_the_ingress() {
    for port in ["8080", "grpc"] {
        let yaml = format!(
            "{}---\n{}",
            ingress("shop", &[], &[&format!("web:{port}")]),
            web(&[])
        );
        assert_rejected(&only(&yaml), &["Service/shop/web", "has no port", port]);
    }
}

#[test]
fn instance_targets_need_a_node_port_so_a_cluster_ip_backend_is_refused() {
    for (ty, target, accepted) in [
        ("ClusterIP", "instance", false),
        ("ClusterIP", "ip", true),
        ("NodePort", "instance", true),
        ("LoadBalancer", "instance", true),
    ] {
        let yaml = format!(
            "{}---\n{}",
            ingress("shop", &[(&format!("{A}target-type"), target)], &["web:80"]),
            service("web", &[], &format!("type: {ty}"), &["http:80:8080:-"]),
        );
        let result = ingress_result(&yaml);
        if accepted {
            assert!(
                result.errors.is_empty(),
                "{ty}/{target}: {:#?}",
                result.errors
            );
        } else {
            assert_rejected(&result, &["Service/shop/web", "ClusterIP", "NodePort"]);
        }
    }
}

#[test]
fn a_named_health_check_port_with_ip_targets_needs_a_numeric_target_port() {
    let yaml = format!(
        "{}---\n{}",
        ingress(
            "shop",
            &[
                (&format!("{A}target-type"), "ip"),
                (&format!("{A}healthcheck-port"), "status")
            ],
            &["web:80"]
        ),
        service(
            "web",
            &[],
            "type: ClusterIP",
            &["http:80:8080:-", "status:15021:status:-"]
        ),
    );
    assert_rejected(
        &only(&yaml),
        &["healthcheck-port", "\"status\"", "targetPort is a name"],
    );
}

#[test]
fn use_annotation_backends_forward_to_the_services_of_their_action() {
    let weighted = r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":"80","weight":80},{"serviceName":"api","servicePort":9000,"weight":20}]}}"#;
    let services = format!(
        "{}---\n{}",
        web(&[]),
        service("api", &[], "type: NodePort", &["http:9000:9090:30090"])
    );
    let with_action = |action: Option<&str>| {
        let annotations: Vec<(&str, &str)> = action
            .map(|a| ("alb.ingress.kubernetes.io/actions.split", a))
            .into_iter()
            .collect();
        format!(
            "{}---\n{services}",
            ingress("shop", &annotations, &["split:use-annotation"])
        )
    };

    let result = only(&with_action(Some(weighted)));
    let ports: Vec<i32> = result.rules.iter().map(|r| r.port).collect();
    assert_eq!(ports, [80, 9000], "{result:#?}");

    let fixed = r#"{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"404"}}"#;
    let result = only(&with_action(Some(fixed)));
    assert!(
        result.rules.is_empty() && result.errors.is_empty(),
        "{result:#?}"
    );

    let result = only(&with_action(None));
    assert!(result.errors.is_empty(), "{:#?}", result.errors);
    assert_warned(&result, &["actions.split", "is missing", "503"]);
    let strict = AwsSettings {
        tolerate_missing_backend_action: false,
        ..AwsSettings::default()
    };
    assert_rejected(
        &only_with(&with_action(None), &strict),
        &["actions.split", "is missing"],
    );

    assert_rejected(
        &only(&with_action(Some("{not json"))),
        &["actions.split", "not valid JSON"],
    );

    // A weighted forward to a Service that does not exist is an error even when tolerated.
    let ghost = weighted.replace("\"api\"", "\"ghost\"");
    assert_rejected(
        &only(&with_action(Some(&ghost))),
        &["shop/ghost", "does not exist"],
    );
}

#[test]
fn a_grpc_target_group_without_success_codes_warns_that_only_unimplemented_passes() {
    let grpc = (&*format!("{A}backend-protocol-version"), "GRPC");
    let result = alb(&[grpc], &[]);
    assert_eq!(probe(&result, 80).matcher, grpc_matcher("12"));
    assert_warned(
        &result,
        &[
            "Service/shop/web port 80",
            "GRPC",
            "12",
            "UNIMPLEMENTED",
            "success-codes",
        ],
    );

    let codes = (&*format!("{A}success-codes"), "0");
    let result = alb(&[grpc, codes], &[]);
    assert!(result.warnings.is_empty(), "{:#?}", result.warnings);
}

#[test]
fn known_traps_each_give_their_warning_and_only_then() {
    let target_ip = (format!("{A}target-type"), "ip");
    let local = "type: NodePort\nexternalTrafficPolicy: Local";
    // (annotations, service spec, target port, warning fragments or none)
    type Case<'a> = (
        Vec<(String, &'a str)>,
        &'a str,
        &'a str,
        Option<&'a [&'a str]>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            vec![target_ip.clone()],
            "type: NodePort",
            "web-http",
            Some(&["targetPort \"web-http\" is a name", "pod IPs"]),
        ),
        (vec![], "type: NodePort", "web-http", None),
        (vec![target_ip.clone()], "type: NodePort", "8080", None),
        (
            vec![(format!("{A}healthcheck-timeout-seconds"), "15")],
            "type: NodePort",
            "8080",
            Some(&["timeout 15s", "interval 15s"]),
        ),
        (
            vec![(format!("{A}healthcheck-timeout-seconds"), "14")],
            "type: NodePort",
            "8080",
            None,
        ),
        (
            vec![],
            local,
            "8080",
            Some(&[
                "externalTrafficPolicy Local",
                "NodePort",
                "healthCheckNodePort",
            ]),
        ),
        (vec![target_ip.clone()], local, "8080", None),
    ];
    for (annotations, spec, target_port, expected) in cases {
        let annotations: Vec<(&str, &str)> =
            annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let yaml = format!(
            "{}---\n{}",
            ingress("shop", &annotations, &["web:80"]),
            service("web", &[], spec, &[&format!("http:80:{target_port}:30080")]),
        );
        let result = only(&yaml);
        assert!(result.errors.is_empty(), "{:#?}", result.errors);
        match expected {
            Some(fragments) => assert_warned(&result, fragments),
            None => assert!(
                result.warnings.is_empty(),
                "{annotations:?} {spec}: {:#?}",
                result.warnings
            ),
        }
    }
}
