//! Scenario S1: ingress-nginx's Service (appProtocol http/https, no annotations) across the AKS
//! 1.23 -> 1.24 upgrade.

use super::*;
use crate::lb::azure::annotations::PROBE_PROTOCOL;
use crate::lb::azure::annotations::PROBE_REQUEST_PATH;
use crate::model::{LbKind, ObjectRef, TargetKind, WireDetails};

#[test]
fn s1_on_every_version_row_gets_the_probes_that_version_builds() {
    let tcp_both = [Some(tcp(32271)), Some(tcp(30569))];
    let root = [Some(http(32271, "/")), Some(https(30569, "/"))];
    let cases = [
        ("1.22", tcp_both.clone()),
        ("v1.23.0", tcp_both.clone()),
        ("v1.23.3", tcp_both.clone()),
        ("v1.23.4", root.clone()),
        ("v1.23.5", root.clone()),
        ("v1.23.10", root.clone()),
        ("v1.23.11", tcp_both.clone()),
        ("1.23", tcp_both.clone()),
        ("v1.24.0", root.clone()),
        ("1.24", root.clone()),
        ("1.28", root.clone()),
        ("1.33", root.clone()),
    ];
    for (v, [p80, p443]) in cases {
        let r = s1().at(v);
        accepted(&r);
        assert_eq!(
            rule_ports(&r),
            [(80, RuleProtocol::Tcp), (443, RuleProtocol::Tcp)],
            "{v}"
        );
        assert_eq!(probe_of(&r, 80), p80, "{v}: port 80");
        assert_eq!(probe_of(&r, 443), p443, "{v}: port 443");
    }
}

#[test]
fn s1_on_1_23_latest_probes_tcp_on_both_node_ports_and_warns_about_the_1_24_upgrade() {
    let r = s1().at("1.23");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(tcp(32271)));
    assert_eq!(probe_of(&r, 443), Some(tcp(30569)));
    warns(
        &r,
        &["port 80 (http)", "1.24", "Http GET /", PROBE_REQUEST_PATH],
    );
    warns(
        &r,
        &[
            "port 443 (https)",
            "1.24",
            "Https GET /",
            PROBE_REQUEST_PATH,
        ],
    );
}

#[test]
fn s1_on_1_24_probes_http_and_https_get_root_and_warns_that_every_node_goes_down() {
    let r = s1().at("1.24");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(32271, "/")));
    assert_eq!(probe_of(&r, 443), Some(https(30569, "/")));
    warns(
        &r,
        &[
            "port 80 (http)",
            "Http GET / on port 32271",
            "200",
            "every node is marked down",
            PROBE_REQUEST_PATH,
        ],
    );
    warns(
        &r,
        &[
            "port 443 (https)",
            "Https GET / on port 30569",
            PROBE_REQUEST_PATH,
        ],
    );
}

#[test]
fn s1_with_the_request_path_annotation_on_1_24_probes_healthz_and_does_not_warn() {
    let r = s1().ann(PROBE_REQUEST_PATH, "/healthz").at("1.24");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(32271, "/healthz")));
    assert_eq!(probe_of(&r, 443), Some(https(30569, "/healthz")));
    assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
}

#[test]
fn s1_with_the_request_path_annotation_on_1_23_latest_already_probes_http() {
    let r = s1().ann(PROBE_REQUEST_PATH, "/healthz").at("1.23");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(32271, "/healthz")));
    assert_eq!(probe_of(&r, 443), Some(https(30569, "/healthz")));
    no_warning(&r, &["1.24"]);
}

#[test]
fn s1_on_v1_23_5_has_the_1_24_behaviour_backported() {
    let r = s1().at("v1.23.5");
    assert_eq!(probe_of(&r, 80), Some(http(32271, "/")));
    warns(&r, &["port 80 (http)", "GET / on port 32271"]);
}

#[test]
fn s1_on_v1_23_3_ignores_app_protocol_and_warns_what_v1_23_4_will_do() {
    let r = s1().at("v1.23.3");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(tcp(32271)));
    warns(
        &r,
        &[
            "port 80 (http)",
            "ignores appProtocol",
            "v1.23.4",
            PROBE_REQUEST_PATH,
        ],
    );
    warns(
        &r,
        &["port 443 (https)", "ignores appProtocol", "Https GET /"],
    );
    // On a Basic LB https would fall back to Tcp after the upgrade too: nothing to warn about.
    let r = s1().derive(&basic_at("v1.23.3"));
    no_warning(&r, &["port 443 (https)", "ignores appProtocol"]);
    warns(&r, &["port 80 (http)", "ignores appProtocol", "Http GET /"]);
}

#[test]
fn s1_on_v1_23_3_with_the_global_protocol_annotation_http_probes_http_healthz() {
    let r = s1().ann(PROBE_PROTOCOL, "http").at("v1.23.3");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(http(32271, "/healthz")));
    assert_eq!(probe_of(&r, 443), Some(http(30569, "/healthz")));
}

#[test]
fn s1_probe_spec_carries_the_azure_wire_details_and_the_service_reference() {
    let r = s1().at("1.24");
    assert_eq!(
        r.object,
        ObjectRef::new("Service", "ingress-basic", "ingress-nginx-controller")
    );
    assert_eq!(r.load_balancer, LbKind::AzureLb);
    let rule = rule_of(&r, 80);
    assert_eq!(rule.service, r.object);
    let p = rule.probe.clone().expect("port 80 has a probe");
    assert_eq!(p.lb, LbKind::AzureLb);
    assert_eq!(p.target, TargetKind::Node);
    assert_eq!(p.wire, WireDetails::for_lb(LbKind::AzureLb));
    assert_eq!(p.matcher, None);
    assert_eq!(p.deregistration_delay_s, None);
    assert_eq!((p.interval_s, p.timeout_s), (5, 5));
    assert_eq!((p.healthy_threshold, p.unhealthy_threshold), (2, 2));
}
