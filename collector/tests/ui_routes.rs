//! The web UI's routes on the collector's listener, over plain TCP on 127.0.0.1: the page and its
//! files, and the two endpoints it reads (`/api/v1/overview`, `/api/v1/lanes`).

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

#[path = "http_support/served.rs"]
mod served;

use std::net::SocketAddr;
use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_collector::model::{Batch, DropCounts, Sink};
use probesim_collector::store::SqliteStore;
use probesim_collector::store::synthetic::{self, at_ms};
use serde_json::Value;
use served::Served;

const T0: u64 = 1_700_000_000_000;

/// Status, head (lowercase) and body of a GET.
async fn request(addr: SocketAddr, target: &str, extra: &str) -> (u16, String, String) {
    served::request(addr, "GET", target, extra).await
}

async fn ingest(store: &SqliteStore) {
    store.agent_connected(&synthetic::agent_info("node-1"));
    let backend = synthetic::backend(1, "web", "node-1", 5);
    let spec = backend.spec.clone();
    let mut events = vec![Event::Backend(backend)];
    for prober in 0..synthetic::PROBERS {
        let at = at_ms(T0 + 1000 + u64::from(prober) * 100);
        let ok = Outcome::HttpStatus(200);
        let r = synthetic::result(&spec, 1, prober, at, ok, Duration::from_millis(2));
        events.push(Event::Result(r));
        let change = synthetic::transition(1, prober, LbState::Initial, LbState::Healthy, None, at);
        events.push(Event::Transition(change));
    }
    let batch = Batch {
        agent: synthetic::agent_id("node-1"),
        sequence: 1,
        sent_at: at_ms(T0 + 3000),
        events,
        dropped: DropCounts::default(),
    };
    store.accept(batch).await.unwrap();
}

#[tokio::test]
async fn ui_page_and_its_endpoints_answer_on_the_collectors_listener() {
    let (_dir, store) = served::store().await;
    ingest(&store).await;
    let served = Served::start(&store).await;
    let addr = served.addr;

    let (status, head, body) = request(addr, "/", "").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(body.contains("ui/app.js"), "{body}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .to_owned();
    let (status, _, body) = request(addr, "/", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!((status, body.as_str()), (304, ""));
    let (status, _, _) = request(addr, "/ui/missing.js", "").await;
    assert_eq!(status, 404);

    let (status, _, body) = request(addr, "/api/v1/overview", "").await;
    assert_eq!(status, 200, "{body}");
    let overview: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["backends"], 1);
    let column = &overview["groups"][0]["versions"][0];
    assert_eq!(column["verdict"], "ok", "{overview}");
    assert_eq!(column["members"][0]["state"], "healthy");

    let range = format!("from={}&to={}", T0, T0 + 10_000);
    let (status, _, body) = request(addr, &format!("/api/v1/lanes?{range}"), "").await;
    assert_eq!(status, 200, "{body}");
    let lanes: Value = serde_json::from_str(&body).unwrap();
    let lane = &lanes["lanes"][0];
    assert_eq!(lane["pod"], "default/web-5");
    let states: Vec<&str> = lane["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.last(), Some(&"healthy"), "{lane}");
    assert!(
        lane["density"][0]["successes"].as_u64().unwrap() > 0,
        "{lane}"
    );

    for bad in [
        "/api/v1/lanes?lb=elb",
        "/api/v1/overview?from=1",
        "/api/v1/lanes?width=3",
    ] {
        let (status, _, body) = request(addr, bad, "").await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    served.stop().await;
}
