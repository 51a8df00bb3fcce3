//! History and the current view, filtered: by Service, node, LB and version; lifecycle events and
//! gaps narrowed to the chosen backends; agents as they connected and left.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::event::{Event, Lifecycle, LifecycleKind};
use probesim_agent::lb::health::LbState;
use probesim_agent::model::{LbKind, ObjectRef};
use probesim_collector::model::{Batch, DropCounts, Sink, SinkError};
use probesim_collector::store::synthetic::{self, at_ms};
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};

const T0: u64 = 1_700_000_000_000;

fn range() -> TimeRange {
    TimeRange {
        from: at_ms(T0 - 1000),
        to: at_ms(T0 + 60_000),
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        flush_interval: Duration::from_millis(5),
        ..StoreConfig::default()
    }
}

/// Backend `id` of Service `service` on `node` (pod `pod`), with one transition.
fn declare(id: u64, service: &str, node: &str, pod: u8, lb: LbKind, version: &str) -> Vec<Event> {
    let mut backend = (*synthetic::backend(id, service, node, pod)).clone();
    backend.key.lb = lb;
    backend.key.version.version = version.to_owned();
    let change = synthetic::transition(
        id,
        0,
        LbState::Initial,
        LbState::Healthy,
        None,
        at_ms(T0 + id),
    );
    vec![Event::Backend(Arc::new(backend)), Event::Transition(change)]
}

fn pod_event(name: &str, pod: u8) -> Event {
    Event::Lifecycle(Lifecycle {
        kind: LifecycleKind::PodTerminating,
        object: ObjectRef::new("Pod", "default", name),
        node: None,
        address: Some(IpAddr::V4(Ipv4Addr::new(10, 244, 0, pod))),
        object_time: Some(at_ms(T0 + 10)),
        seen_at: at_ms(T0 + 20),
        detail: vec![("grace_period_s".to_owned(), "30".to_owned())],
    })
}

fn batch(node: &str, sequence: u64, events: Vec<Event>, dropped: u64) -> Batch {
    Batch {
        agent: synthetic::agent_id(node),
        sequence,
        sent_at: at_ms(T0 + 30_000 * sequence),
        events,
        dropped: DropCounts {
            results: dropped,
            ..DropCounts::default()
        },
    }
}

async fn filled() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), config())
        .await
        .unwrap();
    for node in ["node-1", "node-2"] {
        store.agent_connected(&synthetic::agent_info(node));
    }
    let mut one = declare(1, "web", "node-1", 1, LbKind::Alb, "1.33");
    one.extend(declare(2, "api", "node-1", 2, LbKind::Nlb, "1.33"));
    one.extend(declare(3, "web", "node-1", 1, LbKind::Alb, "1.34"));
    one.push(pod_event("web-1", 1));
    one.push(pod_event("api-2", 2));
    store.accept(batch("node-1", 1, one, 0)).await.unwrap();
    store
        .accept(batch(
            "node-2",
            1,
            declare(1, "web", "node-2", 3, LbKind::Alb, "1.33"),
            0,
        ))
        .await
        .unwrap();
    store.accept(batch("node-2", 2, vec![], 5)).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn filters_choose_backends_by_service_node_lb_and_version() {
    let (_dir, store) = filled().await;
    let service = |s: &str| Filter {
        service: Some(format!("default/{s}")),
        ..Filter::default()
    };
    let table = [
        (Filter::default(), 4),
        (service("web"), 3),
        (service("api"), 1),
        (service("nothing"), 0),
        (
            Filter {
                node: Some("node-2".to_owned()),
                ..Filter::default()
            },
            1,
        ),
        (
            Filter {
                lb: Some(LbKind::Nlb),
                ..Filter::default()
            },
            1,
        ),
        (
            Filter {
                version: Some("1.34".to_owned()),
                ..Filter::default()
            },
            1,
        ),
        (
            Filter {
                version: Some("1.33".to_owned()),
                node: Some("node-1".to_owned()),
                ..service("web")
            },
            1,
        ),
    ];
    for (filter, n) in table {
        let history = store.history(range(), filter.clone()).await.unwrap();
        assert_eq!(history.backends.len(), n, "{filter:?}");
        assert_eq!(store.backends_now(&filter).len(), n, "{filter:?}");
        for b in &history.backends {
            assert!(filter.matches(&b.key));
            assert_eq!(b.changes.len(), 1);
        }
    }
    store.close().await;
}

#[tokio::test]
async fn a_filtered_history_keeps_only_the_lifecycle_gaps_and_agents_of_its_backends() {
    let (_dir, store) = filled().await;
    let all = store.history(range(), Filter::default()).await.unwrap();
    assert_eq!(
        (all.lifecycle.len(), all.gaps.len(), all.agents.len()),
        (2, 1, 2)
    );

    let api = Filter {
        service: Some("default/api".to_owned()),
        ..Filter::default()
    };
    let history = store.history(range(), api).await.unwrap();
    assert_eq!(history.lifecycle.len(), 1);
    assert_eq!(history.lifecycle[0].object.name, "api-2");
    assert!(history.gaps.is_empty(), "the gap is node-2's");
    assert_eq!(history.agents.len(), 1);
    assert_eq!(history.agents[0].node, "node-1");

    let node2 = Filter {
        node: Some("node-2".to_owned()),
        ..Filter::default()
    };
    let history = store.history(range(), node2).await.unwrap();
    assert_eq!(history.gaps.len(), 1);
    assert_eq!(history.gaps[0].dropped.results, 5);
    assert!(history.lifecycle.is_empty());

    // A range before anything happened holds no backend.
    let early = TimeRange {
        from: at_ms(0),
        to: at_ms(1000),
    };
    assert!(
        store
            .history(early, Filter::default())
            .await
            .unwrap()
            .backends
            .is_empty()
    );
    store.close().await;
}

#[tokio::test]
async fn agents_are_kept_as_they_connected_and_left_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = SqliteStore::open(&path, config()).await.unwrap();
    let info = synthetic::agent_info("node-1");
    store.agent_connected(&info);
    store.flush().await;
    assert!(store.agents()[0].connected);
    store.agent_disconnected(&info.id, at_ms(T0 + 5));
    store.flush().await;
    let agent = store.agent(&info.id).unwrap();
    assert!(!agent.connected);
    assert_eq!(agent.disconnected_at, Some(at_ms(T0 + 5)));
    store.close().await;

    let store = SqliteStore::open(&path, config()).await.unwrap();
    let agent = store.agent(&info.id).unwrap();
    assert_eq!(agent.info.as_deref(), Some(&info));
    assert_eq!(agent.disconnected_at, Some(at_ms(T0 + 5)));
    store.close().await;
}

#[tokio::test]
async fn a_closed_store_refuses_batches_naming_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), config())
        .await
        .unwrap();
    store.close().await;
    let err = store
        .accept(batch("node-1", 1, vec![], 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SinkError::Storage(m) if m.contains("p.db") && m.contains("closed")),
        "{err}"
    );
}

#[tokio::test]
async fn a_range_starts_with_each_probers_last_change_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), config())
        .await
        .unwrap();
    let change = |prober, from, to, ms| {
        Event::Transition(synthetic::transition(
            1,
            prober,
            from,
            to,
            None,
            at_ms(T0 + ms),
        ))
    };
    let events = vec![
        Event::Backend(synthetic::backend(1, "web", "node-1", 1)),
        change(0, LbState::Initial, LbState::Healthy, 1_000),
        change(1, LbState::Initial, LbState::Healthy, 2_000),
        change(0, LbState::Healthy, LbState::Unhealthy, 3_000),
        change(0, LbState::Unhealthy, LbState::Healthy, 10_000),
    ];
    store.accept(batch("node-1", 1, events, 0)).await.unwrap();
    let from_5s = TimeRange {
        from: at_ms(T0 + 5_000),
        to: at_ms(T0 + 60_000),
    };
    let history = store.history(from_5s, Filter::default()).await.unwrap();
    let seen: Vec<(u32, LbState, u64)> = history.backends[0]
        .changes
        .iter()
        .map(|c| {
            (
                c.prober,
                c.to,
                c.at.duration_since(at_ms(T0)).unwrap().as_millis() as u64,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, LbState::Healthy, 2_000),
            (0, LbState::Unhealthy, 3_000),
            (0, LbState::Healthy, 10_000),
        ]
    );
    store.close().await;
}
