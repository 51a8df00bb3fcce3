//! `clusterServiceLoadBalancerHealthProbeMode: shared`: kube-proxy's health server for every rule.

use super::*;
use crate::lb::azure::annotations::{PROBE_INTERVAL, PROBE_REQUEST_PATH};

fn web() -> Svc {
    Svc::lb()
        .port("http", 80, 30080)
        .app("http")
        .port("dns", 53, 30053)
        .protocol("UDP")
}

#[test]
fn shared_mode_probes_kube_proxy_10256_healthz_for_every_rule_udp_included() {
    let r = web().derive(&shared_at("1.29"));
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(10256, "/healthz")));
    assert_eq!(probe_of(&r, 53), Some(http(10256, "/healthz")));
    no_warning(&r, &["GET /"]);
}

#[test]
fn shared_mode_ignores_probe_annotations_even_invalid_ones_and_names_them() {
    let r = web()
        .ann(PROBE_INTERVAL, "3")
        .port_ann(80, ProbeParam::Port, "nope")
        .ann(PROBE_REQUEST_PATH, "/ready")
        .derive(&shared_at("1.33"));
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(10256, "/healthz")));
    warns(
        &r,
        &[
            "shared",
            PROBE_INTERVAL,
            "port_80_health-probe_port",
            PROBE_REQUEST_PATH,
        ],
    );
}

#[test]
fn shared_mode_leaves_local_services_on_their_health_check_node_port() {
    let r = web().local(Some(31000)).derive(&shared_at("1.33"));
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(31000, "/healthz")));
    assert_eq!(probe_of(&r, 53), Some(http(31000, "/healthz")));
}

#[test]
fn shared_mode_exists_from_v1_29_and_v1_28_5_and_is_servicenodeport_with_a_warning_before() {
    for (v, shared) in [
        ("v1.28.4", false),
        ("v1.28.5", true),
        ("1.27", false),
        ("v1.29.0", true),
        ("1.24", false),
    ] {
        let r = web().derive(&shared_at(v));
        accepted(&r);
        let expected = if shared {
            http(10256, "/healthz")
        } else {
            http(30080, "/")
        };
        assert_eq!(probe_of(&r, 80), Some(expected), "{v}");
        let warned = !warnings_with(&r, &["shared does not exist", v]).is_empty();
        assert_eq!(warned, !shared, "{v}: {:#?}", r.warnings);
    }
}

#[test]
fn shared_mode_still_honours_no_probe_rule_and_no_lb_rule() {
    let r = web()
        .port_flag(80, PortFlag::NoProbeRule, "true")
        .port_flag(53, PortFlag::NoLbRule, "true")
        .derive(&shared_at("1.33"));
    accepted(&r);
    assert_eq!(rule_ports(&r), [(80, RuleProtocol::Tcp)]);
    assert_eq!(probe_of(&r, 80), None);
}

#[test]
fn shared_mode_gives_the_ha_ports_rule_the_shared_probe() {
    let r = web().internal_ha().derive(&shared_at("1.33"));
    accepted(&r);
    assert_eq!(rule_ports(&r), [(0, RuleProtocol::Tcp)]);
    assert_eq!(probe_of(&r, 0), Some(http(10256, "/healthz")));
}
