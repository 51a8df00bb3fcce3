use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::rollout::{self, Step, deletion_order};
use super::template::{self, Params, Strategy, fenceposts};
use super::{orphans, plan, template_hash};

const NOW: i64 = 1_800_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

fn ago(seconds: i64) -> String {
    Timestamp::from_second(NOW - seconds)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn deployment(replicas: i32, strategy: Value, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .unwrap()
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

/// A pod of `hash`, described as `state`: "pending" (unbound), "running" (not ready),
/// "ready" (ready for an hour), "fresh" (ready for 5 s), "terminating" (ready, being deleted).
fn pod(name: &str, hash: &str, state: &str) -> Pod {
    let ready = matches!(state, "ready" | "fresh" | "terminating");
    let ready_since = if state == "fresh" { ago(5) } else { ago(3600) };
    let mut pod = json!({
        "metadata": {
            "name": name, "namespace": "default", "uid": format!("uid-{name}"),
            "creationTimestamp": ago(7200),
            "labels": {"app": "web", "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-uid", "controller": true}],
        },
        "spec": {"nodeName": if state == "pending" { "" } else { "n1" }, "containers": [{"name": "app", "image": "x"}]},
        "status": {
            "phase": if state == "pending" { "Pending" } else { "Running" },
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": ready_since}],
        },
    });
    if state == "terminating" {
        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
    }
    serde_json::from_value(pod).unwrap()
}

/// `web` pods: the first `new` states are of the current template, the rest of an old one.
fn pods(d: &Deployment, new: &[&str], old: &[&str]) -> Vec<Pod> {
    let hash = template_hash(d);
    let mut all: Vec<Pod> = new
        .iter()
        .enumerate()
        .map(|(i, s)| pod(&format!("new-{i}"), &hash, s))
        .collect();
    all.extend(
        old.iter()
            .enumerate()
            .map(|(i, s)| pod(&format!("old-{i}"), "oldhash", s)),
    );
    all
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    let s = |v: &str| IntOrString::String(v.to_owned());
    let cases = [
        (10, s("25%"), s("25%"), (3, 2)),
        (3, s("25%"), s("25%"), (1, 0)),
        (1, s("25%"), s("25%"), (1, 0)),
        (4, s("50%"), s("50%"), (2, 2)),
        (3, IntOrString::Int(1), IntOrString::Int(0), (1, 0)),
        (3, IntOrString::Int(0), IntOrString::Int(0), (0, 1)),
        (3, s("0%"), s("0%"), (0, 1)),
        (0, s("25%"), s("25%"), (0, 1)),
    ];
    for (replicas, surge, unavailable, want) in cases {
        assert_eq!(
            fenceposts(&surge, &unavailable, replicas),
            want,
            "{replicas} {surge:?} {unavailable:?}"
        );
    }
}

#[test]
fn params_default_like_the_api_server() {
    let mut d = deployment(3, json!(null), "v1");
    d.spec.as_mut().unwrap().replicas = None;
    let p = Params::of(&d);
    assert_eq!(
        (p.replicas, p.strategy, p.max_surge, p.max_unavailable),
        (1, Strategy::RollingUpdate, 1, 0)
    );
    assert_eq!(p.progress_deadline_seconds, Some(600));
    let recreate = Params::of(&deployment(3, json!({"type": "Recreate"}), "v1"));
    assert_eq!((recreate.max_surge, recreate.max_unavailable), (0, 0));
    let capped = Params::of(&deployment(2, rolling(json!(0), json!(5)), "v1"));
    assert_eq!(capped.max_unavailable, 2);
}

#[test]
fn rollout_steps_follow_upstream() {
    let surge1 = rolling(json!(1), json!(0));
    let quarter = rolling(json!("25%"), json!("25%"));
    let unavailable1 = rolling(json!(0), json!(1));
    // (what, replicas, strategy, new pods, old pods, pods to create, pods to remove by hash)
    type Case<'a> = (
        &'a str,
        i32,
        Value,
        Vec<&'a str>,
        Vec<&'a str>,
        i32,
        Vec<(&'a str, i32)>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "new deployment creates all",
            3,
            surge1.clone(),
            vec![],
            vec![],
            3,
            vec![],
        ),
        (
            "steady state does nothing",
            3,
            surge1.clone(),
            vec!["ready"; 3],
            vec![],
            0,
            vec![],
        ),
        (
            "rollout starts with one surge pod",
            3,
            surge1.clone(),
            vec![],
            vec!["ready"; 3],
            1,
            vec![],
        ),
        (
            "waits while the surge pod is not ready",
            3,
            surge1.clone(),
            vec!["running"],
            vec!["ready"; 3],
            0,
            vec![],
        ),
        (
            "one old goes once the new one is ready",
            3,
            surge1.clone(),
            vec!["ready"],
            vec!["ready"; 3],
            0,
            vec![("oldhash", 1)],
        ),
        (
            "terminating pods are not counted: a new surge pod comes at once",
            3,
            surge1.clone(),
            vec!["ready"],
            vec!["ready", "ready", "terminating"],
            1,
            vec![],
        ),
        (
            "25% of 4 surges one",
            4,
            quarter.clone(),
            vec![],
            vec!["ready"; 4],
            1,
            vec![],
        ),
        (
            "25% of 4 lets one old go before the new is ready",
            4,
            quarter,
            vec!["running"],
            vec!["ready"; 4],
            0,
            vec![("oldhash", 1)],
        ),
        (
            "unhealthy old pods are cleaned up first",
            3,
            unavailable1,
            vec![],
            vec!["ready", "running", "ready"],
            0,
            vec![("oldhash", 1)],
        ),
        (
            "scale down removes the surplus",
            3,
            surge1.clone(),
            vec!["ready"; 5],
            vec![],
            0,
            vec![("HASH", 2)],
        ),
        (
            "scale up within the surge",
            5,
            surge1,
            vec!["ready"; 3],
            vec![],
            2,
            vec![],
        ),
        (
            "recreate removes every old pod",
            3,
            json!({"type": "Recreate"}),
            vec![],
            vec!["ready"; 3],
            0,
            vec![("oldhash", 3)],
        ),
        (
            "recreate waits for old pods to go",
            3,
            json!({"type": "Recreate"}),
            vec![],
            vec!["terminating"],
            0,
            vec![],
        ),
        (
            "recreate then creates the new pods",
            3,
            json!({"type": "Recreate"}),
            vec!["ready"],
            vec![],
            2,
            vec![],
        ),
    ];
    for (what, replicas, strategy, new, old, create, remove) in cases {
        let d = deployment(replicas, strategy, "v2");
        let hash = template_hash(&d);
        let all = pods(&d, &new, &old);
        let refs: Vec<&Pod> = all.iter().collect();
        let (new_group, old_groups) = rollout::group(&refs, &hash);
        let got = rollout::step(&Params::of(&d), &new_group, &old_groups, now());
        let remove = remove
            .into_iter()
            .map(|(h, n)| {
                (
                    if h == "HASH" {
                        hash.clone()
                    } else {
                        h.to_owned()
                    },
                    n,
                )
            })
            .collect();
        assert_eq!(got, Step { create, remove }, "{what}");
    }
}

#[test]
fn scale_down_deletes_pods_in_the_replicaset_controllers_order() {
    let with = |p: Pod, f: &dyn Fn(&mut Value)| {
        let mut v = serde_json::to_value(p).unwrap();
        f(&mut v);
        serde_json::from_value::<Pod>(v).unwrap()
    };
    let ready = pod("a", "h", "ready");
    let cases: Vec<(&str, Pod, usize, Pod, usize)> = vec![
        (
            "unassigned first",
            pod("p", "h", "pending"),
            1,
            ready.clone(),
            1,
        ),
        (
            "pending before running",
            with(pod("p", "h", "running"), &|v| {
                v["status"]["phase"] = json!("Pending")
            }),
            1,
            ready.clone(),
            1,
        ),
        (
            "not ready before ready",
            pod("p", "h", "running"),
            1,
            ready.clone(),
            1,
        ),
        (
            "lower deletion cost first",
            with(ready.clone(), &|v| {
                v["metadata"]["annotations"] =
                    json!({"controller.kubernetes.io/pod-deletion-cost": "-5"})
            }),
            1,
            ready.clone(),
            1,
        ),
        ("doubled-up first", ready.clone(), 2, ready.clone(), 1),
        (
            "ready for less time first",
            pod("p", "h", "fresh"),
            1,
            ready.clone(),
            1,
        ),
        (
            "more restarts first",
            with(
                ready.clone(),
                &|v| v["status"]["containerStatuses"] = json!([{"name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 3}]),
            ),
            1,
            ready.clone(),
            1,
        ),
        (
            "newer first",
            with(ready.clone(), &|v| {
                v["metadata"]["creationTimestamp"] = json!(ago(60))
            }),
            1,
            ready.clone(),
            1,
        ),
    ];
    for (what, first, rank_first, second, rank_second) in cases {
        assert_eq!(
            deletion_order(&first, rank_first, &second, rank_second, now()),
            Ordering::Less,
            "{what}"
        );
        assert_eq!(
            deletion_order(&second, rank_second, &first, rank_first, now()),
            Ordering::Greater,
            "{what} (reversed)"
        );
    }
}

#[test]
fn pods_are_created_from_the_template_owned_by_the_deployment() {
    let d = deployment(1, json!(null), "v1");
    let hash = template_hash(&d);
    assert!(
        hash.len() >= 8
            && hash
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    assert_eq!(
        hash,
        template_hash(&deployment(5, json!({"type": "Recreate"}), "v1")),
        "replicas and strategy are not in the hash"
    );
    assert_ne!(hash, template_hash(&deployment(1, json!(null), "v2")));
    let p = template::new_pod(&d, &hash);
    assert_eq!(
        p.metadata.generate_name.as_deref(),
        Some(format!("web-{hash}-").as_str())
    );
    let labels = p.metadata.labels.as_ref().unwrap();
    assert_eq!(
        (labels["app"].as_str(), labels["pod-template-hash"].as_str()),
        ("web", hash.as_str())
    );
    let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        ("Deployment", "web", "d-uid", Some(true))
    );
    assert_eq!(p.spec.unwrap().containers[0].image.as_deref(), Some("v1"));
}

#[test]
fn a_new_deployment_reports_its_replicaset_created_then_progresses_to_available() {
    let mut d = deployment(2, rolling(json!(1), json!(0)), "v1");
    let first = plan(&d, &[], now());
    assert_eq!(first.create.len(), 2);
    let status = first.status.clone().unwrap();
    let reasons =
        |s: &k8s_openapi::api::apps::v1::DeploymentStatus| -> Vec<(String, String, String)> {
            s.conditions
                .iter()
                .flatten()
                .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone().unwrap()))
                .collect()
        };
    let hash = template_hash(&d);
    assert_eq!(
        reasons(&status),
        [
            (
                "Progressing".into(),
                "True".into(),
                "NewReplicaSetCreated".into()
            ),
            (
                "Available".into(),
                "False".into(),
                "MinimumReplicasUnavailable".into()
            )
        ]
    );
    assert_eq!(
        status.conditions.as_ref().unwrap()[0].message.as_deref(),
        Some(format!("Created new replica set \"web-{hash}\"").as_str())
    );
    d.status = Some(status);
    let ready = pods(&d, &["ready", "ready"], &["terminating"]);
    let done = plan(&d, &ready, now());
    assert!(done.create.is_empty() && done.delete.is_empty());
    let status = done.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(2), Some(2), Some(2), Some(2))
    );
    assert_eq!(
        (
            status.unavailable_replicas,
            status.terminating_replicas,
            status.observed_generation
        ),
        (None, Some(1), Some(2))
    );
    assert_eq!(
        reasons(&status),
        [
            (
                "Available".into(),
                "True".into(),
                "MinimumReplicasAvailable".into()
            ),
            (
                "Progressing".into(),
                "True".into(),
                "NewReplicaSetAvailable".into()
            )
        ]
    );
    // Upstream moves a changed condition to the end, so Available now comes first.
    // Written once: the next sync has nothing to say.
    d.status = Some(status);
    let again = plan(&d, &ready, now());
    assert!(again.status.is_none() && again.create.is_empty() && again.delete.is_empty());
}

#[test]
fn min_ready_seconds_delays_availability_and_asks_to_look_again() {
    let mut d = deployment(1, json!(null), "v1");
    d.spec.as_mut().unwrap().min_ready_seconds = Some(10);
    let fresh = pods(&d, &["fresh"], &[]);
    let p = plan(&d, &fresh, now());
    let status = p.status.unwrap();
    assert_eq!(
        (status.ready_replicas, status.available_replicas),
        (Some(1), None)
    );
    // Ready 5 s ago, available after more than 10 s: look again in 6 s.
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(6)));
}

#[test]
fn pods_of_other_owners_are_ignored() {
    let d = deployment(1, json!(null), "v1");
    let mut stranger = pod("x", &template_hash(&d), "ready");
    stranger.metadata.owner_references.as_mut().unwrap()[0].uid = "other".into();
    assert_eq!(plan(&d, &[stranger], now()).create.len(), 1);
}

#[test]
fn pods_of_a_deleted_deployment_are_collected_once() {
    let d = deployment(1, json!(null), "v1");
    let hash = template_hash(&d);
    let mine = [pod("a", &hash, "ready"), pod("b", &hash, "terminating")];
    assert_eq!(orphans(std::slice::from_ref(&d), &mine), vec![]);
    assert_eq!(
        orphans(&[], &mine),
        vec![("default".to_owned(), "a".to_owned())]
    );
}
