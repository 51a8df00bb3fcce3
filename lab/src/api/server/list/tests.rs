use serde_json::json;

use super::*;

fn pod(namespace: &str, name: &str, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
           "spec": {"nodeName": node}})
}

fn pods(namespace: Option<&str>) -> Target {
    Target {
        resource: Resource::Pod,
        namespace: namespace.map(str::to_owned),
        name: None,
        subresource: None,
        watch_path: false,
    }
}

fn names(page: &Page) -> Vec<String> {
    page.items
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn query(s: &str) -> Query {
    Query::parse(s).unwrap()
}

#[test]
fn continue_tokens_round_trip_and_garbage_is_a_bad_request() {
    let token = ContinueToken {
        revision: 17,
        start: ("web".into(), "a \"quoted\" name".into()),
    };
    assert_eq!(ContinueToken::decode(&token.encode()).unwrap(), token);
    for bad in ["zz", "abc", "7b7d", "é1"] {
        assert_eq!(ContinueToken::decode(bad).unwrap_err().code, 400, "{bad}");
    }
}

#[test]
fn a_past_revision_is_rebuilt_by_undoing_later_events() {
    let store = Store::new();
    store.create(pod("web", "a", "n1")).unwrap();
    store.create(pod("web", "b", "n1")).unwrap();
    let then = store.revision();
    store
        .modify(Resource::Pod, "web", "a", |p| {
            p["spec"]["nodeName"] = json!("n2")
        })
        .unwrap();
    store.delete(Resource::Pod, "web", "b").unwrap();
    store.create(pod("web", "c", "n1")).unwrap();
    store
        .create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}))
        .unwrap();

    let past = at_revision(&store, Resource::Pod, then).unwrap();
    let summary: Vec<(String, Value)> = past
        .iter()
        .map(|((_, name), o)| (name.clone(), o["spec"]["nodeName"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![("a".into(), json!("n1")), ("b".into(), json!("n1"))]
    );
    assert_eq!(
        at_revision(&store, Resource::Pod, store.revision())
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn pages_stay_at_the_first_pages_revision_while_objects_change() {
    let store = Store::new();
    for name in ["a", "b", "c", "d", "e"] {
        store.create(pod("web", name, "n1")).unwrap();
    }
    let selector = Selector::default();
    let first = list(&store, &pods(None), &query("limit=2"), &selector)
        .await
        .unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.remaining, Some(3));
    // Between pages: one object goes, one comes, one changes.
    store.delete(Resource::Pod, "web", "c").unwrap();
    store.create(pod("web", "bb", "n1")).unwrap();
    store
        .modify(Resource::Pod, "web", "d", |p| {
            p["spec"]["nodeName"] = json!("n9")
        })
        .unwrap();
    let token = first.continue_token.clone().unwrap().encode();
    let second = list(
        &store,
        &pods(None),
        &query(&format!("limit=2&continue={token}")),
        &selector,
    )
    .await
    .unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    assert_eq!(second.revision, first.revision);
    assert_eq!(second.items[1]["spec"]["nodeName"], "n1");
    let token = second.continue_token.clone().unwrap().encode();
    let third = list(
        &store,
        &pods(None),
        &query(&format!("limit=2&continue={token}")),
        &selector,
    )
    .await
    .unwrap();
    assert_eq!(names(&third), ["e"]);
    assert!(third.continue_token.is_none());
    let json: Value = serde_json::from_slice(&third.to_json(Resource::Pod)).unwrap();
    assert_eq!(json["kind"], "PodList");
    assert!(json["metadata"].get("continue").is_none());
}

#[tokio::test]
async fn a_continue_token_older_than_the_history_has_expired() {
    let store = Store::with_history(2);
    for name in ["a", "b", "c"] {
        store.create(pod("web", name, "n1")).unwrap();
    }
    let selector = Selector::default();
    let first = list(&store, &pods(Some("web")), &query("limit=1"), &selector)
        .await
        .unwrap();
    for name in ["x", "y", "z"] {
        store.create(pod("other", name, "n1")).unwrap();
    }
    let token = first.continue_token.unwrap().encode();
    let err = list(
        &store,
        &pods(Some("web")),
        &query(&format!("continue={token}")),
        &selector,
    )
    .await
    .unwrap_err();
    assert_eq!((err.code, err.reason), (410, "Expired"));
}

#[tokio::test]
async fn selectors_filter_before_the_limit_and_exact_versions_are_honoured() {
    let store = Store::new();
    store.create(pod("web", "a", "n1")).unwrap();
    let before = store.revision();
    store.create(pod("web", "b", "n2")).unwrap();
    store.create(pod("web", "c", "n1")).unwrap();
    let selector = Selector {
        fields: crate::api::selector::FieldSelector::parse("spec.nodeName=n1", Resource::Pod)
            .unwrap(),
        ..Selector::default()
    };
    let page = list(&store, &pods(None), &query("limit=2"), &selector)
        .await
        .unwrap();
    assert_eq!(names(&page), ["a", "c"]);
    assert!(page.continue_token.is_none() && page.remaining.is_none());

    let exact = format!("resourceVersion={before}&resourceVersionMatch=Exact");
    let page = list(&store, &pods(None), &query(&exact), &Selector::default())
        .await
        .unwrap();
    assert_eq!(
        (names(&page), page.revision),
        (vec!["a".to_owned()], before)
    );
}

#[tokio::test(start_paused = true)]
async fn a_list_from_the_future_waits_then_times_out() {
    let store = Store::new();
    let future = store.revision() + 5;
    let err = list(
        &store,
        &pods(None),
        &query(&format!("resourceVersion={future}")),
        &Selector::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, 504);
    assert!(err.message.contains("Too large resource version"), "{err}");
}
