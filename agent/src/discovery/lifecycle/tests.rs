use serde_json::json;

use super::*;

fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).expect("pod")
}

fn kinds(events: &[Lifecycle]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn at(s: &str) -> serde_json::Value {
    json!(s)
}

const SEEN: SystemTime = SystemTime::UNIX_EPOCH;

fn running(ready: bool) -> Pod {
    pod(json!({
        "metadata": {"name": "web-1", "namespace": "shop", "creationTimestamp": at("2026-01-01T10:00:00Z")},
        "spec": {"nodeName": "n1", "readinessGates": [{"conditionType": "target-health.elbv2.k8s.aws/tg"}],
            "terminationGracePeriodSeconds": 60,
            "containers": [{"name": "app", "lifecycle": {"preStop": {"sleep": {"seconds": 15}}}}]},
        "status": {"podIP": "10.244.0.5", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": at("2026-01-01T10:00:00Z")},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": at("2026-01-01T10:00:03Z")},
            {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": at("2026-01-01T10:00:09Z")},
            {"type": "target-health.elbv2.k8s.aws/tg", "status": if ready { "True" } else { "False" }, "lastTransitionTime": at("2026-01-01T10:00:09Z")}]}
    }))
}

#[test]
fn a_new_pod_tells_its_story_in_the_order_it_happened_with_its_own_times() {
    let events = pod_events(None, Some(&running(true)));
    assert_eq!(
        kinds(&events),
        [
            "pod-created",
            "pod-scheduled",
            "containers-ready",
            "pod-ready",
            "readiness-gate"
        ]
    );
    let first = &events[0];
    assert_eq!(first.address, Some("10.244.0.5".parse().expect("ip")));
    assert_eq!(first.node.as_deref(), Some("n1"));
    let ready = events
        .iter()
        .find(|e| e.kind == LifecycleKind::PodReady)
        .expect("ready");
    assert_eq!(
        ready.object_time.map(crate::clock::rfc3339).as_deref(),
        Some("2026-01-01T10:00:09.000Z")
    );
}

fn pod_events(old: Option<&Pod>, new: Option<&Pod>) -> Vec<Lifecycle> {
    super::pod(old, new, SEEN)
}

#[test]
fn only_what_changed_is_told_and_a_pod_that_was_never_ready_is_not_news() {
    let pending = running(false);
    let events = pod_events(None, Some(&pending));
    assert!(!kinds(&events).contains(&"pod-not-ready"));
    assert_eq!(
        kinds(&pod_events(Some(&pending), Some(&running(true)))),
        ["pod-ready", "readiness-gate"]
    );
    assert_eq!(
        kinds(&pod_events(Some(&running(true)), Some(&running(false)))),
        ["pod-not-ready", "readiness-gate"]
    );
    assert!(pod_events(Some(&running(true)), Some(&running(true))).is_empty());
}

#[test]
fn terminating_carries_the_deletion_timestamp_grace_period_and_pre_stop() {
    let before = running(true);
    let mut after = running(true);
    after.metadata.deletion_timestamp =
        serde_json::from_value(at("2026-01-01T10:01:00Z")).expect("time");
    after.metadata.deletion_grace_period_seconds = Some(60);
    let events = pod_events(Some(&before), Some(&after));
    assert_eq!(kinds(&events), ["pod-terminating"]);
    let detail = &events[0].detail;
    assert!(detail.contains(&("grace_period_s".into(), "60".into())));
    assert!(detail.contains(&("pre_stop".into(), "app: sleep 15".into())));
    assert_eq!(
        events[0].object_time.map(crate::clock::rfc3339).as_deref(),
        Some("2026-01-01T10:01:00.000Z")
    );
    assert_eq!(kinds(&pod_events(Some(&after), None)), ["pod-deleted"]);
}

fn endpoint_slice(endpoints: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(json!({"metadata": {"name": "web-x", "namespace": "shop",
        "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4", "endpoints": endpoints}))
    .expect("slice")
}

#[test]
fn endpoint_changes_are_told_for_this_nodes_endpoints_only() {
    let ready = endpoint_slice(json!([
        {"addresses": ["10.244.0.5"], "nodeName": "n1", "conditions": {"ready": true}},
        {"addresses": ["10.244.1.5"], "nodeName": "n2", "conditions": {"ready": true}}]));
    let terminating = endpoint_slice(json!([
        {"addresses": ["10.244.0.5"], "nodeName": "n1", "conditions": {"ready": false, "serving": true, "terminating": true}},
        {"addresses": ["10.244.1.5"], "nodeName": "n2", "conditions": {"ready": false, "terminating": true}}]));
    let events = super::endpoint_slice(Some(&ready), Some(&terminating), "n1", SEEN);
    assert_eq!(kinds(&events), ["endpoint-conditions"]);
    let detail = &events[0].detail;
    for (k, v) in [
        ("ready", "false"),
        ("serving", "true"),
        ("terminating", "true"),
        ("service", "web"),
    ] {
        assert!(detail.contains(&(k.into(), v.into())), "{k}: {detail:?}");
    }
    let gone = endpoint_slice(json!([]));
    assert_eq!(
        kinds(&super::endpoint_slice(
            Some(&terminating),
            Some(&gone),
            "n1",
            SEEN
        )),
        ["endpoint-removed"]
    );
}

#[test]
fn cordon_taints_and_deletion_of_the_node_are_told() {
    let node = |unschedulable: bool, taints: serde_json::Value| -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": unschedulable, "taints": taints}}))
            .expect("node")
    };
    let plain = node(false, json!([]));
    let drained = node(
        true,
        json!([{"key": "ToBeDeletedByClusterAutoscaler", "value": "1", "effect": "NoSchedule"}]),
    );
    let events = super::node(Some(&plain), Some(&drained), SEEN);
    assert_eq!(kinds(&events), ["node-cordoned", "node-tainted"]);
    assert_eq!(
        events[1].detail,
        [(
            "taint".to_owned(),
            "ToBeDeletedByClusterAutoscaler=1:NoSchedule".to_owned()
        )]
    );
    assert_eq!(
        kinds(&super::node(Some(&drained), Some(&plain), SEEN)),
        ["node-uncordoned", "node-untainted"]
    );
    assert_eq!(
        kinds(&super::node(Some(&plain), None, SEEN)),
        ["node-deleted"]
    );
}
