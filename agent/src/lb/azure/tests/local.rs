//! externalTrafficPolicy Local: the healthCheckNodePort probe, its timing, and per-port overrides.

use super::*;
use crate::lb::azure::annotations::{
    PROBE_INTERVAL, PROBE_NUM_OF_PROBE, PROBE_PROTOCOL, PROBE_REQUEST_PATH,
};

fn local_web() -> Svc {
    Svc::lb()
        .port("http", 80, 30080)
        .app("http")
        .port("dns", 53, 30053)
        .protocol("UDP")
        .local(Some(31000))
}

#[test]
fn local_service_probes_the_health_check_node_port_with_http_healthz_on_every_port_even_udp() {
    for v in ["v1.23.4", "1.24", "1.26", "1.28", "1.33"] {
        let r = local_web().at(v);
        accepted(&r);
        assert_eq!(
            rule_ports(&r),
            [(80, RuleProtocol::Tcp), (53, RuleProtocol::Udp)],
            "{v}"
        );
        assert_eq!(probe_of(&r, 80), Some(http(31000, "/healthz")), "{v}");
        assert_eq!(probe_of(&r, 53), Some(http(31000, "/healthz")), "{v}");
        no_warning(&r, &["GET /"]);
    }
}

#[test]
fn local_probe_timing_annotations_apply_from_v1_28_and_their_backports_only() {
    let svc = local_web()
        .ann(PROBE_INTERVAL, "10")
        .ann(PROBE_NUM_OF_PROBE, "3");
    let cases = [
        ("1.24", (5, 2)),
        ("v1.25.15", (5, 2)),
        ("v1.25.16", (10, 3)),
        ("v1.26.11", (5, 2)),
        ("v1.26.12", (10, 3)),
        ("v1.27.5", (5, 2)),
        ("v1.27.6", (10, 3)),
        ("v1.28.0", (10, 3)),
        ("1.33", (10, 3)),
    ];
    for (v, (interval, threshold)) in cases {
        let r = svc.at(v);
        accepted(&r);
        assert_eq!(
            probe_of(&r, 80),
            Some(timed(http(31000, "/healthz"), interval, threshold)),
            "{v}"
        );
        if interval == 5 {
            warns(&r, &[PROBE_INTERVAL, "not read", "v1.28.0"]);
        } else {
            no_warning(&r, &["not read"]);
        }
    }
}

#[test]
fn local_probe_timing_is_keyed_by_the_health_check_node_port_not_by_the_service_port() {
    let by_hcnp = local_web().port_ann(31000, ProbeParam::Interval, "15");
    assert_eq!(
        probe_of(&by_hcnp.at("1.28"), 80),
        Some(timed(http(31000, "/healthz"), 15, 2))
    );
    let by_service_port = local_web().port_ann(80, ProbeParam::Interval, "15");
    assert_eq!(
        probe_of(&by_service_port.at("1.28"), 80),
        Some(http(31000, "/healthz"))
    );
}

#[test]
fn local_probe_timing_errors_reject_the_service_only_where_the_annotations_are_read() {
    let svc = local_web().ann(PROBE_INTERVAL, "3");
    rejected(
        &svc.at("1.28"),
        &[PROBE_INTERVAL, "\"3\"", "minimum value of interval is 5"],
    );
    accepted(&svc.at("v1.27.5"));
}

#[test]
fn local_probe_ignores_protocol_and_request_path_annotations_on_current_versions() {
    let svc = local_web()
        .ann(PROBE_PROTOCOL, "tcp")
        .ann(PROBE_REQUEST_PATH, "/ready");
    assert_eq!(probe_of(&svc.at("1.33"), 80), Some(http(31000, "/healthz")));
}

#[test]
fn local_probe_before_v1_23_4_follows_the_global_protocol_annotation_and_warns_about_tcp() {
    let r = local_web().ann(PROBE_PROTOCOL, "Tcp").at("v1.23.3");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(tcp(31000)));
    warns(&r, &[PROBE_PROTOCOL, "Local probe", "kube-proxy"]);
    let r = local_web()
        .ann(PROBE_PROTOCOL, "http")
        .ann(PROBE_REQUEST_PATH, "/ready")
        .at("v1.23.3");
    assert_eq!(probe_of(&r, 80), Some(http(31000, "/ready")));
    let r = local_web().ann(PROBE_REQUEST_PATH, "/ready").at("v1.23.3");
    assert_eq!(
        probe_of(&r, 80),
        Some(http(31000, "/healthz")),
        "path alone is not read"
    );
}

#[test]
fn local_without_an_allocated_health_check_node_port_probes_a_placeholder_and_warns() {
    let r = Svc::lb().port("http", 80, 30080).local(None).at("1.33");
    accepted(&r);
    let p = probe_of(&r, 80).expect("probe");
    assert_eq!(p.port, ProbePort::HealthCheckNodePort);
    assert_eq!(p.path.as_deref(), Some("/healthz"));
    warns(&r, &["healthCheckNodePort", "allocates"]);
}

#[test]
fn per_port_probe_port_overrides_the_local_probe_from_v1_29_and_its_backports() {
    let svc = local_web().port_ann(80, ProbeParam::Port, "http");
    let overridden = [
        ("v1.25.19", true),
        ("v1.25.18", false),
        ("v1.26.15", true),
        ("v1.26.14", false),
        ("v1.27.9", true),
        ("v1.27.8", false),
        ("v1.28.1", true),
        ("v1.28.0", false),
        ("1.29", true),
    ];
    for (v, overrides) in overridden {
        let r = svc.at(v);
        accepted(&r);
        // appProtocol http on the port: the overriding probe is Http GET / on its nodePort.
        let expected = if overrides {
            http(30080, "/")
        } else {
            http(31000, "/healthz")
        };
        assert_eq!(probe_of(&r, 80), Some(expected), "{v}");
        assert_eq!(
            probe_of(&r, 53),
            Some(http(31000, "/healthz")),
            "{v}: port without annotation"
        );
        let ignored = warnings_with(&r, &["port_80_health-probe_port", "ignored", "v1.29.0"]);
        assert_eq!(ignored.is_empty(), overrides, "{v}: {:#?}", r.warnings);
    }
}

#[test]
fn local_before_v1_29_does_not_validate_per_port_probe_settings_but_later_versions_do() {
    let svc = local_web().port_ann(80, ProbeParam::Port, "nope");
    accepted(&svc.at("v1.28.0"));
    rejected(
        &svc.at("v1.28.1"),
        &["port_80_health-probe_port", "nope", "not found in service"],
    );
}
