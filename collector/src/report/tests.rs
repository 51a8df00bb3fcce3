//! The three views of one small report, as golden strings, and the JSON contract's names.

use std::time::Duration;

use probesim_agent::event::SourceMode;
use probesim_agent::model::LbKind;

use super::*;
use crate::analysis::testing::at;

fn small() -> Report {
    let exposure = Stats::of(vec![Duration::from_millis(13_100)]);
    Report {
        from: Some(at(0.0)),
        to: Some(at(600.0)),
        services: vec![ServiceReport {
            service: "default/web".to_owned(),
            objects: vec!["Ingress/default/web".to_owned()],
            findings: vec![Finding {
                severity: Severity::Warning,
                kind: FindingKind::DrainExposure,
                message: "pod default/web-7d9 stopped accepting 4.1 s after Terminating; the ALB \
                          may send new requests until 17.2 s (max over probers): 13.1 s exposed"
                    .to_owned(),
                advice: Some("raise preStop to ≥ 18 s".to_owned()),
            }],
            source: Some(SourceMode::LbSource),
            latencies: Latencies {
                registration: None,
                detection: None,
                drain_exposure: exposure,
            },
            latencies_by_source: vec![SourceLatencies {
                source: SourceMode::LbSource,
                latencies: Latencies {
                    registration: None,
                    detection: None,
                    drain_exposure: exposure,
                },
            }],
            versions: Vec::new(),
            endpoints: None,
            hops: Vec::new(),
            first_failing_hop: None,
            backends: Vec::new(),
            pods: vec![PodDrainReport {
                pod: "default/web-7d9".to_owned(),
                node: Some("node-1".to_owned()),
                lb: LbKind::Alb,
                source: SourceMode::LbSource,
                terminating_at: at(100.0),
                grace_period_s: Some(30),
                pre_stop: Some("sleep 4".to_owned()),
                stopped_accepting_after: Some(Duration::from_millis(4_100)),
                lb_stops_sending_after: Stats::of(vec![Duration::from_millis(17_200)]),
                exposure,
                covered: Some(false),
                pre_stop_short_by: Some(Duration::from_millis(13_100)),
                grace_short_by: Some(Duration::ZERO),
                needed_pre_stop_s: Some(18),
                needed_grace_period_s: Some(23),
                note: None,
            }],
            node_windows: Vec::new(),
        }],
        node_proxy: Vec::new(),
        gaps: Vec::new(),
    }
}

#[test]
fn text_view_is_the_findings_then_the_latencies() {
    assert_eq!(
        render(&small(), Format::Text),
        "probesim report 2026-11-22T12:00:00.000Z – 2026-11-22T12:10:00.000Z\n\
         Service default/web\n  \
         warning: pod default/web-7d9 stopped accepting 4.1 s after Terminating; the ALB may \
         send new requests until 17.2 s (max over probers): 13.1 s exposed — raise preStop to ≥ \
         18 s\n  \
         latencies (min / median / max over probers): drain exposure 13.1 / 13.1 / 13.1 s (n=1)\n"
    );
}

#[test]
fn markdown_view_has_the_same_sentence_and_tables() {
    let md = render(&small(), Format::Markdown);
    assert_eq!(
        md,
        "# probesim report\n\n\
         Range: 2026-11-22T12:00:00.000Z – 2026-11-22T12:10:00.000Z\n\n\
         ## Service `default/web`\n\n\
         - **warning**: pod default/web-7d9 stopped accepting 4.1 s after Terminating; the ALB \
         may send new requests until 17.2 s (max over probers): 13.1 s exposed — raise preStop \
         to ≥ 18 s\n\n\
         | latency | min / median / max over probers |\n|---|---|\n\
         | drain exposure | 13.1 / 13.1 / 13.1 s (n=1) |\n\n\
         | pod | grace | preStop | stopped accepting | LB stops sending (max) | exposed |\n\
         |---|---|---|---|---|---|\n\
         | default/web-7d9 | 30 s | sleep 4 | 4.1 s | 17.2 s | 13.1 s |\n"
    );
}

#[test]
fn json_view_keeps_the_documented_names_units_and_times() {
    let v: serde_json::Value = serde_json::from_str(&render(&small(), Format::Json)).unwrap();
    assert_eq!(v["from"], "2026-11-22T12:00:00.000Z");
    let s = &v["services"][0];
    assert_eq!(s["service"], "default/web");
    assert_eq!(s["findings"][0]["severity"], "warning");
    assert_eq!(s["findings"][0]["kind"], "drain-exposure");
    assert_eq!(s["latencies"]["drain_exposure"]["max_s"], 13.1);
    assert_eq!(s["latencies"]["registration"], serde_json::Value::Null);
    let p = &s["pods"][0];
    assert_eq!(p["lb"], "alb");
    assert_eq!(p["terminating_at"], "2026-11-22T12:01:40.000Z");
    assert_eq!(p["stopped_accepting_after_s"], 4.1);
    assert_eq!(p["pre_stop_short_by_s"], 13.1);
    assert_eq!(p["needed_pre_stop_s"], 18);
    assert_eq!(p["source"], "lb-source");
    assert_eq!(s["source"], "lb-source");
    assert_eq!(s["latencies_by_source"][0]["source"], "lb-source");
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "backends",
            "endpoints",
            "findings",
            "first_failing_hop",
            "hops",
            "latencies",
            "latencies_by_source",
            "node_windows",
            "objects",
            "pods",
            "service",
            "source",
            "versions",
        ]
    );
}

#[test]
fn empty_report_says_so_in_every_view() {
    let r = Report::default();
    assert!(render(&r, Format::Text).contains("no Service in the range"));
    assert!(render(&r, Format::Markdown).contains("No Service in the range."));
    assert_eq!(
        render(&r, Format::Json),
        "{\n  \"from\": null,\n  \"to\": null,\n  \"services\": [],\n  \"node_proxy\": [],\n  \"gaps\": []\n}\n"
    );
}

#[test]
fn formats_parse_by_name_and_bad_ones_are_named() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>(), Ok(f));
    }
    let err = "xml".parse::<Format>().unwrap_err().to_string();
    assert_eq!(err, "--format \"xml\": use text, markdown or json");
}

#[test]
fn a_node_proxy_outage_is_a_sentence_in_text_and_markdown_and_an_entry_in_json() {
    let mut report = small();
    report.node_proxy.push(super::NodeProxyOutage {
        node: "aks-nodepool1-0".to_owned(),
        from: at(100.0),
        to: Some(at(104.0)),
        error: Some("HTTP 503".to_owned()),
    });
    let text = render(&report, Format::Text);
    assert!(
        text.contains("could not reach node aks-nodepool1-0's kubelet")
            && text.contains(": HTTP 503"),
        "{text}"
    );
    let markdown = render(&report, Format::Markdown);
    assert!(
        markdown.contains("## Control plane → kubelet"),
        "{markdown}"
    );
    let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    assert_eq!(json["node_proxy"][0]["node"], "aks-nodepool1-0");
    assert_eq!(json["node_proxy"][0]["error"], "HTTP 503");
}

/// [`small`] with the pod's drain also measured on the real ALB's observed probes.
fn two_sources() -> Report {
    let mut r = small();
    let s = &mut r.services[0];
    let observed = Latencies {
        registration: None,
        detection: None,
        drain_exposure: Stats::of(vec![Duration::from_millis(2_000)]),
    };
    s.latencies_by_source.push(SourceLatencies {
        source: SourceMode::Observed,
        latencies: observed,
    });
    let mut pod = s.pods[0].clone();
    pod.source = SourceMode::Observed;
    pod.covered = Some(true);
    pod.lb_stops_sending_after = Stats::of(vec![Duration::from_millis(6_100)]);
    s.pods.push(pod);
    r
}

#[test]
fn text_and_markdown_name_the_source_of_latencies_and_pods_when_there_are_several() {
    let text = render(&two_sources(), Format::Text);
    assert!(
        text.contains(
            "  ok: pod default/web-7d9: preStop covers the drain (stopped accepting 4.1 s after \
             Terminating, the real ALB (observed: its real probes) stopped sending by 6.1 s)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  latencies emulated from the LB's address (min / median / max over probers): \
             drain exposure 13.1 / 13.1 / 13.1 s (n=1)\n  latencies observed: its real probes"
        ),
        "{text}"
    );
    let md = render(&two_sources(), Format::Markdown);
    assert!(
        md.contains(
            "| source | latency | min / median / max over probers |\n|---|---|---|\n\
             | lb-source | drain exposure | 13.1 / 13.1 / 13.1 s (n=1) |\n\
             | observed | drain exposure | 2.0 / 2.0 / 2.0 s (n=1) |\n"
        ),
        "{md}"
    );
    assert!(md.contains("| default/web-7d9 (observed) | 30 s |"), "{md}");
}
