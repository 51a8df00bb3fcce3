//! S6: nodes registered instead of pods stay in rotation while they cannot serve.

use probesim_agent::event::{Hop, LifecycleKind};
use probesim_agent::lb::health::LbState::{Down, InService, OutOfService, Up};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::{only_service, report};
use crate::report::{FindingKind, Stats};

fn stats(min: f64, median: f64, max: f64, count: usize) -> Stats {
    Stats {
        count,
        min: secs(min),
        median: secs(median),
        max: secs(max),
    }
}

#[test]
fn s6_local_policy_pod_moved_away_leaves_the_node_in_rotation_until_each_prober_marks_it_down() {
    // Azure, HTTP /healthz on the health-check node port, interval 5, three probers. The pod
    // leaves node-1 at 50: kube-proxy answers 503, and an HTTP answer takes an Azure backend
    // down at once, so each prober's change is its first failure.
    let hc = spec(
        LbKind::AzureLb,
        ProbeProtocol::Http,
        Some("/healthz"),
        30_000,
    );
    let mut b = B::new("default/web", "node-1", Hop::Lb, hc, 3)
        .seconds(0, 50, 1, 0, "")
        .seconds(50, 60, 0, 1, "http_status:503");
    for p in 0..3 {
        b = b.change(p, Down, Up, None, 0.1 + f64::from(p));
    }
    b = b
        .change(0, Up, Down, Some(Reason::HttpStatus(503)), 50.4)
        .change(1, Up, Down, Some(Reason::HttpStatus(503)), 51.5)
        .change(2, Up, Down, Some(Reason::HttpStatus(503)), 53.2);
    let r = report(&history(vec![b.build()], Vec::new()));
    let s = only_service(&r);
    assert_eq!(s.latencies.detection, Some(stats(0.0, 1.1, 2.8, 3)));
    assert_eq!(s.node_windows.len(), 1, "{:#?}", s.node_windows);
    let w = &s.node_windows[0];
    assert_eq!(w.from, at(50.4));
    assert_eq!(w.in_rotation, stats(0.0, 1.1, 2.8, 3));
    assert!(!w.open);
    let f = s
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::NodeWindow)
        .unwrap();
    assert_eq!(
        f.message,
        "node node-1 stayed in the Azure LB's rotation for 2.8 s (max over probers) after the \
         LB probe fails (HTTP 503) at 12:00:50"
    );
}

#[test]
fn s6_node_scale_in_with_a_classic_lb_counts_from_the_node_deletion() {
    // CLB, TCP traffic port, interval 10, unhealthy threshold 6: timeouts from 200 take the
    // probers out 50 s and more later.
    let tcp = spec(LbKind::Clb, ProbeProtocol::Tcp, None, 31_000);
    let mut b = B::new("default/web", "node-2", Hop::Lb, tcp, 3)
        .seconds(0, 200, 1, 0, "")
        .seconds(200, 300, 0, 1, "timeout");
    for (p, out) in [(0u32, 250.0), (1, 253.0), (2, 256.0)] {
        b = b.change(p, OutOfService, InService, None, 1.0).change(
            p,
            InService,
            OutOfService,
            Some(Reason::ProbeTimeout),
            out,
        );
    }
    let mut deleted = event(
        LifecycleKind::NodeDeleted,
        ("Node", "", "node-2"),
        None,
        200.0,
        &[],
    );
    deleted.node = Some("node-2".to_owned());
    let r = report(&history(vec![b.build()], vec![deleted]));
    let s = only_service(&r);
    let w = &s.node_windows[0];
    assert_eq!((w.node.as_str(), w.from), ("node-2", at(200.0)));
    assert_eq!(w.cause, "the node was deleted");
    assert_eq!(w.in_rotation, stats(50.0, 53.0, 56.0, 3));
}

#[test]
fn s6_node_port_failing_while_the_lb_probe_still_passes_is_a_window_still_open_at_the_end() {
    // Cluster policy probe on a health port that keeps passing, while the traffic port (the
    // node-port hop) times out from 100 to the end of the range (600).
    let tcp = spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 31_000);
    let lb = B::new("default/web", "node-3", Hop::Lb, tcp.clone(), 2)
        .seconds(0, 600, 1, 0, "")
        .change(0, Down, Up, None, 0.5)
        .change(1, Down, Up, None, 0.7);
    let np = B::new("default/web", "node-3", Hop::NodePort, tcp, 1)
        .seconds(0, 100, 1, 0, "")
        .seconds(100, 600, 0, 1, "timeout");
    let r = report(&history(vec![lb.build(), np.build()], Vec::new()));
    let w = &only_service(&r).node_windows[0];
    assert_eq!(w.cause, "the NodePort fails (timeout)");
    assert_eq!(w.in_rotation, stats(500.0, 500.0, 500.0, 2));
    assert!(w.open);
}

#[test]
fn s3_local_policy_node_without_a_pod_is_out_by_design_not_a_path_to_fix() {
    let hc = spec(
        LbKind::AzureLb,
        ProbeProtocol::Http,
        Some("/healthz"),
        30_000,
    );
    let with_pod = B::new("default/web", "node-1", Hop::Lb, hc.clone(), 1)
        .seconds(0, 30, 1, 0, "")
        .change(0, Down, Up, None, 0.2);
    let without =
        B::new("default/web", "node-2", Hop::Lb, hc, 1).seconds(0, 30, 0, 1, "http_status:503");
    let r = report(&history(
        vec![with_pod.build(), without.build()],
        Vec::new(),
    ));
    let f = &only_service(&r).findings[0];
    assert_eq!(
        f.message,
        "the Azure LB takes 1 of 2 nodes out (HTTP 503 on GET /healthz, since 12:00:00)"
    );
    assert!(
        f.advice
            .as_deref()
            .unwrap()
            .starts_with("expected with externalTrafficPolicy Local")
    );
}
