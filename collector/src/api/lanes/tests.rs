use std::net::{IpAddr, Ipv4Addr};

use probesim_agent::event::{Lifecycle, LifecycleKind, StateChange};
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::ObjectRef;

use super::*;
use crate::store::synthetic::{self, at_ms};

const T0: u64 = 1_700_000_000_000;

fn history_backend(changes: Vec<StateChange>, rollups: Vec<Rollup>) -> BackendHistory {
    let b = synthetic::backend(1, "web", "node-1", 5);
    BackendHistory {
        agent: synthetic::agent_id("node-1"),
        key: b.key.clone(),
        spec: b.spec.clone(),
        probers: 2,
        also_for: Vec::new(),
        first_seen: at_ms(T0),
        removed_at: None,
        changes,
        rollups,
    }
}

fn change(prober: u32, to: LbState, reason: Option<Reason>, at: u64) -> StateChange {
    synthetic::transition(1, prober, LbState::Initial, to, reason, at_ms(T0 + at))
}

fn t(ms: i64) -> i64 {
    i64::try_from(T0).unwrap() + ms
}

#[test]
fn ui_lanes_bands_show_the_spread_between_the_first_and_the_last_prober_changing() {
    let b = history_backend(
        vec![
            change(0, LbState::Healthy, None, 1_000),
            change(1, LbState::Healthy, None, 3_000),
            change(
                1,
                LbState::Unhealthy,
                Some(Reason::TargetResponseCodeMismatch(503)),
                8_000,
            ),
        ],
        Vec::new(),
    );
    let bands = bands(&b, t(0), t(10_000));
    let summary: Vec<(i64, i64, &str, bool)> = bands
        .iter()
        .map(|b| (b.from_ms - t(0), b.to_ms - t(0), b.state, b.unanimous))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 1_000, "unknown", true),
            (1_000, 3_000, "healthy", false),
            (3_000, 8_000, "healthy", true),
            (8_000, 10_000, "healthy", false),
        ]
    );
    assert_eq!(bands[1].states, vec![("healthy", 1), ("unknown", 1)]);
    assert_eq!(bands[3].states, vec![("healthy", 1), ("unhealthy", 1)]);
    assert_eq!(bands[3].reasons.len(), 1);
    assert!(
        bands[3].reasons[0].0.contains("503"),
        "{:?}",
        bands[3].reasons
    );
}

#[test]
fn ui_lanes_bands_start_with_changes_before_the_range_and_end_at_removal() {
    let mut b = history_backend(
        vec![
            change(0, LbState::Healthy, None, 0),
            change(1, LbState::Healthy, None, 10),
            change(0, LbState::Draining, None, 6_000),
            change(1, LbState::Draining, None, 6_000),
        ],
        Vec::new(),
    );
    b.removed_at = Some(at_ms(T0 + 7_000));
    let bands = bands(&b, t(5_000), t(20_000));
    let summary: Vec<(i64, i64, &str)> = bands
        .iter()
        .map(|b| (b.from_ms - t(0), b.to_ms - t(0), b.state))
        .collect();
    assert_eq!(
        summary,
        vec![(5_000, 6_000, "healthy"), (6_000, 7_000, "draining")]
    );
}

#[test]
fn ui_lanes_bucket_sizes_are_whole_seconds_and_keep_a_range_within_the_bucket_count() {
    let table = [
        (0, 1, 1_000),
        (0, 60_000, 1_000),
        (0, 600_000, 1_000),
        (0, 600_001, 2_000),
        (0, 3_600_000, 6_000),
        (0, 7 * 24 * 3_600_000, 1_008_000),
    ];
    for (from, to, expected) in table {
        let size = bucket_ms(from, to);
        assert_eq!(size, expected, "{from}..{to}");
        assert!((to - from) / size <= LANE_BUCKETS, "{from}..{to}");
    }
}

#[test]
fn ui_lanes_density_sums_rollups_per_bucket_with_outcomes_and_latency_bounds() {
    let rollup = |second: u64, successes, failures, latency: Vec<u64>| Rollup {
        second,
        successes,
        failures,
        not_counted: 0,
        outcomes: vec![("http_status".to_owned(), successes + failures)],
        latency,
    };
    let s0 = T0 / 1000;
    let rollups = vec![
        rollup(s0, 3, 1, vec![0, 4]),
        rollup(s0 + 1, 1, 0, vec![0, 0, 1]),
        rollup(
            s0 + 5,
            0,
            2,
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        ),
    ];
    let d = density(&rollups, t(0), 2_000);
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].i, d[0].successes, d[0].failures), (0, 4, 1));
    assert_eq!(d[0].outcomes, vec![("http_status".to_owned(), 5)]);
    assert_eq!((d[0].p50_ms, d[0].max_ms), (Some(2), Some(5)));
    assert_eq!((d[1].i, d[1].failures), (2, 2));
    // Beyond the last bound: no bound to name.
    assert_eq!((d[1].p50_ms, d[1].max_ms), (None, None));
}

#[test]
fn ui_lanes_carry_the_lifecycle_markers_of_the_backends_pod_and_node_only() {
    let b = history_backend(vec![change(0, LbState::Healthy, None, 1_000)], Vec::new());
    let event = |kind, object: ObjectRef, node: &str, at: u64| Lifecycle {
        kind,
        object,
        node: Some(node.to_owned()),
        address: None,
        object_time: None,
        seen_at: at_ms(T0 + at),
        detail: Vec::new(),
    };
    let history = History {
        lifecycle: vec![
            event(
                LifecycleKind::PodReady,
                ObjectRef::new("Pod", "default", "web-5"),
                "node-1",
                500,
            ),
            event(
                LifecycleKind::PodReady,
                ObjectRef::new("Pod", "default", "web-6"),
                "node-2",
                600,
            ),
            event(
                LifecycleKind::NodeCordoned,
                ObjectRef::new("Node", "", "node-1"),
                "node-1",
                700,
            ),
            event(
                LifecycleKind::NodeCordoned,
                ObjectRef::new("Node", "", "node-2"),
                "node-2",
                800,
            ),
            event(
                LifecycleKind::PodTerminating,
                ObjectRef::new("Pod", "default", "web-5"),
                "node-1",
                99_000,
            ),
        ],
        backends: vec![b],
        ..History::default()
    };
    let range = TimeRange {
        from: at_ms(T0),
        to: at_ms(T0 + 10_000),
    };
    let lanes = lanes(&history, range, |_| Some(7));
    let lane = &lanes.lanes[0];
    assert_eq!(lane.id, Some(7));
    let kinds: Vec<(&str, &str)> = lane
        .markers
        .iter()
        .map(|m| (m.kind, m.object.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("pod-ready", "Pod/default/web-5"),
            ("node-cordoned", "Node//node-1")
        ]
    );
    assert!(lane.probe.starts_with("http "), "{}", lane.probe);
}

#[test]
fn ui_lanes_put_the_terminating_marker_at_the_delete_request_not_at_deletion_timestamp() {
    let terminating = |seen_at: u64, detail: Vec<(String, String)>| Lifecycle {
        kind: LifecycleKind::PodTerminating,
        object: ObjectRef::new("Pod", "default", "web-5"),
        node: None,
        address: None,
        object_time: Some(at_ms(T0 + 30_000)),
        seen_at: at_ms(T0 + seen_at),
        detail,
    };
    let grace = || vec![("grace_period_s".to_owned(), "20".to_owned())];
    let table = [
        // Seen within the request's whole second: the sighting is sharper.
        (terminating(10_400, grace()), t(10_400), true),
        // Seen later (a slow watch): the request's second.
        (terminating(12_000, grace()), t(10_000), true),
        // No grace period known: deletionTimestamp as it is.
        (terminating(10_400, Vec::new()), t(30_000), false),
    ];
    for (event, expected, has_deletion) in table {
        let mut detail: BTreeMap<String, String> = event.detail.iter().cloned().collect();
        assert_eq!(marker_time(&event, &mut detail), expected, "{event:?}");
        assert_eq!(detail.contains_key("deletion_timestamp"), has_deletion);
    }
}

#[test]
fn ui_lanes_index_finds_the_same_events_as_checking_each_and_tells_copies_once() {
    let key = synthetic::backend(1, "web", "node-1", 5).key.clone();
    let event =
        |kind, object: ObjectRef, node: Option<&str>, address: Option<u8>, at: u64| Lifecycle {
            kind,
            object,
            node: node.map(str::to_owned),
            address: address.map(|a| IpAddr::V4(Ipv4Addr::new(10, 244, 0, a))),
            object_time: None,
            seen_at: at_ms(T0 + at),
            detail: Vec::new(),
        };
    let pod = |name: &str| ObjectRef::new("Pod", "default", name);
    let events = vec![
        event(
            LifecycleKind::PodReady,
            pod("web-5"),
            Some("node-1"),
            Some(5),
            100,
        ),
        // The same pod's address under another name (a StatefulSet pod recreated).
        event(
            LifecycleKind::PodReady,
            pod("other"),
            Some("node-2"),
            Some(5),
            200,
        ),
        event(
            LifecycleKind::PodReady,
            pod("web-6"),
            Some("node-1"),
            Some(6),
            300,
        ),
        event(
            LifecycleKind::NodeCordoned,
            ObjectRef::new("Node", "", "node-1"),
            None,
            None,
            400,
        ),
        event(
            LifecycleKind::NodeTainted,
            ObjectRef::new("Node", "", "x"),
            Some("node-1"),
            None,
            500,
        ),
        event(
            LifecycleKind::NodeCordoned,
            ObjectRef::new("Node", "", "node-2"),
            None,
            None,
            600,
        ),
        // A Service's endpoints, seen by two agents: one marker.
        event(
            LifecycleKind::ServiceEndpoints,
            key.service.clone(),
            Some("node-1"),
            None,
            700,
        ),
        event(
            LifecycleKind::ServiceEndpoints,
            key.service.clone(),
            Some("node-2"),
            None,
            700,
        ),
        event(
            LifecycleKind::SpecChanged,
            key.object.clone(),
            None,
            None,
            800,
        ),
        event(
            LifecycleKind::SpecChanged,
            ObjectRef::new("Ingress", "default", "x"),
            None,
            None,
            900,
        ),
        event(
            LifecycleKind::EndpointRemoved,
            ObjectRef::new("EndpointSlice", "default", "s"),
            None,
            Some(5),
            950,
        ),
    ];
    let index = LifecycleIndex::new(&events);
    let indexed: Vec<*const Lifecycle> = index.about(&key).map(|e| e as *const _).collect();
    let checked: Vec<*const Lifecycle> = events
        .iter()
        .filter(|e| concerns(e, &key))
        .map(|e| e as *const _)
        .collect();
    assert_eq!(indexed, checked);
    let at: Vec<(&str, i64)> = index
        .markers(&key, t(0), t(10_000))
        .iter()
        .map(|m| (m.kind, m.at_ms - t(0)))
        .collect();
    assert_eq!(
        at,
        vec![
            ("pod-ready", 100),
            ("pod-ready", 200),
            ("node-cordoned", 400),
            ("node-tainted", 500),
            ("service-endpoints", 700),
            ("spec-changed", 800),
            ("endpoint-removed", 950),
        ]
    );
}

#[test]
fn ui_lanes_put_each_source_of_a_rule_together_emulated_sources_first_observed_last() {
    use probesim_agent::event::SourceMode::{LbSource, Node, Observed};
    let of = |pod: u8, source| {
        let mut b = history_backend(Vec::new(), Vec::new());
        let mut key = synthetic::backend(1, "web", "node-1", pod).key.clone();
        key.source = source;
        b.key = key;
        b
    };
    let history = History {
        backends: vec![
            of(6, Observed),
            of(5, LbSource),
            of(6, Node),
            of(5, Observed),
            of(6, LbSource),
            of(5, Node),
        ],
        ..History::default()
    };
    let range = TimeRange {
        from: at_ms(T0),
        to: at_ms(T0 + 10_000),
    };
    let lanes = lanes(&history, range, |_| None);
    let order: Vec<(&str, Option<&str>)> = lanes
        .lanes
        .iter()
        .map(|l| (l.key.source.as_str(), l.key.pod.as_deref()))
        .collect();
    assert_eq!(
        order,
        vec![
            ("node", Some("default/web-5")),
            ("node", Some("default/web-6")),
            ("lb-source", Some("default/web-5")),
            ("lb-source", Some("default/web-6")),
            ("observed", Some("default/web-5")),
            ("observed", Some("default/web-6")),
        ]
    );
}
