//! The store survives restarts: schema migrations, last sequences, data, duplicates.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::lb::verdict::Reason;
use probesim_collector::model::{Batch, DropCounts, Sink, SinkError};
use probesim_collector::store::sqlite::schema;
use probesim_collector::store::synthetic::{self, at_ms};
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};

const T0: u64 = 1_700_000_000_000;

fn batch(sequence: u64, events: Vec<Event>) -> Batch {
    Batch {
        agent: synthetic::agent_id("node-1"),
        sequence,
        sent_at: at_ms(T0 + sequence * 1000),
        events,
        dropped: DropCounts::default(),
    }
}

fn range() -> TimeRange {
    TimeRange {
        from: at_ms(T0 - 60_000),
        to: at_ms(T0 + 3_600_000),
    }
}

/// Declares backend 1, then 10 results and a transition per batch.
fn batches(n: u64) -> Vec<Batch> {
    let backend = synthetic::backend(1, "web", "node-1", 5);
    let spec = backend.spec.clone();
    (1..=n)
        .map(|seq| {
            let mut events = Vec::new();
            if seq == 1 {
                events.push(Event::Backend(backend.clone()));
            }
            for i in 0..10 {
                let at = at_ms(T0 + seq * 1000 + i * 10);
                let r = synthetic::result(
                    &spec,
                    1,
                    0,
                    at,
                    Outcome::HttpStatus(200),
                    Duration::from_millis(3),
                );
                events.push(Event::Result(r));
            }
            let (from, to) = if seq % 2 == 1 {
                (LbState::Initial, LbState::Healthy)
            } else {
                (LbState::Healthy, LbState::Unhealthy)
            };
            let reason = (to == LbState::Unhealthy).then_some(Reason::TargetTimeout);
            events.push(Event::Transition(synthetic::transition(
                1,
                0,
                from,
                to,
                reason,
                at_ms(T0 + seq * 1000 + 500),
            )));
            batch(seq, events)
        })
        .collect()
}

#[tokio::test]
async fn an_empty_database_is_migrated_and_reopens_at_the_same_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/probesim.db");
    let store = SqliteStore::open(&path, StoreConfig::default())
        .await
        .unwrap();
    store.close().await;
    let version = |p: &std::path::Path| -> i64 {
        let conn = rusqlite::Connection::open(p).unwrap();
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&path), schema::current_version());
    let store = SqliteStore::open(&path, StoreConfig::default())
        .await
        .unwrap();
    assert!(store.agents().is_empty());
    store.close().await;
    assert_eq!(version(&path), schema::current_version());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_with_its_path_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probesim.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    let err = SqliteStore::open(&path, StoreConfig::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("probesim.db") && text.contains("999"),
        "{text}"
    );
}

#[tokio::test]
async fn a_restart_keeps_the_last_sequence_and_every_stored_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probesim.db");
    let agent = synthetic::agent_id("node-1");
    let store = SqliteStore::open(&path, StoreConfig::default())
        .await
        .unwrap();
    store.agent_connected(&synthetic::agent_info("node-1"));
    for b in batches(4) {
        store.accept(b).await.unwrap();
    }
    assert_eq!(store.last_sequence(&agent), Some(4));
    let before = store.history(range(), Filter::default()).await.unwrap();
    let now_before = store.backends_now(&Filter::default());
    store.close().await;

    let store = SqliteStore::open(&path, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(store.last_sequence(&agent), Some(4));
    let after = store.history(range(), Filter::default()).await.unwrap();
    assert_eq!(after.backends.len(), 1);
    assert_eq!(after.backends[0].rollups, before.backends[0].rollups);
    assert_eq!(after.backends[0].changes.len(), 4);
    assert_eq!(after.backends[0].key, before.backends[0].key);
    assert_eq!(after.backends[0].spec, before.backends[0].spec);
    assert_eq!(after.agents, before.agents);
    let now_after = store.backends_now(&Filter::default());
    assert_eq!(now_after[0].now, now_before[0].now);
    assert_eq!(now_after[0].now.unanimous(), Some(LbState::Unhealthy));
    // The agent is not connected to a collector that just started.
    assert!(!store.agents()[0].connected);

    // Backend ids bound before the restart still resolve: batch 5 refers to backend 1 only.
    let mut next = batches(5).pop().unwrap();
    next.sequence = 5;
    store.accept(next).await.unwrap();
    assert_eq!(store.last_sequence(&agent), Some(5));
    store.close().await;
}

#[tokio::test]
async fn a_duplicate_sequence_is_acknowledged_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("probesim.db"), StoreConfig::default())
        .await
        .unwrap();
    let all = batches(3);
    for b in &all {
        store.accept(b.clone()).await.unwrap();
    }
    // Resent after a reconnect: the first two again, concurrently with a new one.
    let (a, b) = tokio::join!(store.accept(all[0].clone()), store.accept(all[1].clone()));
    a.unwrap();
    b.unwrap();
    let history = store.history(range(), Filter::default()).await.unwrap();
    let total: u64 = history.backends[0]
        .rollups
        .iter()
        .map(|r| r.successes)
        .sum();
    assert_eq!(total, 30);
    assert_eq!(history.backends[0].changes.len(), 3);
    let metrics = store.metrics();
    assert_eq!(
        probesim_collector::metrics::Metrics::get(&metrics.duplicates),
        2
    );
    store.close().await;
}

#[tokio::test]
async fn a_batch_naming_an_unknown_backend_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("probesim.db"), StoreConfig::default())
        .await
        .unwrap();
    let mut bad = batches(1).remove(0);
    let spec = Arc::new(synthetic::alb_spec("200"));
    bad.events.push(Event::Result(synthetic::result(
        &spec,
        42,
        0,
        at_ms(T0),
        Outcome::Refused,
        Duration::ZERO,
    )));
    let err = store.accept(bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::UnknownBackend {
                backend: 42,
                sequence: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        store
            .history(range(), Filter::default())
            .await
            .unwrap()
            .backends
            .is_empty()
    );
    assert_eq!(store.last_sequence(&synthetic::agent_id("node-1")), None);
    store.close().await;
}
