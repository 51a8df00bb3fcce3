//! One rule probed from several sources (spec/scenarios.md S2: the node's address and the LB's;
//! the real LB's observed probes beside the emulation): each source read on its own, no pod
//! counted twice, observed results said apart.

use probesim_agent::event::Hop;
use probesim_agent::event::SourceMode::{self, LbSource, Node, Observed};
use probesim_agent::lb::health::LbState::{Down, Draining, Healthy, Up};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{LbKind, ProbeProtocol};

use super::super::testing::*;
use super::drain::{alb, lifecycle};
use super::{only_service, report};
use crate::report::{FindingKind, Severity};

const SVC: &str = "default/web";

/// Three nodes probed from the node's address (passing) and from the LB's (timing out: a
/// NetworkPolicy drops 168.63.129.16).
fn s2() -> crate::model::History {
    let mut backends = Vec::new();
    for node in ["node-1", "node-2", "node-3"] {
        let tcp = spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 32271);
        let passing = B::new(SVC, node, Hop::Lb, tcp.clone(), 2)
            .source(Node)
            .seconds(0, 60, 2, 0, "")
            .change(0, Down, Up, None, 0.5)
            .change(1, Down, Up, None, 1.5);
        backends.push(passing.build());
        let dropped = B::new(SVC, node, Hop::Lb, tcp, 2)
            .source(LbSource)
            .seconds(4, 60, 0, 2, "timeout");
        backends.push(dropped.build());
    }
    history(backends, Vec::new())
}

#[test]
fn s2_lb_source_failing_where_the_node_passes_is_two_version_rows_and_says_the_path_drops_the_lb() {
    let r = report(&s2());
    let s = only_service(&r);
    let rows: Vec<(&str, SourceMode, usize, usize)> = s
        .versions
        .iter()
        .map(|v| {
            (
                v.version.as_str(),
                v.source,
                v.in_rotation,
                v.out_of_rotation,
            )
        })
        .collect();
    assert_eq!(rows, [("1.23", Node, 3, 0), ("1.23", LbSource, 0, 3)]);
    assert_eq!(s.findings.len(), 1, "{:#?}", s.findings);
    let f = &s.findings[0];
    assert_eq!(
        (f.severity, f.kind),
        (Severity::Error, FindingKind::BackendsOut)
    );
    assert_eq!(
        f.message,
        "the Azure LB (emulated from the LB's address) takes all 3 nodes out (timeout on TCP \
         :32271, since 12:00:04)"
    );
    assert!(
        f.advice
            .as_deref()
            .is_some_and(|a| a.contains("drops the LB's source address")),
        "{f:?}"
    );
    assert_eq!(s.source, Some(LbSource));
}

/// The pod's ALB backend probed from `source`, deregistered at 101 by every prober.
fn drained(source: SourceMode) -> crate::model::BackendHistory {
    let mut b = alb(115).source(source);
    for i in 0..10 {
        b = b.change(
            i,
            Healthy,
            Draining,
            Some(Reason::TargetDeregistrationInProgress),
            101.0,
        );
    }
    b.build()
}

#[test]
fn s4_a_pod_probed_from_two_sources_and_observed_is_pooled_once_with_the_real_lb_said_apart() {
    let h = history(
        vec![drained(Node), drained(LbSource), drained(Observed)],
        lifecycle("30", "sleep 15"),
    );
    let r = report(&h);
    let s = only_service(&r);
    let pods: Vec<(&str, SourceMode)> = s.pods.iter().map(|p| (p.pod.as_str(), p.source)).collect();
    assert_eq!(
        pods,
        [
            ("default/web-7d9", Node),
            ("default/web-7d9", LbSource),
            ("default/web-7d9", Observed)
        ]
    );
    // Ten probers of one pod: ten samples, not thirty.
    assert_eq!(s.source, Some(LbSource));
    assert_eq!(s.latencies.drain_exposure.map(|l| l.count), Some(10));
    assert_eq!(s.latencies.registration.map(|l| l.count), Some(10));
    let by_source: Vec<(SourceMode, Option<usize>)> = s
        .latencies_by_source
        .iter()
        .map(|l| (l.source, l.latencies.drain_exposure.map(|d| d.count)))
        .collect();
    assert_eq!(
        by_source,
        [(Node, Some(10)), (LbSource, Some(10)), (Observed, Some(10))]
    );
    let drains: Vec<&str> = s
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::DrainExposure)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        drains,
        [
            "pod default/web-7d9 stopped accepting 15.0 s after Terminating; the ALB (emulated \
             from the LB's address) may send new requests until 31.0 s (max over probers): 16.0 \
             s exposed",
            "pod default/web-7d9 stopped accepting 15.0 s after Terminating; the real ALB \
             (observed: its real probes) may send new requests until 31.0 s (max over probers): \
             16.0 s exposed",
        ]
    );
}

#[test]
fn primary_source_is_the_emulation_closest_to_the_lb_and_observed_only_alone() {
    use crate::analysis::primary_source;
    let table: [(&[SourceMode], Option<SourceMode>); 5] = [
        (&[], None),
        (&[Observed], Some(Observed)),
        (&[Node, Observed], Some(Node)),
        (&[Observed, Node, LbSource], Some(LbSource)),
        (&[SourceMode::Syn, Observed], Some(SourceMode::Syn)),
    ];
    for (sources, expected) in table {
        assert_eq!(
            primary_source(sources.iter().copied()),
            expected,
            "{sources:?}"
        );
    }
}

#[test]
fn s2_each_source_walks_its_own_path_and_the_lb_address_path_names_its_first_failing_hop() {
    let tcp = || spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 80);
    let hop = |hop: Hop, source: SourceMode, ok: bool| {
        let b = B::new(SVC, "node-1", hop, tcp(), 1).source(source);
        if ok {
            b.seconds(0, 30, 1, 0, "")
                .change(0, Down, Up, None, 0.5)
                .build()
        } else {
            b.seconds(0, 30, 0, 1, "timeout").build()
        }
    };
    let h = history(
        vec![
            hop(Hop::Pod, Node, true),
            hop(Hop::ClusterIp, Node, true),
            hop(Hop::NodePort, Node, true),
            hop(Hop::Lb, Node, true),
            hop(Hop::NodePort, LbSource, false),
            hop(Hop::Lb, LbSource, false),
        ],
        Vec::new(),
    );
    let r = report(&h);
    let s = only_service(&r);
    let hops: Vec<(SourceMode, &str, usize)> = s
        .hops
        .iter()
        .map(|h| (h.source, h.hop.as_str(), h.failing))
        .collect();
    assert_eq!(
        hops,
        [
            (Node, "pod", 0),
            (Node, "cluster-ip", 0),
            (Node, "node-port", 0),
            (Node, "lb", 0),
            (LbSource, "node-port", 1),
            (LbSource, "lb", 1),
        ]
    );
    assert_eq!(s.first_failing_hop.as_deref(), Some("node-port"));
    let f = s
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::FirstFailingHop)
        .unwrap();
    assert_eq!(
        f.message,
        "emulated from the LB's address: the first failing hop is Service → NodePort (1 of 1 \
         failing: timeout)"
    );
}

/// Azure, HTTP /healthz on the health-check node port, three probers on node-1; the node's pod
/// leaves at 50 and each prober takes it down within 3 s.
fn s6_node(source: SourceMode) -> crate::model::BackendHistory {
    let hc = spec(
        LbKind::AzureLb,
        ProbeProtocol::Http,
        Some("/healthz"),
        30_000,
    );
    let mut b = B::new(SVC, "node-1", Hop::Lb, hc, 3)
        .source(source)
        .seconds(0, 50, 1, 0, "")
        .seconds(50, 60, 0, 1, "http_status:503");
    for p in 0..3 {
        b = b.change(p, Down, Up, None, 0.1 + f64::from(p));
    }
    b.change(0, Up, Down, Some(Reason::HttpStatus(503)), 50.4)
        .change(1, Up, Down, Some(Reason::HttpStatus(503)), 51.5)
        .change(2, Up, Down, Some(Reason::HttpStatus(503)), 53.2)
        .build()
}

#[test]
fn s6_node_windows_come_from_the_emulation_and_the_real_lb_named_apart() {
    let h = history(
        vec![s6_node(Node), s6_node(LbSource), s6_node(Observed)],
        Vec::new(),
    );
    let r = report(&h);
    let s = only_service(&r);
    let windows: Vec<SourceMode> = s.node_windows.iter().map(|w| w.source).collect();
    assert_eq!(windows, [Node, LbSource, Observed]);
    let found: Vec<&str> = s
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::NodeWindow)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        found,
        [
            "node node-1 stayed in the rotation of the Azure LB (emulated from the LB's address) \
             for 2.8 s (max over probers) after the LB probe fails (HTTP 503) at 12:00:50",
            "node node-1 stayed in the rotation of the real Azure LB (observed: its real probes) \
             for 2.8 s (max over probers) after the LB probe fails (HTTP 503) at 12:00:50",
        ]
    );
}

#[test]
fn s6_a_node_port_failing_from_another_source_opens_no_window_on_the_lb_address_reading() {
    let tcp = spec(LbKind::AzureLb, ProbeProtocol::Tcp, None, 31_000);
    let lb = B::new(SVC, "node-1", Hop::Lb, tcp.clone(), 1)
        .source(LbSource)
        .seconds(0, 60, 1, 0, "")
        .change(0, Down, Up, None, 0.5);
    let node_port = |source, ok: bool| {
        let b = B::new(SVC, "node-1", Hop::NodePort, tcp.clone(), 1)
            .source(source)
            .seconds(0, 30, 1, 0, "");
        if ok {
            b.seconds(30, 60, 1, 0, "").build()
        } else {
            b.seconds(30, 60, 0, 1, "timeout").build()
        }
    };
    let with = |sources: Vec<crate::model::BackendHistory>| {
        let mut backends = vec![lb.clone().build()];
        backends.extend(sources);
        report(&history(backends, Vec::new()))
    };
    let own_passes = with(vec![node_port(Node, false), node_port(LbSource, true)]);
    assert!(
        only_service(&own_passes).node_windows.is_empty(),
        "{:#?}",
        only_service(&own_passes).node_windows
    );
    // Without a NodePort check of its own source, the node's counts.
    let only_node = with(vec![node_port(Node, false)]);
    let w = &only_service(&only_node).node_windows;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].from, at(30.0));
}
