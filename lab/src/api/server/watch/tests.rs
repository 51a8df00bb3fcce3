use serde_json::json;

use super::*;
use crate::api::selector::FieldSelector;

fn pod(name: &str, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "web"}, "spec": {"nodeName": node}})
}

fn on_node(node: &str) -> Filter {
    Filter {
        resource: Resource::Pod,
        namespace: None,
        name: None,
        selector: Selector {
            fields: FieldSelector::parse(&format!("spec.nodeName={node}"), Resource::Pod).unwrap(),
            ..Selector::default()
        },
    }
}

fn options(from: Option<u64>) -> Options {
    Options {
        from,
        bookmarks: None,
        initial_events_end: false,
        until: Instant::now() + Duration::from_secs(60),
        form: Form::Object,
    }
}

/// The next line as (type, name or resourceVersion for bookmarks).
async fn next(watch: &mut Watch) -> (String, String) {
    let line = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a line within 5 s")
        .expect("the watch goes on");
    let value: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(line.last(), Some(&b'\n'));
    let kind = value["type"].as_str().unwrap().to_owned();
    let detail = match &*kind {
        "BOOKMARK" => value["object"]["metadata"]["resourceVersion"].clone(),
        "ERROR" => value["object"]["code"].clone(),
        _ => value["object"]["metadata"]["name"].clone(),
    };
    (kind, detail.to_string().trim_matches('"').to_owned())
}

fn pair(kind: &str, detail: &str) -> (String, String) {
    (kind.to_owned(), detail.to_owned())
}

#[tokio::test]
async fn objects_that_start_or_stop_matching_arrive_as_added_or_deleted() {
    let store = Store::new();
    store.create(pod("a", "n1")).unwrap();
    store.create(pod("elsewhere", "n2")).unwrap();
    let mut watch = Watch::start(&store, on_node("n1"), options(None));
    assert_eq!(next(&mut watch).await, pair("ADDED", "a"));

    let move_to = |node: &'static str| move |p: &mut Value| p["spec"]["nodeName"] = json!(node);
    store
        .modify(Resource::Pod, "web", "a", move_to("n2"))
        .unwrap();
    store
        .modify(Resource::Pod, "web", "elsewhere", move_to("n3"))
        .unwrap();
    store
        .modify(Resource::Pod, "web", "a", move_to("n1"))
        .unwrap();
    store
        .modify(Resource::Pod, "web", "a", |p| {
            p["metadata"]["labels"] = json!({"x": "y"})
        })
        .unwrap();
    store.delete(Resource::Pod, "web", "elsewhere").unwrap();
    store.delete(Resource::Pod, "web", "a").unwrap();
    store
        .create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}))
        .unwrap();
    store.create(pod("b", "n1")).unwrap();
    for expected in [
        pair("DELETED", "a"),
        pair("ADDED", "a"),
        pair("MODIFIED", "a"),
        pair("DELETED", "a"),
        pair("ADDED", "b"),
    ] {
        assert_eq!(next(&mut watch).await, expected);
    }
}

#[tokio::test]
async fn a_pod_leaving_the_selection_is_deleted_in_its_last_matching_state_at_the_new_version() {
    let store = Store::new();
    let start = store.revision();
    store.create(pod("a", "n1")).unwrap();
    let moved = store
        .modify(Resource::Pod, "web", "a", |p| {
            p["spec"]["nodeName"] = json!("n2")
        })
        .unwrap();
    let mut watch = Watch::start(&store, on_node("n1"), options(Some(start)));
    assert_eq!(next(&mut watch).await, pair("ADDED", "a"));
    let line = watch.next().await.unwrap();
    let value: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(value["type"], "DELETED");
    assert_eq!(value["object"]["spec"]["nodeName"], "n1");
    assert_eq!(
        value["object"]["metadata"]["resourceVersion"],
        moved["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_sends_one_410_error_and_ends() {
    let store = Store::with_history(2);
    let start = store.revision();
    for name in ["a", "b", "c"] {
        store.create(pod(name, "n1")).unwrap();
    }
    let mut watch = Watch::start(&store, on_node("n1"), options(Some(start)));
    assert_eq!(next(&mut watch).await, pair("ERROR", "410"));
    assert!(watch.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn bookmarks_carry_the_latest_version_passed_even_when_nothing_matched() {
    let store = Store::new();
    let mut watch = Watch::start(
        &store,
        on_node("n1"),
        Options {
            bookmarks: Some(Duration::from_secs(2)),
            initial_events_end: true,
            ..options(None)
        },
    );
    let first = watch.next().await.unwrap();
    let first: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(first["type"], "BOOKMARK");
    assert_eq!(
        first["object"]["metadata"]["annotations"][INITIAL_EVENTS_END],
        "true"
    );
    assert_eq!(first["object"]["kind"], "Pod");

    store.create(pod("elsewhere", "n2")).unwrap();
    let revision = store.revision().to_string();
    assert_eq!(next(&mut watch).await, pair("BOOKMARK", &revision));
}

#[tokio::test(start_paused = true)]
async fn a_watch_ends_at_its_deadline() {
    let store = Store::new();
    let mut watch = Watch::start(&store, on_node("n1"), options(None));
    let started = Instant::now();
    assert!(watch.next().await.is_none());
    assert!(started.elapsed() >= Duration::from_secs(60));
}

#[tokio::test]
async fn a_watch_that_falls_behind_the_store_ends() {
    let store = Store::new();
    let mut watch = Watch::start(&store, on_node("n1"), options(None));
    store.create(pod("a", "n1")).unwrap();
    for i in 0..20_000 {
        store
            .modify(Resource::Pod, "web", "a", |p| {
                p["metadata"]["labels"] = json!({"i": i.to_string()})
            })
            .unwrap();
    }
    assert!(watch.next().await.is_none());
}
