use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::{Decision, plan};

fn node(name: &str, extra: Value) -> Node {
    let mut node = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    });
    merge(&mut node, extra);
    serde_json::from_value(node).unwrap()
}

fn pod(name: &str, extra: Value) -> Pod {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "app", "image": "app"}]},
    });
    merge(&mut pod, extra);
    serde_json::from_value(pod).unwrap()
}

fn owned(name: &str, owner: &str, node: &str) -> Pod {
    pod(
        name,
        json!({
            "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": owner, "controller": true}]},
            "spec": {"nodeName": node},
        }),
    )
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, from) => *into = from,
    }
}

fn bound_to(decisions: &[Decision], pod: &str) -> Option<String> {
    decisions.iter().find_map(|d| match d {
        Decision::Bind { name, node, .. } if name == pod => Some(node.clone()),
        _ => None,
    })
}

fn message_for(decisions: &[Decision], pod: &str) -> Option<String> {
    decisions.iter().find_map(|d| match d {
        Decision::Unschedulable { name, message, .. } if name == pod => Some(message.clone()),
        _ => None,
    })
}

#[test]
fn each_filter_keeps_a_pod_off_the_nodes_it_rejects() {
    let cases: Vec<(&str, Vec<Node>, Value, Option<&str>)> = vec![
        (
            "plain pod goes to the first node by name",
            vec![node("b", json!({})), node("a", json!({}))],
            json!({}),
            Some("a"),
        ),
        (
            "cordoned node is skipped",
            vec![
                node("a", json!({"spec": {"unschedulable": true}})),
                node("b", json!({})),
            ],
            json!({}),
            Some("b"),
        ),
        (
            "a pod tolerating the cordon may go there",
            vec![node("a", json!({"spec": {"unschedulable": true}}))],
            json!({"spec": {"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}}),
            Some("a"),
        ),
        (
            "not-ready node is skipped",
            vec![
                node(
                    "a",
                    json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
                ),
                node("b", json!({})),
            ],
            json!({}),
            Some("b"),
        ),
        (
            "NoSchedule taint is skipped unless tolerated",
            vec![
                node(
                    "a",
                    json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
                ),
                node("b", json!({})),
            ],
            json!({}),
            Some("b"),
        ),
        (
            "tolerated taint with Equal",
            vec![node(
                "a",
                json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
            )],
            json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]}}),
            Some("a"),
        ),
        (
            "toleration with another value does not tolerate",
            vec![node(
                "a",
                json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
            )],
            json!({"spec": {"tolerations": [{"key": "dedicated", "value": "cpu"}]}}),
            None,
        ),
        (
            "PreferNoSchedule does not filter",
            vec![node(
                "a",
                json!({"spec": {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}}),
            )],
            json!({}),
            Some("a"),
        ),
        (
            "NoExecute taint filters too",
            vec![
                node(
                    "a",
                    json!({"spec": {"taints": [{"key": "x", "effect": "NoExecute"}]}}),
                ),
                node("b", json!({})),
            ],
            json!({}),
            Some("b"),
        ),
        (
            "nodeSelector picks the labelled node",
            vec![
                node("a", json!({})),
                node("b", json!({"metadata": {"labels": {"pool": "user"}}})),
            ],
            json!({"spec": {"nodeSelector": {"pool": "user"}}}),
            Some("b"),
        ),
        (
            "required node affinity In",
            vec![
                node("a", json!({})),
                node(
                    "b",
                    json!({"metadata": {"labels": {"topology.kubernetes.io/zone": "z2"}}}),
                ),
            ],
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z2", "z3"]}]}
            ]}}}}}),
            Some("b"),
        ),
        (
            "required node affinity on metadata.name",
            vec![node("a", json!({})), node("b", json!({}))],
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["a"]}]}
            ]}}}}}),
            Some("b"),
        ),
        (
            "another scheduler's pod is left alone",
            vec![node("a", json!({}))],
            json!({"spec": {"schedulerName": "other"}}),
            None,
        ),
    ];
    for (what, nodes, extra, want) in cases {
        let decisions = plan(&nodes, &[pod("p", extra)]);
        assert_eq!(
            bound_to(&decisions, "p").as_deref(),
            want,
            "{what}: {decisions:?}"
        );
    }
}

#[test]
fn unschedulable_pod_gets_the_schedulers_message_once() {
    let nodes = vec![
        node("a", json!({"spec": {"unschedulable": true}})),
        node(
            "b",
            json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
        ),
        node(
            "c",
            json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        ),
        node("d", json!({})),
    ];
    let p = pod("p", json!({"spec": {"nodeSelector": {"pool": "none"}}}));
    let decisions = plan(&nodes, std::slice::from_ref(&p));
    let message = message_for(&decisions, "p").unwrap();
    assert_eq!(
        message,
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) had untolerated taint {dedicated: gpu}, \
         1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, \
         1 node(s) were unschedulable. \
         preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    // Once the pod says so, nothing more is written.
    let said = pod(
        "p",
        json!({
            "spec": {"nodeSelector": {"pool": "none"}},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]},
        }),
    );
    assert_eq!(plan(&nodes, &[said]), vec![]);
    assert_eq!(
        message_for(&plan(&[], &[p]), "p").as_deref(),
        Some("no nodes available to schedule pods")
    );
}

#[test]
fn replicas_spread_over_nodes_then_fill_the_emptiest() {
    let nodes = vec![
        node("a", json!({})),
        node("b", json!({})),
        node("c", json!({})),
    ];
    let mut pods: Vec<Pod> = (0..3)
        .map(|i| {
            let mut p = owned(&format!("web-{i}"), "web", "");
            p.spec.as_mut().unwrap().node_name = None;
            p
        })
        .collect();
    // Another workload already sits on a: web prefers b and c before doubling up anywhere.
    pods.push(owned("db-0", "db", "a"));
    let decisions = plan(&nodes, &pods);
    let mut placed: Vec<String> = (0..3)
        .map(|i| bound_to(&decisions, &format!("web-{i}")).unwrap())
        .collect();
    placed.sort();
    assert_eq!(placed, ["a", "b", "c"]);
    assert_eq!(bound_to(&decisions, "web-0").as_deref(), Some("b"));
}

#[test]
fn terminating_siblings_do_not_count_for_spreading() {
    let nodes = vec![node("a", json!({})), node("b", json!({}))];
    let mut leaving = owned("web-old", "web", "a");
    leaving.metadata.deletion_timestamp = Some(super::objects::time(super::objects::now()));
    let staying = owned("web-1", "web", "b");
    let mut new = owned("web-new", "web", "");
    new.spec.as_mut().unwrap().node_name = None;
    let decisions = plan(&nodes, &[leaving, staying, new]);
    assert_eq!(bound_to(&decisions, "web-new").as_deref(), Some("a"));
}

#[test]
fn bound_and_terminating_pods_are_not_scheduled() {
    let nodes = vec![node("a", json!({}))];
    let bound = owned("bound", "web", "a");
    let mut going = pod("going", json!({}));
    going.metadata.deletion_timestamp = Some(super::objects::time(super::objects::now()));
    let done = pod("done", json!({"status": {"phase": "Succeeded"}}));
    assert_eq!(plan(&nodes, &[bound, going, done]), vec![]);
}
