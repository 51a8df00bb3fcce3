use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::{Changes, reconcile};

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

fn service(extra: Value) -> Service {
    let mut s = json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    });
    merge(&mut s, extra);
    serde_json::from_value(s).unwrap()
}

/// A pod on `node`; `state` is "ready", "unready", "terminating" (ready and deleted),
/// "terminating-unready", "noip" or "succeeded".
fn pod(name: &str, node: &str, state: &str) -> Pod {
    let ready = matches!(state, "ready" | "terminating");
    let mut p = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {
            "phase": if state == "succeeded" { "Succeeded" } else { "Running" },
            "podIP": format!("10.244.0.{}", name.len() + name.bytes().map(usize::from).sum::<usize>() % 200),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        },
    });
    if state.starts_with("terminating") {
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    if state == "noip" {
        p["status"]["podIP"] = Value::Null;
    }
    serde_json::from_value(p).unwrap()
}

fn with(p: Pod, extra: Value) -> Pod {
    let mut v = serde_json::to_value(p).unwrap();
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn nodes() -> Vec<Node> {
    vec![
        serde_json::from_value(
            json!({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}}}),
        )
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"name": "n2"}})).unwrap(),
    ]
}

/// The slices after `changes`, with names for the created ones.
fn written(existing: &[EndpointSlice], changes: Changes) -> Vec<EndpointSlice> {
    let mut slices: Vec<EndpointSlice> = existing
        .iter()
        .filter(|s| !changes.delete.contains(s.metadata.name.as_ref().unwrap()))
        .cloned()
        .collect();
    for update in changes.update {
        let slot = slices
            .iter_mut()
            .find(|s| s.metadata.name == update.metadata.name)
            .unwrap();
        *slot = update;
    }
    for (i, mut created) in changes.create.into_iter().enumerate() {
        created.metadata.name = Some(format!(
            "{}{i}x{}",
            created.metadata.generate_name.clone().unwrap(),
            slices.len()
        ));
        created.metadata.generate_name = None;
        slices.push(created);
    }
    slices
}

fn conditions(slices: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut all: Vec<_> = slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            let c = e.conditions.clone().unwrap();
            (
                e.target_ref.clone().unwrap().name.unwrap(),
                c.ready.unwrap(),
                c.serving.unwrap(),
                c.terminating.unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn endpoint_conditions_follow_readiness_and_termination() {
    let cases = [
        ("ready", false, (true, true, false)),
        ("unready", false, (false, false, false)),
        ("terminating", false, (false, true, true)),
        ("terminating-unready", false, (false, false, true)),
        ("unready", true, (true, false, false)),
        ("terminating", true, (true, true, true)),
    ];
    for (state, publish, (ready, serving, terminating)) in cases {
        let svc = service(json!({"spec": {"publishNotReadyAddresses": publish}}));
        let slices = written(
            &[],
            reconcile(&svc, &[pod("p", "n1", state)], &nodes(), &[], 100),
        );
        assert_eq!(
            conditions(&slices),
            [("p".to_owned(), ready, serving, terminating)],
            "{state} publish={publish}"
        );
    }
}

#[test]
fn only_matching_pods_with_an_address_on_a_known_node_are_listed() {
    let cases = [
        ("no address yet", pod("p", "n1", "noip"), false, false),
        ("terminal", pod("p", "n1", "succeeded"), false, false),
        (
            "other namespace",
            with(
                pod("p", "n1", "ready"),
                json!({"metadata": {"namespace": "other"}}),
            ),
            false,
            false,
        ),
        (
            "other labels",
            with(
                pod("p", "n1", "ready"),
                json!({"metadata": {"labels": {"app": "db"}}}),
            ),
            false,
            false,
        ),
        ("unknown node", pod("p", "gone", "ready"), false, false),
        (
            "unknown node, published anyway",
            pod("p", "gone", "ready"),
            true,
            true,
        ),
        ("plain ready pod", pod("p", "n1", "ready"), false, true),
    ];
    for (what, p, publish, listed) in cases {
        let svc = service(json!({"spec": {"publishNotReadyAddresses": publish}}));
        let slices = written(&[], reconcile(&svc, &[p], &nodes(), &[], 100));
        assert_eq!(slices.len(), 1, "{what}: one slice (maybe the placeholder)");
        assert_eq!(!slices[0].endpoints.is_empty(), listed, "{what}");
    }
}

#[test]
fn slices_look_like_kube_controller_managers() {
    let svc = service(json!({}));
    let changes = reconcile(
        &svc,
        &[pod("a", "n1", "ready"), pod("b", "n2", "ready")],
        &nodes(),
        &[],
        100,
    );
    assert_eq!(
        (
            changes.create.len(),
            changes.update.len(),
            changes.delete.len()
        ),
        (1, 0, 0)
    );
    let slice = serde_json::to_value(&changes.create[0]).unwrap();
    assert_eq!(slice["apiVersion"], "discovery.k8s.io/v1");
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["metadata"]["generateName"], "web-");
    assert_eq!(
        slice["metadata"]["labels"],
        json!({"team": "a", "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
    );
    assert_eq!(
        slice["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    let a = &slice["endpoints"][0];
    assert_eq!(a["nodeName"], "n1");
    assert_eq!(a["zone"], "z1");
    assert_eq!(
        a["targetRef"],
        json!({"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"})
    );
    assert!(
        slice["endpoints"][1].get("zone").is_none(),
        "n2 has no zone label"
    );
}

#[test]
fn target_ports_resolve_per_pod() {
    let sidecar = with(
        pod("sidecar", "n1", "ready"),
        json!({"spec": {
            "containers": [{"name": "app", "image": "x"}],
            "initContainers": [{"name": "proxy", "image": "x", "restartPolicy": "Always", "ports": [{"name": "http", "containerPort": 9090}]}],
        }}),
    );
    let udp = with(
        pod("udp", "n1", "ready"),
        json!({"spec": {"containers": [{"name": "app", "image": "x", "ports": [{"name": "http", "containerPort": 7070, "protocol": "UDP"}]}]}}),
    );
    let cases: Vec<(&str, Value, Pod, Option<i32>)> = vec![
        (
            "named port in a container",
            json!("http"),
            pod("p", "n1", "ready"),
            Some(8080),
        ),
        (
            "named port in a sidecar",
            json!("http"),
            sidecar,
            Some(9090),
        ),
        (
            "a name of another protocol does not resolve",
            json!("http"),
            udp,
            None,
        ),
        (
            "a number is taken as is",
            json!(8443),
            pod("p", "n1", "ready"),
            Some(8443),
        ),
        (
            "no targetPort means the service port",
            Value::Null,
            pod("p", "n1", "ready"),
            Some(80),
        ),
    ];
    for (what, target, p, want) in cases {
        let svc = service(
            json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": target}]}}),
        );
        let port =
            super::desired::find_port(&p, &svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0]);
        assert_eq!(port, want, "{what}");
    }
}

#[test]
fn pods_whose_named_port_does_not_resolve_get_their_own_slice() {
    let svc = service(json!({}));
    let other = with(
        pod("other", "n1", "ready"),
        json!({"spec": {"containers": [{"name": "app", "image": "x", "ports": [{"name": "web", "containerPort": 9000}]}]}}),
    );
    let slices = written(
        &[],
        reconcile(&svc, &[pod("a", "n1", "ready"), other], &nodes(), &[], 100),
    );
    let mut shapes: Vec<(Option<usize>, Vec<String>)> = slices
        .iter()
        .map(|s| {
            (
                s.ports.as_ref().map(Vec::len),
                s.endpoints
                    .iter()
                    .map(|e| e.target_ref.clone().unwrap().name.unwrap())
                    .collect(),
            )
        })
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [
            (None, vec!["other".to_owned()]),
            (Some(1), vec!["a".to_owned()])
        ]
    );
}

#[test]
fn at_most_max_endpoints_per_slice() {
    let pods: Vec<Pod> = (0..250)
        .map(|i| {
            let mut p = pod(&format!("p{i}"), "n1", "ready");
            p.status.as_mut().unwrap().pod_ip = Some(format!("10.244.{}.{}", i / 200, i % 200));
            p
        })
        .collect();
    let slices = written(
        &[],
        reconcile(&service(json!({})), &pods, &nodes(), &[], 100),
    );
    let mut sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [50, 100, 100]);
}

#[test]
fn changes_are_written_in_place_and_only_when_needed() {
    let svc = service(json!({}));
    let n = nodes();
    let first = written(
        &[],
        reconcile(
            &svc,
            &[pod("a", "n1", "ready"), pod("b", "n1", "ready")],
            &n,
            &[],
            100,
        ),
    );
    assert_eq!(first.len(), 1);
    let name = first[0].metadata.name.clone();

    let same = reconcile(
        &svc,
        &[pod("a", "n1", "ready"), pod("b", "n1", "ready")],
        &n,
        &first,
        100,
    );
    assert_eq!(same, Changes::default(), "nothing changed, nothing written");

    let changes = reconcile(
        &svc,
        &[pod("a", "n1", "ready"), pod("b", "n1", "terminating")],
        &n,
        &first,
        100,
    );
    assert_eq!(
        (
            changes.create.len(),
            changes.update.len(),
            changes.delete.len()
        ),
        (0, 1, 0)
    );
    assert_eq!(changes.update[0].metadata.name, name);
    let second = written(&first, changes);
    assert_eq!(
        conditions(&second),
        [
            ("a".into(), true, true, false),
            ("b".into(), false, true, true)
        ]
    );

    let changes = reconcile(
        &svc,
        &[pod("a", "n1", "ready"), pod("c", "n2", "unready")],
        &n,
        &second,
        100,
    );
    assert_eq!(
        (changes.create.len(), changes.update.len()),
        (0, 1),
        "a new endpoint joins the slice being written"
    );
    let third = written(&second, changes);
    assert_eq!(
        conditions(&third),
        [
            ("a".into(), true, true, false),
            ("c".into(), false, false, false)
        ]
    );

    // Every pod gone: the slice stays, empty, as the placeholder.
    let changes = reconcile(&svc, &[], &n, &third, 100);
    assert_eq!(
        (
            changes.create.len(),
            changes.update.len(),
            changes.delete.len()
        ),
        (0, 1, 0)
    );
    let empty = written(&third, changes);
    assert_eq!(
        (
            empty.len(),
            empty[0].metadata.name.clone(),
            empty[0].endpoints.len(),
            empty[0].ports.clone()
        ),
        (1, name, 0, None)
    );
    assert_eq!(
        reconcile(&svc, &[], &n, &empty, 100),
        Changes::default(),
        "the placeholder is kept as it is"
    );
}

#[test]
fn a_new_endpoint_fills_an_unchanged_slice_with_room() {
    let svc = service(json!({}));
    let first = written(
        &[],
        reconcile(&svc, &[pod("a", "n1", "ready")], &nodes(), &[], 100),
    );
    let changes = reconcile(
        &svc,
        &[pod("a", "n1", "ready"), pod("b", "n1", "ready")],
        &nodes(),
        &first,
        100,
    );
    assert_eq!((changes.create.len(), changes.update.len()), (0, 1));
    assert_eq!(changes.update[0].endpoints.len(), 2);
}

#[test]
fn slices_of_another_service_with_the_same_name_are_replaced() {
    let old = written(
        &[],
        reconcile(
            &service(json!({"metadata": {"uid": "old-uid"}})),
            &[pod("a", "n1", "ready")],
            &nodes(),
            &[],
            100,
        ),
    );
    let changes = reconcile(
        &service(json!({})),
        &[pod("a", "n1", "ready")],
        &nodes(),
        &old,
        100,
    );
    assert_eq!(
        (
            changes.create.len(),
            changes.update.len(),
            changes.delete.len()
        ),
        (1, 0, 1)
    );
}

#[test]
fn services_without_a_selector_or_external_names_are_left_alone() {
    let p = [pod("a", "n1", "ready")];
    let mut no_selector = service(json!({}));
    no_selector.spec.as_mut().unwrap().selector = None;
    assert_eq!(
        reconcile(&no_selector, &p, &nodes(), &[], 100),
        Changes::default()
    );
    let external =
        service(json!({"spec": {"type": "ExternalName", "externalName": "example.invalid"}}));
    assert_eq!(
        reconcile(&external, &p, &nodes(), &[], 100),
        Changes::default()
    );
}

#[test]
fn headless_services_mark_their_slices() {
    let svc = service(json!({"spec": {"clusterIP": "None"}}));
    let changes = reconcile(&svc, &[pod("a", "n1", "ready")], &nodes(), &[], 100);
    let labels = changes.create[0].metadata.labels.clone().unwrap();
    assert_eq!(
        labels
            .get("service.kubernetes.io/headless")
            .map(String::as_str),
        Some("")
    );
}
