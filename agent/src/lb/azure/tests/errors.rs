//! Errors: cloud-provider-azure does not update the LB at all, so the whole Service is rejected.

use super::*;
use crate::lb::azure::annotations::{INTERNAL, PROBE_INTERVAL, PROBE_PROTOCOL};

/// A valid port 80 and a port 443 that the case breaks.
fn web() -> Svc {
    Svc::lb().port("http", 80, 30080).port("https", 443, 30443)
}

#[test]
fn every_validation_error_rejects_the_whole_service_and_names_what_is_wrong() {
    let probe_port = port_probe_key(443, ProbeParam::Port);
    let cases: Vec<(&str, Svc, AzureSettings, Vec<&str>)> = vec![
        (
            "probe port neither a port name nor a number",
            web().port_ann(443, ProbeParam::Port, "foo"),
            at("1.33"),
            vec![&probe_port, "foo", "not found in service"],
        ),
        (
            "probe port with a space is not a number for Go's Atoi",
            web().port_ann(443, ProbeParam::Port, " 443"),
            at("1.33"),
            vec![&probe_port, "not found in service"],
        ),
        (
            "probe port above 65535",
            web().port_ann(443, ProbeParam::Port, "65536"),
            at("1.33"),
            vec![&probe_port, "65536", "out of range"],
        ),
        (
            "negative probe port",
            web().port_ann(443, ProbeParam::Port, "-1"),
            at("1.33"),
            vec![&probe_port, "-1", "out of range"],
        ),
        (
            "interval below 5 on one port",
            web().port_ann(443, ProbeParam::Interval, "3"),
            at("1.33"),
            vec!["port_443_health-probe_interval", "\"3\"", "port 443"],
        ),
        (
            "global interval below 5",
            web().ann(PROBE_INTERVAL, "3"),
            at("1.33"),
            vec![PROBE_INTERVAL, "\"3\""],
        ),
        (
            "a port protocol Kubernetes does not have",
            web().protocol("HTTP"),
            at("1.33"),
            vec!["port 443 (https)", "\"HTTP\"", "only TCP, UDP and SCTP"],
        ),
        (
            "lowercase port protocol",
            web().protocol("tcp"),
            at("1.33"),
            vec!["port 443 (https)", "\"tcp\"", "only TCP, UDP and SCTP"],
        ),
        (
            "SCTP on a public LB",
            web().protocol("SCTP"),
            at("1.33"),
            vec!["SCTP is only supported", "port 443 (https)", INTERNAL],
        ),
        (
            "SCTP on an internal Basic LB",
            web().protocol("SCTP").ann(INTERNAL, "true"),
            basic_at("1.33"),
            vec!["SCTP is only supported on standard loadbalancer in internal mode"],
        ),
        (
            "v1.23.3 passes an unknown protocol to Azure unchanged",
            web().ann(PROBE_PROTOCOL, "grpc"),
            at("v1.23.3"),
            vec![PROBE_PROTOCOL, "\"grpc\"", "update fails"],
        ),
        (
            "v1.23.3 does not trim the protocol annotation",
            web().ann(PROBE_PROTOCOL, " http"),
            at("v1.23.3"),
            vec![PROBE_PROTOCOL, "\" http\""],
        ),
        (
            "v1.23.3 asks a Basic LB for an Https probe",
            web().ann(PROBE_PROTOCOL, "https"),
            basic_at("v1.23.3"),
            vec![PROBE_PROTOCOL, "Basic SKU"],
        ),
    ];
    for (name, svc, settings, fragments) in cases {
        let r = svc.derive(&settings);
        assert!(r.rules.is_empty(), "{name}: {r:#?}");
        assert_eq!(r.errors.len(), 1, "{name}: {:#?}", r.errors);
        for f in fragments {
            assert!(
                r.errors[0].contains(f),
                "{name}: {:?} should mention {f:?}",
                r.errors[0]
            );
        }
    }
}

#[test]
fn a_port_with_no_lb_rule_is_not_validated() {
    let r = web()
        .protocol("SCTP")
        .port_ann(443, ProbeParam::Interval, "3")
        .port_flag(443, PortFlag::NoLbRule, "true")
        .at("1.33");
    accepted(&r);
    assert_eq!(rule_ports(&r), [(80, RuleProtocol::Tcp)]);
}

#[test]
fn a_port_with_no_probe_rule_has_its_probe_settings_ignored_but_its_protocol_checked() {
    let svc = web().port_ann(443, ProbeParam::Interval, "3").port_flag(
        443,
        PortFlag::NoProbeRule,
        "true",
    );
    accepted(&svc.at("1.33"));
    rejected(&svc.protocol("SCTP").at("1.33"), &["SCTP"]);
}

#[test]
fn internal_standard_lbs_accept_sctp() {
    let r = web().protocol("SCTP").ann(INTERNAL, "TRUE").at("1.33");
    accepted(&r);
    assert_eq!(
        rule_ports(&r),
        [(80, RuleProtocol::Tcp), (443, RuleProtocol::Sctp)]
    );
}

#[test]
fn warnings_gathered_before_the_error_are_kept_with_it() {
    let r = Svc::lb()
        .port("http", 80, 30080)
        .app("http")
        .port("https", 443, 30443)
        .port_ann(443, ProbeParam::Port, "foo")
        .at("1.33");
    rejected(&r, &["foo"]);
    warns(&r, &["port 80 (http)", "GET /"]);
}
