//! Raw HTTP against the fake API server: what clients hide (410s, bookmarks, error Statuses).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use probesim_lab::api::{ApiServerConfig, Resource, Store};
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::{Running, node, pod};

/// Longest a request may take, watches included.
const REQUEST_LIMIT: Duration = Duration::from_secs(20);

/// GET `path` on a fresh connection and read the whole body (a watch until it ends).
async fn get(running: &Running, path: &str) -> (StatusCode, Bytes) {
    tokio::time::timeout(REQUEST_LIMIT, async {
        let stream = TcpStream::connect(running.address)
            .await
            .expect("test setup");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("test setup");
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", running.address.to_string())
            .body(Empty::<Bytes>::new())
            .expect("test setup");
        let response = sender.send_request(request).await.expect("test setup");
        let status = response.status();
        (
            status,
            response
                .into_body()
                .collect()
                .await
                .expect("test setup")
                .to_bytes(),
        )
    })
    .await
    .unwrap_or_else(|_| panic!("GET {path} took longer than {REQUEST_LIMIT:?}"))
}

async fn get_json(running: &Running, path: &str) -> (StatusCode, Value) {
    let (status, body) = get(running, path).await;
    let value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "GET {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, value)
}

/// The lines of a watch that ended.
fn events(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("test setup"))
        .collect()
}

/// A history of 3 events, outrun by 5 writes.
fn compacted_store() -> (std::sync::Arc<Store>, u64) {
    let store = std::sync::Arc::new(Store::with_history(3));
    let start = store.revision();
    for i in 0..5 {
        store
            .create(pod("web", &format!("p{i}"), "n1"))
            .expect("test setup");
    }
    (store, start)
}

#[tokio::test]
async fn a_too_old_resource_version_is_410_for_an_exact_list_and_an_error_event_for_a_watch() {
    let (store, start) = compacted_store();
    let running = Running::start(store).await;

    let path = format!("/api/v1/pods?resourceVersion={start}&resourceVersionMatch=Exact");
    let (status, body) = get_json(&running, &path).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        (&body["kind"], &body["reason"], &body["code"]),
        (&json!("Status"), &json!("Expired"), &json!(410))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("too old resource version"),
        "{body}"
    );

    let (status, body) = get(
        &running,
        &format!("/api/v1/pods?watch=1&resourceVersion={start}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines = events(&body);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["type"], "ERROR");
    assert_eq!(lines[0]["object"]["code"], 410);

    // The same through the legacy watch path, in one namespace.
    let (_, body) = get(
        &running,
        &format!("/api/v1/watch/namespaces/web/pods?resourceVersion={start}"),
    )
    .await;
    assert_eq!(events(&body)[0]["object"]["code"], 410);
}

#[tokio::test]
async fn a_continue_token_outlived_by_the_history_is_410_expired() {
    let store = std::sync::Arc::new(Store::with_history(3));
    for i in 0..3 {
        store.create(pod("web", &format!("p{i}"), "n1")).unwrap();
    }
    let running = Running::start(store.clone()).await;
    let (status, first) = get_json(&running, "/api/v1/namespaces/web/pods?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["kind"], "PodList");
    assert_eq!(first["metadata"]["remainingItemCount"], 2);
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    let (status, _) = get_json(
        &running,
        &format!("/api/v1/namespaces/web/pods?limit=1&continue={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..4 {
        store.create(pod("other", &format!("q{i}"), "n1")).unwrap();
    }
    let (status, body) = get_json(
        &running,
        &format!("/api/v1/namespaces/web/pods?limit=1&continue={token}"),
    )
    .await;
    assert_eq!(
        (status, &body["reason"]),
        (StatusCode::GONE, &json!("Expired")),
        "{body}"
    );
}

#[tokio::test]
async fn watches_with_bookmarks_send_them_and_end_at_their_timeout() {
    let store = Store::new();
    let config = ApiServerConfig {
        bookmark_interval: Duration::from_millis(300),
        ..ApiServerConfig::default()
    };
    let running = Running::with_config(store.clone(), config).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            store.create(pod("web", "elsewhere", "n2")).unwrap();
        })
    };
    let path = "/api/v1/pods?watch=true&allowWatchBookmarks=true&timeoutSeconds=2&fieldSelector=spec.nodeName%3Dn1";
    let (status, body) = get(&running, path).await;
    writer.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let events = events(&body);
    assert!(events.len() >= 3, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["type"] == "BOOKMARK" && e["object"]["kind"] == "Pod"),
        "{events:?}"
    );
    let last = &events[events.len() - 1]["object"]["metadata"]["resourceVersion"];
    assert_eq!(last, &json!(store.revision().to_string()));
}

#[tokio::test]
async fn errors_are_statuses_kubectl_can_print() {
    let store = Store::new();
    store.create(node("n1")).unwrap();
    let running = Running::start(store).await;
    let cases = [
        (
            "/api/v1/namespaces/web/pods/nope",
            404,
            "NotFound",
            "pods \"nope\" not found",
        ),
        (
            "/apis/apps/v1/namespaces/web/deployments/d",
            404,
            "NotFound",
            "deployments.apps \"d\" not found",
        ),
        (
            "/api/v1/pods?fieldSelector=spec.foo%3Dx",
            400,
            "BadRequest",
            "field label not supported: spec.foo",
        ),
        (
            "/api/v1/services?fieldSelector=spec.nodeName%3Dn1",
            400,
            "BadRequest",
            "field label not supported: spec.nodeName",
        ),
        (
            "/api/v1/pods?labelSelector=app%20in%20(web",
            400,
            "BadRequest",
            "app in (web",
        ),
        (
            "/apis/batch/v1/jobs",
            404,
            "NotFound",
            "/apis/batch/v1/jobs",
        ),
        (
            "/api/v1/nodes/n9/proxy/healthz",
            404,
            "NotFound",
            "nodes \"n9\" not found",
        ),
    ];
    for (path, code, reason, message) in cases {
        let (status, body) = get_json(&running, path).await;
        assert_eq!(status.as_u16(), code, "{path}: {body}");
        assert_eq!(body["reason"], reason, "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
    }
    let (status, body) = get(&running, "/api/v1/nodes/n1/proxy/healthz").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    running.server.set_node_tunnel("n1", false);
    let (status, body) = get_json(&running, "/api/v1/nodes/n1/proxy/anything/else").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["message"],
        probesim_lab::api::server::TUNNEL_DOWN_MESSAGE
    );
    running.server.set_node_tunnel("n1", true);
    assert_eq!(
        get(&running, "/api/v1/nodes/n1/proxy/healthz").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn discovery_and_version_describe_what_is_served() {
    let running = Running::start(Store::new()).await;
    let (_, version) = get_json(&running, "/version").await;
    assert_eq!(
        (&version["gitVersion"], &version["minor"]),
        (&json!("v1.30.4"), &json!("30"))
    );
    let (_, core) = get_json(&running, "/api?timeout=32s").await;
    assert_eq!(core["versions"], json!(["v1"]));
    let (_, groups) = get_json(&running, "/apis").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["discovery.k8s.io", "networking.k8s.io", "apps"]);
    let (_, apps) = get_json(&running, "/apis/apps/v1").await;
    assert_eq!(apps["resources"][0]["shortNames"], json!(["deploy"]));
    assert_eq!(get(&running, "/readyz").await.0, StatusCode::OK);
    let (status, openapi) = get_json(&running, "/openapi/v2").await;
    assert_eq!(
        (status, &openapi["definitions"]),
        (StatusCode::OK, &json!({}))
    );
    assert_eq!(
        get(&running, "/openapi/v3/apis/apps/v1").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn hundreds_of_concurrent_watches_each_see_a_change() {
    const WATCHES: usize = 300;
    let store = Store::new();
    let running = std::sync::Arc::new(Running::start(store.clone()).await);
    // From a given version, so a watch that starts late still sees both changes.
    let from = store.revision();
    let watches: Vec<_> = (0..WATCHES)
        .map(|i| {
            let running = running.clone();
            let node = if i % 2 == 0 { "n1" } else { "n2" };
            tokio::spawn(async move {
                let path = format!(
                    "/api/v1/pods?watch=1&resourceVersion={from}&timeoutSeconds=3&fieldSelector=spec.nodeName%3D{node}"
                );
                let (_, body) = get(&running, &path).await;
                (node, events(&body))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    store.create(pod("web", "a", "n1")).unwrap();
    store
        .modify(Resource::Pod, "web", "a", |p| {
            p["metadata"]["labels"]["step"] = json!("2")
        })
        .unwrap();
    for watch in watches {
        let (node, events) = watch.await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        let expected: &[&str] = if node == "n1" {
            &["ADDED", "MODIFIED"]
        } else {
            &[]
        };
        assert_eq!(kinds, expected, "{node}");
    }
}
