//! The controllers against a store, with a tiny kubelet of the test's own: it starts scheduled
//! pods (Running with an address, then Ready after a delay) and removes terminating pods after a
//! delay. No network: everything here is objects in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use probesim_lab::api::{Event, EventType, Resource, Store};
use probesim_lab::controllers::Controllers;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// How long after scheduling the test kubelet gives a pod its address (Running, not Ready).
const START_AFTER: Duration = Duration::from_millis(100);
/// How long after starting it marks the pod Ready.
const READY_AFTER: Duration = Duration::from_millis(300);
/// How long a terminating pod lingers before the kubelet removes it.
const TERMINATE_AFTER: Duration = Duration::from_millis(300);
/// The test kubelet's scan period.
const KUBELET_TICK: Duration = Duration::from_millis(20);
/// The most any test waits for the cluster to settle.
const SETTLE: Duration = Duration::from_secs(20);

/// A kubelet for every node at once, just enough to drive pods through their lifecycle.
struct FakeKubelet {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FakeKubelet {
    fn start(store: Arc<Store>) -> FakeKubelet {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut seen: HashMap<(String, &'static str), Instant> = HashMap::new();
            let mut next_ip = 10u32;
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut tick = tokio::time::interval(KUBELET_TICK);
            while Instant::now() < deadline {
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    _ = tick.tick() => {}
                }
                for pod in store.list(Resource::Pod, None).0 {
                    let meta = &pod["metadata"];
                    let (ns, name) = (
                        meta["namespace"].as_str().expect("a pod has a namespace"),
                        meta["name"].as_str().expect("a pod has a name"),
                    );
                    let uid = meta["uid"].as_str().expect("a pod has a uid").to_owned();
                    let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty())
                    else {
                        continue;
                    };
                    let stage = if !meta["deletionTimestamp"].is_null() {
                        "terminating"
                    } else if pod["status"]["podIP"].is_null() {
                        "scheduled"
                    } else if ready(&pod) {
                        continue;
                    } else {
                        "started"
                    };
                    let since = *seen.entry((uid, stage)).or_insert_with(Instant::now);
                    let now = store_time();
                    match stage {
                        "terminating" if since.elapsed() >= TERMINATE_AFTER => {
                            let _ = store.delete(Resource::Pod, ns, name);
                        }
                        "scheduled" if since.elapsed() >= START_AFTER => {
                            next_ip += 1;
                            let ip = format!("10.244.{}.{}", next_ip / 250, next_ip % 250);
                            let node_ip =
                                format!("10.224.0.{}", node.bytes().last().unwrap_or(b'0'));
                            let _ = store.modify(Resource::Pod, ns, name, |p| {
                                p["status"]["phase"] = json!("Running");
                                p["status"]["podIP"] = json!(ip);
                                p["status"]["podIPs"] = json!([{"ip": ip}]);
                                p["status"]["hostIP"] = json!(node_ip);
                                set_condition(p, "Ready", "False", &now);
                            });
                        }
                        "started" if since.elapsed() >= READY_AFTER => {
                            // The pod may have been deleted meanwhile; then there is nothing to do.
                            let _ = store.modify(Resource::Pod, ns, name, |p| {
                                set_condition(p, "Ready", "True", &now)
                            });
                        }
                        _ => {}
                    }
                }
            }
        });
        FakeKubelet { stop, task }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.expect("the test kubelet ends cleanly");
    }
}

fn store_time() -> String {
    probesim_lab::api::store::timestamp(std::time::SystemTime::now())
}

fn set_condition(pod: &mut Value, kind: &str, status: &str, now: &str) {
    let condition = json!({"type": kind, "status": status, "lastTransitionTime": now});
    let conditions = pod["status"]["conditions"].as_array_mut();
    match conditions {
        Some(list) => {
            list.retain(|c| c["type"] != kind);
            list.push(condition);
        }
        None => pod["status"]["conditions"] = json!([condition]),
    }
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn node(name: &str, unschedulable: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "zone-1"}},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    })
}

fn deployment(replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}]},
            },
        },
    })
}

fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    })
}

/// Waits (boundedly) until `check` holds for the store.
async fn settle(store: &Store, what: &str, check: impl Fn(&Store) -> bool) {
    let mut revisions = store.revisions();
    let waited = timeout(SETTLE, async {
        while !check(store) {
            // Also re-check now and then: some changes come from timers, not writes.
            let _ = timeout(Duration::from_millis(200), revisions.changed()).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not settled within {SETTLE:?}: {what}");
}

fn pods(store: &Store) -> Vec<Arc<Value>> {
    store.list(Resource::Pod, Some("default")).0
}

fn deployment_status(store: &Store) -> Value {
    store
        .get(Resource::Deployment, "default", "web")
        .expect("the Deployment exists")["status"]
        .clone()
}

/// All replicas of the current template Ready and no other pod left.
fn rolled_out(store: &Store, replicas: i64) -> bool {
    let status = deployment_status(store);
    let all = pods(store);
    status["updatedReplicas"] == replicas
        && status["availableReplicas"] == replicas
        && status["replicas"] == replicas
        && all.len() == usize::try_from(replicas).expect("replicas are few")
        && all
            .iter()
            .all(|p| ready(p) && p["metadata"]["deletionTimestamp"].is_null())
}

fn cluster(nodes: &[(&str, bool)]) -> Arc<Store> {
    let store = Store::new();
    for (name, cordoned) in nodes {
        store
            .apply(node(name, *cordoned))
            .expect("a Node is stored");
    }
    store
}

#[tokio::test]
async fn a_deployment_of_three_gets_three_pods_spread_over_three_nodes() {
    let store = cluster(&[("node-a", false), ("node-b", false), ("node-c", false)]);
    let controllers = Controllers::start(store.clone());
    let kubelet = FakeKubelet::start(store.clone());
    store.apply(deployment(3, "web:v1")).unwrap();
    settle(&store, "3 pods ready", |s| rolled_out(s, 3)).await;

    let all = pods(&store);
    let mut nodes: Vec<&str> = all
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["node-a", "node-b", "node-c"]);
    let hash = all[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_owned();
    for pod in &all {
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("web-{hash}-"))
                && name.len() == "web-".len() + hash.len() + 6,
            "{name}"
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        let scheduled = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PodScheduled")
            .unwrap();
        assert_eq!(scheduled["status"], "True");
    }
    let status = deployment_status(&store);
    assert_eq!(
        (
            status["readyReplicas"].as_i64(),
            status["observedGeneration"].as_i64()
        ),
        (Some(3), Some(1))
    );

    // Deleted, its pods go with it (terminating first, then removed by the kubelet).
    store
        .delete(Resource::Deployment, "default", "web")
        .unwrap();
    settle(&store, "the Deployment's pods are gone", |s| {
        pods(s).is_empty()
    })
    .await;

    kubelet.stop().await;
    controllers.stop().await;
}

/// One endpoint's conditions as the slice showed them: (ready, serving, terminating), or gone.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Conditions(bool, bool, bool),
    Gone,
}

/// Each pod's endpoint states in the order the Service's slices showed them, repeats folded.
fn endpoint_histories(events: &[Event]) -> BTreeMap<String, Vec<Seen>> {
    let mut slices: HashMap<String, HashMap<String, Seen>> = HashMap::new();
    let mut history: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.resource == Resource::EndpointSlice)
    {
        let slice = &event.object;
        let name = slice["metadata"]["name"]
            .as_str()
            .expect("a slice has a name")
            .to_owned();
        let now: HashMap<String, Seen> = if event.kind == EventType::Deleted {
            HashMap::new()
        } else {
            slice["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let c = &e["conditions"];
                    let flag = |k: &str| c[k].as_bool().expect("every condition is set");
                    let pod = e["targetRef"]["name"]
                        .as_str()
                        .expect("an endpoint names its pod")
                        .to_owned();
                    (
                        pod,
                        Seen::Conditions(flag("ready"), flag("serving"), flag("terminating")),
                    )
                })
                .collect()
        };
        let before = slices.insert(name, now.clone()).unwrap_or_default();
        let gone = before
            .keys()
            .filter(|p| !now.contains_key(*p))
            .map(|p| (p.clone(), Seen::Gone));
        for (pod, seen) in now.clone().into_iter().chain(gone) {
            let list = history.entry(pod).or_default();
            if list.last() != Some(&seen) {
                list.push(seen);
            }
        }
    }
    history
}

/// The fewest pods that were Ready and not terminating at any point of `events`.
fn fewest_ready(events: &[Event], initial: &[Arc<Value>]) -> usize {
    let mut pods: HashMap<String, Value> = initial
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .expect("a pod has a name")
                    .to_owned(),
                (**p).clone(),
            )
        })
        .collect();
    let count = |pods: &HashMap<String, Value>| {
        pods.values()
            .filter(|p| ready(p) && p["metadata"]["deletionTimestamp"].is_null())
            .count()
    };
    let mut fewest = count(&pods);
    for event in events.iter().filter(|e| e.resource == Resource::Pod) {
        let name = event.object["metadata"]["name"]
            .as_str()
            .expect("a pod has a name")
            .to_owned();
        if event.kind == EventType::Deleted {
            pods.remove(&name);
        } else {
            pods.insert(name, (*event.object).clone());
        }
        fewest = fewest.min(count(&pods));
    }
    fewest
}

#[tokio::test]
async fn a_surge_rollout_keeps_three_ready_and_the_slice_shows_each_endpoint_in_order() {
    let store = cluster(&[("node-a", false), ("node-b", false), ("node-c", false)]);
    let controllers = Controllers::start(store.clone());
    let kubelet = FakeKubelet::start(store.clone());
    store.apply(service()).unwrap();
    store.apply(deployment(3, "web:v1")).unwrap();
    settle(&store, "3 pods ready", |s| rolled_out(s, 3)).await;
    let slices_ready = |s: &Store| {
        let slices = s.list(Resource::EndpointSlice, Some("default")).0;
        slices.len() == 1
            && slices[0]["endpoints"]
                .as_array()
                .is_some_and(|e| e.len() == 3 && e.iter().all(|e| e["conditions"]["ready"] == true))
    };
    settle(&store, "the slice lists 3 ready endpoints", slices_ready).await;

    let before = pods(&store);
    let old: Vec<String> = before
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let mut events = store.subscribe();
    store
        .modify(Resource::Deployment, "default", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:v2");
        })
        .unwrap();
    settle(&store, "3 new pods ready, old ones gone", |s| {
        rolled_out(s, 3)
            && pods(s)
                .iter()
                .all(|p| !old.contains(&p["metadata"]["name"].as_str().unwrap().to_owned()))
    })
    .await;
    settle(&store, "the slice lists the 3 new pods", |s| {
        let slices = s.list(Resource::EndpointSlice, Some("default")).0;
        slices_ready(s)
            && slices[0]["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| !old.contains(&e["targetRef"]["name"].as_str().unwrap().to_owned()))
    })
    .await;

    let mut recorded = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => recorded.push(event),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
            Err(e) => panic!("recording the rollout failed: {e}"),
        }
    }
    assert_eq!(
        fewest_ready(&recorded, &before),
        3,
        "maxUnavailable 0: never fewer than 3 ready pods"
    );

    let histories = endpoint_histories(&recorded);
    let (old_histories, new_histories): (Vec<_>, Vec<_>) =
        histories.iter().partition(|(pod, _)| old.contains(pod));
    assert_eq!(
        (old_histories.len(), new_histories.len()),
        (3, 3),
        "{histories:#?}"
    );
    for (pod, seen) in old_histories {
        assert_eq!(
            seen,
            &[
                Seen::Conditions(true, true, false),
                Seen::Conditions(false, true, true),
                Seen::Gone
            ],
            "old pod {pod}"
        );
    }
    for (pod, seen) in new_histories {
        assert_eq!(
            seen,
            &[
                Seen::Conditions(false, false, false),
                Seen::Conditions(true, true, false)
            ],
            "new pod {pod}"
        );
    }

    // The named targetPort resolved to the container's port.
    let slice = &store.list(Resource::EndpointSlice, Some("default")).0[0];
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "web"
    );
    assert_eq!(slice["endpoints"][0]["zone"], "zone-1");

    let status = deployment_status(&store);
    let progressing = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");

    // The Service goes, and its slices with it.
    store.delete(Resource::Service, "default", "web").unwrap();
    settle(&store, "slices removed with their Service", |s| {
        s.list(Resource::EndpointSlice, None).0.is_empty()
    })
    .await;

    kubelet.stop().await;
    controllers.stop().await;
}

#[tokio::test]
async fn a_cordoned_node_gets_no_new_pods() {
    let store = cluster(&[("node-a", false), ("node-b", false), ("node-c", true)]);
    let controllers = Controllers::start(store.clone());
    let kubelet = FakeKubelet::start(store.clone());
    store.apply(deployment(4, "web:v1")).unwrap();
    settle(&store, "4 pods ready", |s| rolled_out(s, 4)).await;
    let all = pods(&store);
    assert!(
        all.iter().all(|p| p["spec"]["nodeName"] != "node-c"),
        "nothing on the cordoned node"
    );
    let per_node = |n: &str| all.iter().filter(|p| p["spec"]["nodeName"] == n).count();
    assert_eq!((per_node("node-a"), per_node("node-b")), (2, 2));

    // Only the cordoned node would do: the pod stays Pending and says why.
    let mut pinned = deployment(1, "web:v1");
    pinned["metadata"]["name"] = json!("pinned");
    pinned["spec"]["selector"]["matchLabels"]["app"] = json!("pinned");
    pinned["spec"]["template"]["metadata"]["labels"]["app"] = json!("pinned");
    pinned["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/hostname": "node-c"});
    store.apply(pinned).unwrap();
    let message = "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. \
                   preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    let unschedulable = |s: &Store| {
        pods(s).iter().any(|p| {
            p["metadata"]["labels"]["app"] == "pinned"
                && p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["type"] == "PodScheduled"
                            && c["reason"] == "Unschedulable"
                            && c["message"] == message
                    })
                })
        })
    };
    settle(&store, "the pinned pod is unschedulable", unschedulable).await;

    // Uncordoned, the node takes it.
    store
        .modify(Resource::Node, "", "node-c", |n| {
            n["spec"]["unschedulable"] = json!(false)
        })
        .unwrap();
    settle(&store, "the pinned pod runs on node-c", |s| {
        pods(s).iter().any(|p| {
            p["metadata"]["labels"]["app"] == "pinned"
                && p["spec"]["nodeName"] == "node-c"
                && ready(p)
        })
    })
    .await;

    kubelet.stop().await;
    controllers.stop().await;
}
