//! perPort(): rules per Service port, probe port, protocol precedence and request path.

use super::*;
use crate::lb::azure::annotations::{INTERNAL, PROBE_PROTOCOL, PROBE_REQUEST_PATH};

/// ingress-nginx-like: two named TCP ports with allocated nodePorts.
fn web() -> Svc {
    Svc::lb().port("http", 80, 30080).port("https", 443, 30443)
}

#[test]
fn no_lb_rule_and_no_probe_rule_take_effect_from_v1_26_and_their_backports() {
    let svc = web().port_flag(80, PortFlag::NoLbRule, "true").port_flag(
        443,
        PortFlag::NoProbeRule,
        "True",
    );
    for (v, read) in [
        ("1.24", true),
        ("v1.24.11", false),
        ("v1.24.12", true),
        ("v1.25.5", false),
        ("v1.25.6", true),
        ("v1.26.0", true),
        ("1.23", false),
        ("v1.23.3", false),
    ] {
        let r = svc.at(v);
        accepted(&r);
        if read {
            assert_eq!(rule_ports(&r), [(443, RuleProtocol::Tcp)], "{v}");
            assert_eq!(probe_of(&r, 443), None, "{v}");
            no_warning(&r, &["not read"]);
        } else {
            assert_eq!(
                rule_ports(&r),
                [(80, RuleProtocol::Tcp), (443, RuleProtocol::Tcp)],
                "{v}"
            );
            assert_eq!(probe_of(&r, 80), Some(tcp(30080)), "{v}");
            assert_eq!(probe_of(&r, 443), Some(tcp(30443)), "{v}");
            warns(&r, &["port_80_no_lb_rule", "not read", v, "v1.26.0"]);
            warns(&r, &["port_443_no_probe_rule", "not read", v]);
        }
    }
}

#[test]
fn no_lb_rule_and_no_probe_rule_need_the_value_true() {
    for (value, dropped) in [
        ("true", true),
        ("TRUE", true),
        ("yes", false),
        ("1", false),
        ("", false),
    ] {
        let r = web().port_flag(80, PortFlag::NoLbRule, value).at("1.33");
        assert_eq!(r.rules.len(), if dropped { 1 } else { 2 }, "{value:?}");
    }
}

#[test]
fn no_probe_rule_also_removes_the_local_probe_from_that_rule() {
    let r = web()
        .local(Some(31000))
        .port_flag(80, PortFlag::NoProbeRule, "true")
        .at("1.33");
    assert_eq!(probe_of(&r, 80), None);
    assert_eq!(probe_of(&r, 443), Some(http(31000, "/healthz")));
}

#[test]
fn probe_port_annotation_resolves_names_and_service_ports_to_node_ports_and_keeps_other_numbers() {
    let cases = [
        ("https", 30443),
        ("HTTPS", 30443),
        ("443", 30443),
        ("+443", 30443),
        ("80", 30080),
        ("10254", 10254),
        ("0", 0),
        ("65535", 65535),
    ];
    for (value, port) in cases {
        let r = web().port_ann(80, ProbeParam::Port, value).at("1.33");
        accepted(&r);
        assert_eq!(probe_of(&r, 80), Some(tcp(port)), "{value:?}");
        assert_eq!(
            probe_of(&r, 443),
            Some(tcp(30443)),
            "{value:?}: the other port is unchanged"
        );
    }
}

#[test]
fn probe_port_annotation_is_read_from_v1_24_12_and_v1_25_6_only() {
    let svc = web().port_ann(80, ProbeParam::Port, "10254");
    for (v, read) in [
        ("v1.24.11", false),
        ("v1.24.12", true),
        ("v1.25.5", false),
        ("v1.25.6", true),
    ] {
        let r = svc.at(v);
        let expected = if read { tcp(10254) } else { tcp(30080) };
        assert_eq!(probe_of(&r, 80), Some(expected), "{v}");
    }
}

#[test]
fn probe_protocol_comes_from_port_annotation_then_app_protocol_then_global_annotation_then_tcp() {
    // (per-port annotation, appProtocol, global annotation) -> probe of port 80
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        ProbeSpec,
    );
    let cases: [Case; 10] = [
        (None, None, None, tcp(30080)),
        (None, None, Some("http"), http(30080, "/")),
        (None, Some("https"), Some("http"), https(30080, "/")),
        (Some("tcp"), Some("https"), Some("http"), tcp(30080)),
        (Some("http"), Some("tcp"), None, http(30080, "/")),
        (Some(" HTTP "), None, None, http(30080, "/")),
        (None, Some("Https"), None, https(30080, "/")),
        (None, Some("TCP"), Some("http"), tcp(30080)),
        (None, Some("kubernetes.io/h2c"), Some("http"), tcp(30080)),
        (Some("grpc"), None, Some("http"), tcp(30080)),
    ];
    for (port_ann, app, global, expected) in cases {
        let mut svc = Svc::lb().port("http", 80, 30080);
        if let Some(v) = app {
            svc = svc.app(v);
        }
        svc = svc.port("https", 443, 30443);
        if let Some(v) = port_ann {
            svc = svc.port_ann(80, ProbeParam::Protocol, v);
        }
        if let Some(v) = global {
            svc = svc.ann(PROBE_PROTOCOL, v);
        }
        let r = svc.at("1.33");
        accepted(&r);
        assert_eq!(
            probe_of(&r, 80),
            Some(expected),
            "{port_ann:?} {app:?} {global:?}"
        );
    }
}

#[test]
fn an_unsupported_app_protocol_falls_back_to_tcp_and_hides_the_global_annotation_with_a_warning() {
    let r = Svc::lb()
        .port("grpc", 50051, 31051)
        .app("grpc")
        .ann(PROBE_PROTOCOL, "http")
        .at("1.33");
    assert_eq!(probe_of(&r, 50051), Some(tcp(31051)));
    warns(
        &r,
        &[
            "port 50051 (grpc)",
            "\"grpc\"",
            "falls back to Tcp",
            PROBE_PROTOCOL,
            "NOT read",
        ],
    );
    let r = Svc::lb()
        .port("h2c", 80, 30080)
        .app("kubernetes.io/h2c")
        .at("1.33");
    assert_eq!(probe_of(&r, 80), Some(tcp(30080)));
    warns(
        &r,
        &["port 80 (h2c)", "kubernetes.io/h2c", "falls back to Tcp"],
    );
    no_warning(&r, &["NOT read"]);
    // Only appProtocol hides the global annotation unexpectedly; a per-port one is explicit.
    let r = Svc::lb()
        .port("grpc", 50051, 31051)
        .port_ann(50051, ProbeParam::Protocol, "grpc")
        .ann(PROBE_PROTOCOL, "http")
        .at("1.33");
    assert_eq!(probe_of(&r, 50051), Some(tcp(31051)));
    warns(
        &r,
        &["port_50051_health-probe_protocol", "falls back to Tcp"],
    );
    no_warning(&r, &["NOT read"]);
}

#[test]
fn per_port_protocol_annotation_is_not_read_before_v1_24_12() {
    let svc = web().port_ann(80, ProbeParam::Protocol, "http");
    assert_eq!(probe_of(&svc.at("v1.24.11"), 80), Some(tcp(30080)));
    warns(
        &svc.at("v1.24.11"),
        &["port_80_health-probe_protocol", "not read"],
    );
    assert_eq!(probe_of(&svc.at("v1.24.12"), 80), Some(http(30080, "/")));
}

#[test]
fn https_on_the_basic_sku_falls_back_to_tcp_with_a_warning() {
    let r = web().app("https").derive(&basic_at("1.33"));
    accepted(&r);
    assert_eq!(probe_of(&r, 443), Some(tcp(30443)));
    warns(&r, &["port 443 (https)", "Basic SKU", "Tcp"]);
    let r = web().app("https").derive(&at("1.33"));
    assert_eq!(probe_of(&r, 443), Some(https(30443, "/")));
}

#[test]
fn request_path_comes_from_the_port_annotation_then_the_global_one_then_the_version_default() {
    let svc = web().ann(PROBE_PROTOCOL, "http");
    assert_eq!(probe_of(&svc.at("1.33"), 80), Some(http(30080, "/")));
    assert_eq!(
        probe_of(&svc.at("v1.23.3"), 80),
        Some(http(30080, "/healthz"))
    );
    let svc = svc.ann(PROBE_REQUEST_PATH, "/global");
    assert_eq!(probe_of(&svc.at("1.33"), 80), Some(http(30080, "/global")));
    let svc = svc.port_ann(80, ProbeParam::RequestPath, "/mine");
    let r = svc.at("1.33");
    assert_eq!(probe_of(&r, 80), Some(http(30080, "/mine")));
    assert_eq!(probe_of(&r, 443), Some(http(30443, "/global")));
}

#[test]
fn on_1_23_latest_an_http_probe_without_any_request_path_annotation_is_forced_to_tcp() {
    let svc = web().ann(PROBE_PROTOCOL, "http");
    assert_eq!(probe_of(&svc.at("1.23"), 80), Some(tcp(30080)));
    assert_eq!(probe_of(&svc.at("v1.23.10"), 80), Some(http(30080, "/")));
    let r = svc
        .clone()
        .port_ann(80, ProbeParam::RequestPath, "/ready")
        .at("1.23");
    assert_eq!(probe_of(&r, 80), Some(http(30080, "/ready")));
    assert_eq!(probe_of(&r, 443), Some(tcp(30443)));
    warns(
        &svc.at("1.23"),
        &[
            "port 80 (http)",
            "1.24",
            PROBE_PROTOCOL,
            "\"http\"",
            "GET /",
        ],
    );
}

#[test]
fn a_probe_port_name_matching_several_ports_case_insensitively_takes_the_last_one() {
    let r = Svc::lb()
        .port("http", 80, 30080)
        .port("HTTP", 8080, 30880)
        .port_ann(80, ProbeParam::Port, "Http")
        .at("1.33");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(tcp(30880)));
}

#[test]
fn a_request_path_on_a_tcp_probe_is_unused_and_the_warning_says_so() {
    let r = web().ann(PROBE_REQUEST_PATH, "/ready").at("1.33");
    assert_eq!(probe_of(&r, 80), Some(tcp(30080)));
    warns(
        &r,
        &["port 80 (http)", PROBE_REQUEST_PATH, "Tcp", "not used"],
    );
}

#[test]
fn udp_and_sctp_ports_get_rules_without_probes_of_their_own() {
    let r = Svc::lb()
        .port("dns", 53, 30053)
        .protocol("UDP")
        .port("sig", 2905, 32905)
        .protocol("SCTP")
        .ann(PROBE_PROTOCOL, "http")
        .ann(INTERNAL, "true")
        .at("1.33");
    accepted(&r);
    assert_eq!(
        rule_ports(&r),
        [(53, RuleProtocol::Udp), (2905, RuleProtocol::Sctp)]
    );
    assert_eq!((probe_of(&r, 53), probe_of(&r, 2905)), (None, None));
}

#[test]
fn kubernetes_defaults_a_missing_port_protocol_to_tcp() {
    let mut svc = web();
    svc.last().protocol = None;
    let r = svc.at("1.33");
    assert_eq!(
        rule_ports(&r),
        [(80, RuleProtocol::Tcp), (443, RuleProtocol::Tcp)]
    );
}

#[test]
fn a_node_port_not_allocated_yet_is_probed_as_the_traffic_port_with_a_warning() {
    let r = web().no_node_port().at("1.33");
    accepted(&r);
    assert_eq!(
        probe_of(&r, 443).map(|p| p.port),
        Some(ProbePort::TrafficPort)
    );
    warns(&r, &["port 443 (https)", "nodePort", "allocates"]);
    let mut disabled = web().no_node_port();
    disabled.spec().allocate_load_balancer_node_ports = Some(false);
    warns(
        &disabled.at("1.33"),
        &["port 443 (https)", "allocateLoadBalancerNodePorts"],
    );
}

#[test]
fn http_probes_on_ports_azure_forbids_warn_and_tcp_probes_there_do_not() {
    for port in ["19", "21", "25", "70", "110", "119", "143", "220", "993"] {
        let svc = web().port_ann(80, ProbeParam::Port, port);
        let r = svc
            .clone()
            .port_ann(80, ProbeParam::Protocol, "http")
            .at("1.33");
        warns(
            &r,
            &["port 80 (http)", &format!("port {port}"), "does not allow"],
        );
        no_warning(&svc.at("1.33"), &["does not allow"]);
    }
    no_warning(
        &web()
            .port_ann(80, ProbeParam::Port, "26")
            .ann(PROBE_PROTOCOL, "http")
            .at("1.33"),
        &["does not allow"],
    );
}

#[test]
fn only_services_of_type_load_balancer_are_derived() {
    for t in [
        Some("ClusterIP"),
        Some("NodePort"),
        Some("ExternalName"),
        Some("loadbalancer"),
        None,
    ] {
        let mut svc = web();
        svc.spec().type_ = t.map(str::to_owned);
        assert!(derive_service(&svc.0, &at("1.33")).is_none(), "{t:?}");
    }
    let no_spec = Service {
        spec: None,
        ..web().0
    };
    assert!(derive_service(&no_spec, &at("1.33")).is_none());
}

#[test]
fn a_service_with_a_load_balancer_class_gets_no_azure_rule_and_a_warning() {
    let mut svc = web();
    svc.spec().load_balancer_class = Some("example.com/other".to_owned());
    let r = svc.at("1.33");
    accepted(&r);
    assert!(r.rules.is_empty());
    warns(&r, &["loadBalancerClass", "example.com/other"]);
}
