use serde_json::json;

use super::*;

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "web"},
           "spec": {"nodeName": "node-1"}})
}

#[test]
fn writes_stamp_metadata_and_take_increasing_revisions() {
    let store = Store::new();
    let created = store.create(pod("a")).expect("create");
    let rv: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rv, store.revision());
    assert!(created["metadata"]["uid"].is_string());
    assert!(
        created["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(created["metadata"]["generation"], 1);

    let mut changed = created.clone();
    changed["spec"]["nodeName"] = json!("node-2");
    let updated = store.update(changed).expect("update");
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(updated["metadata"]["generation"], 2);
    let rv2: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv);
}

#[test]
fn a_stale_resource_version_is_a_conflict_and_duplicates_are_refused() {
    let store = Store::new();
    let created = store.create(pod("a")).expect("create");
    store
        .modify(Resource::Pod, "web", "a", |p| {
            p["metadata"]["labels"] = json!({"x": "y"})
        })
        .expect("modify");
    assert!(matches!(
        store.update(created),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.create(pod("a")),
        Err(StoreError::AlreadyExists { .. })
    ));
    let err =
        store.create(json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}));
    assert_eq!(
        err.unwrap_err().to_string(),
        "apiVersion \"v1\" kind \"Widget\" is not served by the lab"
    );
}

#[test]
fn generate_name_gives_distinct_names() {
    let store = Store::new();
    let template =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-7d9f-"}});
    let a = store.create(template.clone()).expect("a");
    let b = store.create(template).expect("b");
    let (a, b) = (
        a["metadata"]["name"].as_str().unwrap(),
        b["metadata"]["name"].as_str().unwrap(),
    );
    assert!(
        a.starts_with("web-7d9f-") && a.len() == "web-7d9f-".len() + 5,
        "{a}"
    );
    assert_ne!(a, b);
}

#[test]
fn lists_are_per_resource_and_namespace() {
    let store = Store::new();
    store.create(pod("a")).unwrap();
    store.create(pod("b")).unwrap();
    store.create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c", "namespace": "other"}})).unwrap();
    store.create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "namespace": "ignored"}})).unwrap();
    assert_eq!(store.list(Resource::Pod, None).0.len(), 3);
    assert_eq!(store.list(Resource::Pod, Some("web")).0.len(), 2);
    let (nodes, _) = store.list(Resource::Node, None);
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0]["metadata"].get("namespace").is_none());
    let typed: Vec<k8s_openapi::api::core::v1::Pod> = store.list_typed(Some("web"));
    assert_eq!(typed.len(), 2);
}

#[test]
fn watches_resume_from_history_and_an_old_revision_is_gone() {
    let store = Store::with_history(3);
    let start = store.revision();
    store.create(pod("a")).unwrap();
    let (past, _rx) = store.watch_from(start).expect("resumable");
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].kind, EventType::Added);
    for name in ["b", "c", "d"] {
        store.create(pod(name)).unwrap();
    }
    store.delete(Resource::Pod, "web", "a").unwrap();
    assert!(matches!(
        store.watch_from(start),
        Err(StoreError::Gone { .. })
    ));
    let (past, _rx) = store.watch_from(store.revision() - 2).expect("recent");
    assert_eq!(past.len(), 2);
    assert_eq!(past[1].kind, EventType::Deleted);
    assert_eq!(
        past[1].object["metadata"]["resourceVersion"],
        json!(store.revision().to_string())
    );
}

#[tokio::test]
async fn subscribers_see_every_write() {
    let store = Store::new();
    let mut events = store.subscribe();
    let mut revisions = store.revisions();
    store.create(pod("a")).unwrap();
    store.delete(Resource::Pod, "web", "a").unwrap();
    assert_eq!(events.recv().await.unwrap().kind, EventType::Added);
    assert_eq!(events.recv().await.unwrap().kind, EventType::Deleted);
    revisions.changed().await.unwrap();
    assert_eq!(*revisions.borrow(), store.revision());
}

#[test]
fn deleting_a_bound_pod_marks_it_terminating_and_other_objects_go_at_once() {
    let store = Store::new();
    let mut bound = pod("a");
    bound["spec"]["terminationGracePeriodSeconds"] = json!(45);
    store.create(bound).unwrap();
    let marked = store
        .delete_gracefully(Resource::Pod, "web", "a", None)
        .unwrap();
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 45);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert!(store.get(Resource::Pod, "web", "a").is_some());
    store
        .delete_gracefully(Resource::Pod, "web", "a", Some(0))
        .unwrap();
    assert!(store.get(Resource::Pod, "web", "a").is_none());
    store.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "web"}})).unwrap();
    store
        .delete_gracefully(Resource::Service, "web", "s", None)
        .unwrap();
    assert!(store.get(Resource::Service, "web", "s").is_none());
}
