//! Internal Standard LB with high-availability ports: one rule for every port.

use super::*;
use crate::lb::azure::annotations::{HA_PORTS, INTERNAL, PROBE_PROTOCOL};

fn web() -> Svc {
    Svc::lb().port("http", 80, 30080).port("https", 443, 30443)
}

#[test]
fn ha_ports_need_internal_true_ha_true_and_the_standard_sku() {
    let cases = [
        (web().internal_ha(), at("1.33"), true),
        (
            web().ann(INTERNAL, "True").ann(HA_PORTS, "TRUE"),
            at("1.33"),
            true,
        ),
        (web().internal_ha(), basic_at("1.33"), false),
        (web().ann(INTERNAL, "true"), at("1.33"), false),
        (web().ann(HA_PORTS, "true"), at("1.33"), false),
        (
            web().ann(INTERNAL, "true").ann(HA_PORTS, "yes"),
            at("1.33"),
            false,
        ),
    ];
    for (i, (svc, settings, ha)) in cases.into_iter().enumerate() {
        let r = svc.derive(&settings);
        accepted(&r);
        if ha {
            assert_eq!(rule_ports(&r), [(0, RuleProtocol::Tcp)], "case {i}");
            assert_eq!(probe_of(&r, 0), Some(tcp(30080)), "case {i}");
        } else {
            assert_eq!(
                rule_ports(&r),
                [(80, RuleProtocol::Tcp), (443, RuleProtocol::Tcp)],
                "case {i}"
            );
        }
    }
}

#[test]
fn ha_rule_uses_the_local_probe_when_there_is_one() {
    let r = web().internal_ha().local(Some(31000)).at("1.33");
    assert_eq!(rule_ports(&r), [(0, RuleProtocol::Tcp)]);
    assert_eq!(probe_of(&r, 0), Some(http(31000, "/healthz")));
}

#[test]
fn ha_rule_takes_the_first_port_whose_own_probe_exists_skipping_udp() {
    let r = Svc::lb()
        .port("dns", 53, 30053)
        .protocol("UDP")
        .port("https", 443, 30443)
        .app("https")
        .internal_ha()
        .at("1.33");
    accepted(&r);
    assert_eq!(probe_of(&r, 0), Some(https(30443, "/")));
}

#[test]
fn ha_rule_skips_ports_with_invalid_probe_settings_instead_of_rejecting_the_service() {
    let r = web()
        .port_ann(80, ProbeParam::Interval, "3")
        .internal_ha()
        .at("1.33");
    accepted(&r);
    assert_eq!(probe_of(&r, 0), Some(tcp(30443)));
    warns(
        &r,
        &[
            "port 80 (http)",
            "high-availability",
            "port_80_health-probe_interval",
        ],
    );
}

#[test]
fn ha_rule_has_no_probe_when_no_port_gives_one() {
    let r = Svc::lb()
        .port("dns", 53, 30053)
        .protocol("UDP")
        .internal_ha()
        .at("1.33");
    accepted(&r);
    assert_eq!(rule_ports(&r), [(0, RuleProtocol::Tcp)]);
    assert_eq!(probe_of(&r, 0), None);
}

#[test]
fn ha_rule_follows_the_protocol_annotations_of_its_probe_port() {
    let r = web().ann(PROBE_PROTOCOL, "http").internal_ha().at("1.33");
    assert_eq!(probe_of(&r, 0), Some(http(30080, "/")));
}
