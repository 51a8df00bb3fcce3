//! The HTTP listener answers with what was ingested: every route over plain TCP on 127.0.0.1.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

#[path = "http_support/served.rs"]
mod served;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use probesim_agent::event::{Event, Lifecycle, LifecycleKind};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::ObjectRef;
use probesim_collector::model::{Batch, DropCounts, Sink};
use probesim_collector::store::SqliteStore;
use probesim_collector::store::synthetic::{self, at_ms};
use serde_json::Value;
use served::Served;

const T0: u64 = 1_700_000_000_000;
const RANGE: &str = "from=2023-11-14T22:00:00Z&to=1700000100000";

/// Status, content type and body of one request.
async fn request(addr: SocketAddr, method: &str, target: &str) -> (u16, String, String) {
    let (status, head, body) = served::request(addr, method, target, "").await;
    (status, served::content_type(&head), body)
}

async fn get_json(addr: SocketAddr, target: &str) -> Value {
    let (status, content_type, body) = request(addr, "GET", target).await;
    assert_eq!(status, 200, "{target}: {body}");
    assert_eq!(content_type, "application/json");
    serde_json::from_str(&body).unwrap()
}

fn pod_ready() -> Event {
    Event::Lifecycle(Lifecycle {
        kind: LifecycleKind::PodReady,
        object: ObjectRef::new("Pod", "default", "web-5"),
        node: Some("node-1".to_owned()),
        address: Some(IpAddr::V4(Ipv4Addr::new(10, 244, 0, 5))),
        object_time: Some(at_ms(T0 + 100)),
        seen_at: at_ms(T0 + 150),
        detail: vec![("ready".to_owned(), "true".to_owned())],
    })
}

async fn ingest(store: &SqliteStore) {
    store.agent_connected(&synthetic::agent_info("node-1"));
    let backend = synthetic::backend(1, "web", "node-1", 5);
    let spec = backend.spec.clone();
    let mut events = vec![Event::Backend(backend), pod_ready()];
    for prober in 0..synthetic::PROBERS {
        let at = at_ms(T0 + 1000 + u64::from(prober));
        let r = synthetic::result(
            &spec,
            1,
            prober,
            at,
            Outcome::HttpStatus(200),
            Duration::from_millis(2),
        );
        events.push(Event::Result(r));
        let change = synthetic::transition(1, prober, LbState::Initial, LbState::Healthy, None, at);
        events.push(Event::Transition(change));
    }
    let late = synthetic::transition(
        1,
        0,
        LbState::Healthy,
        LbState::Unhealthy,
        Some(Reason::TargetResponseCodeMismatch(503)),
        at_ms(T0 + 5000),
    );
    events.push(Event::Transition(late));
    let batch = Batch {
        agent: synthetic::agent_id("node-1"),
        sequence: 1,
        sent_at: at_ms(T0 + 6000),
        events,
        dropped: DropCounts {
            results: 3,
            transitions: 0,
            lifecycle: 0,
        },
    };
    store.accept(batch).await.unwrap();
}

#[tokio::test]
async fn every_route_answers_with_what_was_ingested() {
    let (_dir, store) = served::store().await;
    ingest(&store).await;
    let served = Served::start(&store).await;
    let addr = served.addr;

    let (status, _, body) = request(addr, "GET", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    let list = get_json(addr, "/api/v1/backends").await;
    let backends = list["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 1);
    let b = &backends[0];
    assert_eq!(b["service"], "Service/default/web");
    assert_eq!(b["lb"], "alb");
    assert_eq!(b["hop"], "lb");
    assert_eq!(b["target"], "10.244.0.5:8080");
    assert_eq!(b["spec"]["matcher"], "200-299");
    assert_eq!(b["view"]["probers"], 8);
    assert_eq!(b["view"]["states"][0]["state"], "healthy");
    assert_eq!(b["view"]["states"][0]["probers"], 7);
    assert_eq!(b["view"]["states"][1]["state"], "unhealthy");
    assert_eq!(
        b["view"]["reasons"][0]["code"],
        "Target.ResponseCodeMismatch"
    );
    assert_eq!(b["view"]["unanimous"], Value::Null);
    assert_eq!(b["view"]["last_change"]["at"], "2023-11-14T22:13:25.000Z");
    assert_eq!(b["view"]["last_change"]["at_ms"], T0 + 5000);
    let id = b["id"].as_i64().unwrap();

    let filtered = get_json(addr, "/api/v1/backends?service=default/api").await;
    assert_eq!(filtered["backends"].as_array().unwrap().len(), 0);
    let one = get_json(addr, &format!("/api/v1/backends/{id}")).await;
    assert_eq!(one["id"], id);

    let t = get_json(addr, &format!("/api/v1/backends/{id}/timeline?{RANGE}")).await;
    assert_eq!(t["changes"].as_array().unwrap().len(), 9);
    assert_eq!(t["changes"][8]["reason"], "Target.ResponseCodeMismatch");
    assert_eq!(t["changes"][8]["reason_status"], 503);
    assert_eq!(t["rollups"][0]["successes"], 8);
    assert_eq!(t["rollups"][0]["at"], "2023-11-14T22:13:21.000Z");
    assert_eq!(t["rollups"][0]["outcomes"][0]["kind"], "http_status");
    assert_eq!(t["latency_buckets_ms"][0], 1);
    assert_eq!(t["lifecycle"][0]["kind"], "pod-ready");
    assert_eq!(t["lifecycle"][0]["at_ms"], T0 + 100);
    assert_eq!(t["lifecycle"][0]["detail"]["ready"], "true");
    assert_eq!(t["gaps"][0]["dropped"]["results"], 3);
    assert_eq!(t["from"]["at"], "2023-11-14T22:00:00.000Z");

    let h = get_json(addr, &format!("/api/v1/history?{RANGE}&lb=alb")).await;
    assert_eq!(h["backends"][0]["id"], id);
    assert_eq!(h["backends"][0]["rollups"][0]["successes"], 8);
    assert_eq!(h["agents"][0]["id"], "node-1/a1");
    assert_eq!(h["lifecycle"].as_array().unwrap().len(), 1);

    let agents = get_json(addr, "/api/v1/agents").await;
    assert_eq!(agents["agents"][0]["id"], "node-1/a1");
    assert_eq!(agents["agents"][0]["connected"], true);
    assert_eq!(agents["agents"][0]["last_sequence"], 1);
    assert_eq!(agents["agents"][0]["info"]["cloud"], "aws");
    // Its last batch was sent in 2023: connected, but stale.
    assert_eq!(agents["agents"][0]["health"], "stale");

    // The analysis over the same range: the Service with its backends, latencies and findings.
    let latencies = get_json(addr, &format!("/api/v1/latencies?{RANGE}")).await;
    assert_eq!(latencies["latencies"][0]["service"], "default/web");
    assert!(
        latencies["latencies"][0]["backends"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
    let services = get_json(addr, &format!("/api/v1/services?{RANGE}")).await;
    assert_eq!(services["services"][0]["service"], "default/web");
    let (status, content_type, text) =
        request(addr, "GET", &format!("/api/v1/report?{RANGE}&format=text")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/plain; charset=utf-8")
    );
    assert!(text.contains("default/web"), "{text}");
    let (status, _, body) = request(addr, "GET", "/api/v1/report?format=xml").await;
    assert_eq!(status, 400);
    assert!(body.contains("xml"), "{body}");

    let (status, content_type, metrics) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    for line in [
        "probesim_backend_probers{lb=\"alb\",service=\"default/web\",hop=\"lb\",source=\"node\",state=\"healthy\"} 7",
        "probesim_backends{lb=\"alb\",service=\"default/web\",hop=\"lb\",source=\"node\",view=\"mixed\"} 1",
        "probesim_probes_total{lb=\"alb\",verdict=\"success\"} 8",
        "probesim_probe_outcomes_total{lb=\"alb\",outcome=\"http_status\"} 8",
        "probesim_probe_duration_seconds_bucket{lb=\"alb\",le=\"0.002\"} 8",
        "probesim_probe_duration_seconds_count{lb=\"alb\"} 8",
        "probesim_collector_batches_total 1",
        "probesim_collector_results_total 8",
        "probesim_collector_agents{state=\"connected\"} 1",
        "probesim_agent_dropped{kind=\"results\"} 3",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }

    served.stop().await;
    store.close().await;
}

#[tokio::test]
async fn bad_requests_get_an_error_naming_the_parameter_route_or_method() {
    let (_dir, store) = served::store().await;
    let served = Served::start(&store).await;
    let addr = served.addr;
    let table = [
        ("GET", "/api/v1/backends?lb=elb", 400, "lb=\\\"elb\\\""),
        ("GET", "/api/v1/history?from=tomorrow", 400, "from"),
        (
            "GET",
            "/api/v1/history?from=2000&to=1000",
            400,
            "is after to",
        ),
        ("GET", "/api/v1/backends?colour=blue", 400, "colour"),
        ("GET", "/api/v1/backends/abc/timeline", 400, "abc"),
        ("GET", "/api/v1/backends/999/timeline", 404, "999"),
        ("GET", "/api/v1/backends/999", 404, "999"),
        ("GET", "/api/v2/backends", 404, "/api/v2/backends"),
        ("POST", "/api/v1/backends", 405, "POST"),
    ];
    for (method, target, status, mention) in table {
        let (got, content_type, body) = request(addr, method, target).await;
        assert_eq!(got, status, "{method} {target}: {body}");
        assert_eq!(content_type, "application/json");
        let error: Value = serde_json::from_str(&body).unwrap();
        let text = error["error"].as_str().unwrap();
        assert!(body.contains(mention), "{method} {target}: {text}");
    }
    served.stop().await;
    store.close().await;
}
