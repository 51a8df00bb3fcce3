//! intervalAndThreshold(): annotations, limits, the timeout that follows, and version gating.

use super::*;
use crate::lb::azure::annotations::{PROBE_INTERVAL, PROBE_NUM_OF_PROBE, PROBE_PROTOCOL};

fn web() -> Svc {
    Svc::lb().port("http", 80, 30080)
}

/// (global interval, global num-of-probe, port 80 interval, port 80 num-of-probe)
type Annots = (
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

fn with(a: Annots) -> Svc {
    let mut svc = web();
    if let Some(v) = a.0 {
        svc = svc.ann(PROBE_INTERVAL, v);
    }
    if let Some(v) = a.1 {
        svc = svc.ann(PROBE_NUM_OF_PROBE, v);
    }
    if let Some(v) = a.2 {
        svc = svc.port_ann(80, ProbeParam::Interval, v);
    }
    if let Some(v) = a.3 {
        svc = svc.port_ann(80, ProbeParam::NumOfProbe, v);
    }
    svc
}

#[test]
fn interval_and_threshold_come_from_the_port_annotation_then_the_global_one_then_5_and_2() {
    let cases: [(Annots, (u32, u32)); 9] = [
        ((None, None, None, None), (5, 2)),
        ((Some("10"), None, None, None), (10, 2)),
        ((None, Some("3"), None, None), (5, 3)),
        ((Some("10"), Some("3"), Some("15"), None), (15, 3)),
        ((Some("10"), Some("3"), None, Some("4")), (10, 4)),
        ((Some(" 10 "), None, None, None), (10, 2)),
        ((Some("+7"), None, None, None), (7, 2)),
        ((Some("5"), Some("2"), None, None), (5, 2)),
        ((Some("59"), Some("2"), None, None), (59, 2)),
    ];
    for (a, (interval, threshold)) in cases {
        let r = with(a).at("1.33");
        accepted(&r);
        assert_eq!(
            probe_of(&r, 80),
            Some(timed(tcp(30080), interval, threshold)),
            "{a:?}"
        );
    }
}

#[test]
fn invalid_interval_or_threshold_rejects_the_whole_service_naming_key_and_value() {
    let port_interval = port_probe_key(80, ProbeParam::Interval);
    let port_threshold = port_probe_key(80, ProbeParam::NumOfProbe);
    let cases: [(Annots, Vec<&str>); 11] = [
        (
            (Some("3"), None, None, None),
            vec![PROBE_INTERVAL, "\"3\"", "minimum value of interval is 5"],
        ),
        (
            (Some("-5"), None, None, None),
            vec![PROBE_INTERVAL, "\"-5\"", "minimum"],
        ),
        (
            (None, Some("1"), None, None),
            vec![
                PROBE_NUM_OF_PROBE,
                "\"1\"",
                "minimum value of num-of-probe is 2",
            ],
        ),
        (
            (Some("abc"), None, None, None),
            vec![PROBE_INTERVAL, "abc", "whole number"],
        ),
        (
            (Some("10s"), None, None, None),
            vec![PROBE_INTERVAL, "10s", "whole number"],
        ),
        (
            (Some("2147483648"), None, None, None),
            vec![PROBE_INTERVAL, "2147483648", "out of range"],
        ),
        (
            (Some(""), None, None, None),
            vec![PROBE_INTERVAL, "whole number"],
        ),
        (
            (Some("10"), None, Some("3"), None),
            vec![&port_interval, "\"3\"", "port 80"],
        ),
        (
            (None, Some("3"), None, Some("x")),
            vec![&port_threshold, "x", "whole number"],
        ),
        (
            (Some("60"), None, None, None),
            vec![
                "less than 120",
                "interval 60",
                PROBE_INTERVAL,
                "num-of-probe 2 (default)",
            ],
        ),
        (
            (Some("20"), Some("6"), None, None),
            vec!["less than 120", "= 120 s", PROBE_NUM_OF_PROBE],
        ),
    ];
    for (a, fragments) in cases {
        rejected(&with(a).at("1.33"), &fragments);
    }
}

#[test]
fn a_threshold_error_is_reported_before_an_interval_error_as_cloud_provider_azure_reads_it_first() {
    let r = with((Some("3"), Some("1"), None, None)).at("1.33");
    rejected(&r, &[PROBE_NUM_OF_PROBE]);
}

#[test]
fn interval_times_threshold_close_to_120_seconds_warns_with_the_limit() {
    for (interval, threshold, warned) in [
        ("20", "5", true),
        ("59", "2", true),
        ("19", "5", false),
        ("5", "2", false),
    ] {
        let r = with((Some(interval), Some(threshold), None, None)).at("1.33");
        accepted(&r);
        let w = warnings_with(&r, &["port 80 (http)", "120 s"]);
        assert_eq!(
            !w.is_empty(),
            warned,
            "{interval} x {threshold}: {:#?}",
            r.warnings
        );
    }
}

#[test]
fn an_overflowing_product_passes_the_32_bit_check_like_cloud_provider_azure_and_warns() {
    let r = with((Some("1073741824"), Some("4"), None, None)).at("1.33");
    accepted(&r);
    assert_eq!(probe_of(&r, 80).map(|p| p.interval_s), Some(1_073_741_824));
    warns(&r, &["overflows", "reject"]);
}

#[test]
fn timing_annotations_are_not_read_before_v1_23_4_so_invalid_values_pass_there() {
    let svc = with((Some("3"), Some("1"), Some("x"), None));
    let r = svc.at("v1.23.3");
    accepted(&r);
    assert_eq!(probe_of(&r, 80), Some(tcp(30080)));
    warns(&r, &[PROBE_INTERVAL, "not read", "v1.23.4"]);
    warns(&r, &[&port_probe_key(80, ProbeParam::Interval), "not read"]);
    rejected(&svc.at("v1.23.4"), &[]);
}

#[test]
fn the_timeout_is_the_interval_for_tcp_and_at_most_30_seconds_for_http() {
    let r = with((Some("40"), None, None, None)).at("1.33");
    let p = probe_of(&r, 80).expect("probe");
    assert_eq!((p.interval_s, p.timeout_s), (40, 40));
    let r = with((Some("40"), None, None, None))
        .ann(PROBE_PROTOCOL, "http")
        .at("1.33");
    let p = probe_of(&r, 80).expect("probe");
    assert_eq!(
        (p.protocol, p.interval_s, p.timeout_s),
        (ProbeProtocol::Http, 40, 30)
    );
    let p = probe_of(
        &with((Some("20"), None, None, None))
            .ann(PROBE_PROTOCOL, "http")
            .at("1.33"),
        80,
    );
    assert_eq!(p.map(|p| p.timeout_s), Some(20));
}
