//! kube-rs against the fake API server: what the agent's discovery will do.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use probesim_lab::api::{Resource, Store};
use serde_json::json;

use crate::{Running, eventually, node, pod};

fn client(running: &Running) -> kube::Client {
    let url: hyper::Uri = running.url().parse().expect("url");
    kube::Client::try_from(kube::Config::new(url)).expect("client")
}

/// What a watcher has told: the objects by name with their `step` label, and its relists.
#[derive(Debug, Default)]
struct Seen {
    pods: BTreeMap<String, String>,
    relists: usize,
}

/// Runs a watcher in the background, keeping what it tells in `Seen`.
fn follow(
    api: Api<Pod>,
    config: watcher::Config,
) -> (Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, config).default_backoff().boxed();
        let mut building = BTreeMap::new();
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            let step = |p: &Pod| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                labels.get("step").cloned().unwrap_or_default()
            };
            let name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();
            let mut seen = state.lock().expect("test setup");
            match event {
                watcher::Event::Init => building.clear(),
                watcher::Event::InitApply(p) => {
                    building.insert(name(&p), step(&p));
                }
                watcher::Event::InitDone => {
                    seen.pods = std::mem::take(&mut building);
                    seen.relists += 1;
                }
                watcher::Event::Apply(p) => {
                    seen.pods.insert(name(&p), step(&p));
                }
                watcher::Event::Delete(p) => {
                    seen.pods.remove(&name(&p));
                }
            }
        }
    });
    (seen, task)
}

fn names(seen: &Mutex<Seen>) -> Vec<String> {
    seen.lock()
        .expect("test setup")
        .pods
        .keys()
        .cloned()
        .collect()
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_watcher_on_one_nodes_pods_follows_the_store_and_relists_after_410() {
    let store = Arc::new(Store::with_history(4));
    store.create(node("n1")).unwrap();
    store.create(pod("web", "a", "n1")).unwrap();
    store.create(pod("web", "b", "n2")).unwrap();
    let mut running = Running::start(store.clone()).await;
    let api: Api<Pod> = Api::all(client(&running));
    let (seen, task) = follow(api, watcher::Config::default().fields("spec.nodeName=n1"));
    eventually(WAIT, "initial list", || names(&seen) == ["a"]).await;

    store.create(pod("web", "c", "n1")).unwrap();
    eventually(WAIT, "c added", || names(&seen) == ["a", "c"]).await;
    store
        .modify(Resource::Pod, "web", "c", |p| {
            p["metadata"]["labels"]["step"] = json!("2")
        })
        .unwrap();
    eventually(WAIT, "c modified", || {
        seen.lock().unwrap().pods.get("c").map(String::as_str) == Some("2")
    })
    .await;
    // Leaving the node's selection is a deletion for this watch.
    store
        .modify(Resource::Pod, "web", "a", |p| {
            p["spec"]["nodeName"] = json!("n2")
        })
        .unwrap();
    store.delete(Resource::Pod, "web", "c").unwrap();
    eventually(WAIT, "a moved away, c deleted", || names(&seen).is_empty()).await;

    // While the server is away, more changes than the history keeps: the watcher's resource
    // version is compacted, its watch gets 410 and it lists again.
    running.stop().await;
    for name in ["d", "e", "f", "g", "h"] {
        store
            .create(pod("web", name, if name == "e" { "n2" } else { "n1" }))
            .unwrap();
    }
    running.restart().await;
    eventually(WAIT, "relisted after 410", || {
        let seen = seen.lock().unwrap();
        seen.relists == 2 && seen.pods.keys().eq(["d", "f", "g", "h"].iter())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_initial_events_then_changes() {
    let store = Store::new();
    store.create(pod("web", "a", "n1")).unwrap();
    let running = Running::start(store.clone()).await;
    let api: Api<Pod> = Api::namespaced(client(&running), "web");
    let config = watcher::Config::default()
        .labels("app=web")
        .streaming_lists();
    let (seen, task) = follow(api, config);
    eventually(WAIT, "initial events", || names(&seen) == ["a"]).await;
    store.create(pod("web", "b", "n1")).unwrap();
    store.create(pod("other", "x", "n1")).unwrap();
    eventually(WAIT, "b added", || names(&seen) == ["a", "b"]).await;
    task.abort();
}

#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let store = Store::new();
    for i in 0..5 {
        store.create(pod("web", &format!("p{i}"), "n1")).unwrap();
    }
    store.create(pod("other", "q", "n1")).unwrap();
    let running = Running::start(store.clone()).await;
    let api: Api<Pod> = Api::namespaced(client(&running), "web");
    let mut params = ListParams::default().limit(2);
    let mut pages = Vec::new();
    loop {
        let page = api.list(&params).await.expect("list");
        pages.push(
            page.items
                .iter()
                .map(|p| p.metadata.name.clone().unwrap())
                .collect::<Vec<_>>(),
        );
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() && pages.len() < 10 => {
                params = params.continue_token(&token);
                // Objects created between pages are not in this list.
                store
                    .create(pod("web", &format!("late{}", pages.len()), "n1"))
                    .unwrap();
            }
            _ => break,
        }
    }
    assert_eq!(pages, [vec!["p0", "p1"], vec!["p2", "p3"], vec!["p4"]]);
    let all = Api::<Pod>::all(client(&running))
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 8);
}

#[tokio::test]
async fn writes_through_kube_create_patch_replace_and_delete() {
    let store = Store::new();
    let running = Running::start(store.clone()).await;
    let api: Api<Pod> = Api::namespaced(client(&running), "web");
    let mut new: Pod = serde_json::from_value(pod("web", "", "n1")).unwrap();
    new.metadata.name = None;
    new.metadata.generate_name = Some("web-".into());
    // A dry run would be a real write in the lab's store: it is refused.
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let err = api.create(&dry_run, &new).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 400),
        "{err}"
    );
    assert!(store.list(Resource::Pod, None).0.is_empty());
    let created = api
        .create(&PostParams::default(), &new)
        .await
        .expect("create");
    let name = created.metadata.name.clone().unwrap();
    assert!(name.starts_with("web-"));

    let patch = json!({"metadata": {"annotations": {"probesim.io/note": "x"}}});
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("merge patch");
    assert_eq!(
        patched.metadata.annotations.unwrap()["probesim.io/note"],
        "x"
    );
    let status = json!({"status": {"phase": "Running", "podIP": "10.244.1.5"}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status patch");
    // A write of the object itself leaves its status alone, as in Kubernetes.
    let ignored = json!({"status": {"phase": "Failed"}});
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(&ignored))
        .await
        .expect("strategic patch");
    assert_eq!(
        api.get(&name)
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Running")
    );

    // A replace from a stale copy conflicts.
    let err = api
        .replace(&name, &PostParams::default(), &created)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err}"
    );

    let deleted = api
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let terminating = deleted
        .left()
        .expect("the pod is returned while it terminates");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    api.delete(&name, &DeleteParams::default().grace_period(0))
        .await
        .expect("force delete");
    let err = api.get(&name).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404),
        "{err}"
    );
}
