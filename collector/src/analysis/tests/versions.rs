//! S1: the what-if version's probes take every node out while the current ones pass.

use probesim_agent::event::Hop;
use probesim_agent::lb::health::LbState::{Down, Up};
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::{only_service, report};
use crate::report::{FindingKind, Rotation, Severity};

const SVC: &str = "ingress-basic/ingress-nginx-controller";

fn s1(failing_kind: &str) -> crate::model::History {
    let mut backends = Vec::new();
    for node in ["node-1", "node-2", "node-3"] {
        let tcp = spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 32271);
        let http = spec(LbKind::AzureLb, ProbeProtocol::Http, Some("/"), 32271);
        let mut current = B::new(SVC, node, Hop::Lb, tcp, 2).seconds(0, 60, 2, 0, "");
        for p in 0..2 {
            current = current.change(p, Down, Up, None, 0.5 + f64::from(p));
        }
        backends.push(current.build());
        // Azure starts down and an HTTP 404 never brings it up: no change at all.
        let what_if = B::new(SVC, node, Hop::Lb, http, 2)
            .version("1.24", true)
            .seconds(3, 60, 0, 2, failing_kind);
        backends.push(what_if.build());
    }
    history(backends, Vec::new())
}

#[test]
fn s1_what_if_version_taking_every_node_out_is_an_error_with_the_request_path_fix() {
    let r = report(&s1("http_status:404"));
    let s = only_service(&r);
    let f = &s.findings[0];
    assert_eq!(
        (f.severity, f.kind),
        (Severity::Error, FindingKind::WhatIfFailure)
    );
    assert_eq!(
        f.message,
        "on 1.24 the Azure LB would take all 3 nodes out (HTTP 404 on GET /, since 12:00:03); \
         current 1.23 probes healthy"
    );
    assert_eq!(
        f.advice.as_deref(),
        Some(
            "fix: set service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path: \
             /healthz"
        )
    );
    assert_eq!(s.findings.len(), 1, "{:#?}", s.findings);
    let v: Vec<(&str, bool, usize, usize)> = s
        .versions
        .iter()
        .map(|v| {
            (
                v.version.as_str(),
                v.what_if,
                v.in_rotation,
                v.out_of_rotation,
            )
        })
        .collect();
    assert_eq!(v, [("1.23", false, 3, 0), ("1.24", true, 0, 3)]);
    assert_eq!(s.versions[1].out_since, Some(at(3.0)));
}

#[test]
fn s1_without_a_status_in_the_rollups_says_the_status_is_rejected() {
    let r = report(&s1("http_status"));
    let f = &only_service(&r).findings[0];
    assert!(
        f.message
            .contains("(an HTTP status the LB rejects on GET /, since 12:00:03)"),
        "{}",
        f.message
    );
    assert!(f.advice.is_some());
}

#[test]
fn current_version_taking_one_of_two_nodes_out_is_a_warning_with_the_reason_of_its_change() {
    let http = spec(LbKind::AzureLb, ProbeProtocol::Http, Some("/ready"), 31000);
    let good = B::new("default/web", "node-1", Hop::Lb, http.clone(), 1)
        .seconds(0, 30, 1, 0, "")
        .change(0, Down, Up, None, 0.2);
    let bad = B::new("default/web", "node-2", Hop::Lb, http, 1)
        .seconds(0, 10, 1, 0, "")
        .seconds(10, 30, 0, 1, "http_status")
        .change(0, Down, Up, None, 0.2)
        .change(
            0,
            Up,
            Down,
            Some(probesim_agent::lb::verdict::Reason::HttpStatus(500)),
            10.3,
        );
    let r = report(&history(vec![good.build(), bad.build()], Vec::new()));
    let s = only_service(&r);
    assert_eq!(s.findings.len(), 1, "{:#?}", s.findings);
    let f = &s.findings[0];
    assert_eq!(
        (f.severity, f.kind),
        (Severity::Warning, FindingKind::BackendsOut)
    );
    assert_eq!(
        f.message,
        "the Azure LB takes 1 of 2 nodes out (HTTP 500 on GET /ready, since 12:00:10)"
    );
    assert_eq!(s.backends[1].rotation, Rotation::Out);
    // The one prober's change is the first failure: detection 0.
    assert_eq!(s.latencies.detection.unwrap().max, secs(0.0));
}

#[test]
fn s1_text_report_names_the_cause_and_the_fix() {
    let text = crate::report::render(&report(&s1("http_status:404")), crate::report::Format::Text);
    assert_eq!(
        text,
        "probesim report 2026-11-22T12:00:00.000Z – 2026-11-22T12:10:00.000Z\n\
         Service ingress-basic/ingress-nginx-controller\n  \
         error: on 1.24 the Azure LB would take all 3 nodes out (HTTP 404 on GET /, since \
         12:00:03); current 1.23 probes healthy — fix: set \
         service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path: /healthz\n"
    );
}
