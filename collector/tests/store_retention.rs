//! Retention drops the oldest data: by age, and by size until the database fits.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use probesim_agent::event::{Event, Lifecycle, LifecycleKind};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::model::ObjectRef;
use probesim_collector::model::{Batch, DropCounts, Sink};
use probesim_collector::store::synthetic::{self, at_ms};
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};

const T0: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn config(max_size: u64) -> StoreConfig {
    StoreConfig {
        flush_interval: Duration::from_millis(5),
        retention: Duration::from_secs(3600),
        max_size,
        // Retention runs when the test says so.
        retention_interval: Duration::from_secs(24 * 3600),
    }
}

fn all_time() -> TimeRange {
    TimeRange {
        from: at_ms(0),
        to: at_ms(T0 + 100 * HOUR),
    }
}

fn batch(sequence: u64, events: Vec<Event>) -> Batch {
    Batch {
        agent: synthetic::agent_id("node-1"),
        sequence,
        sent_at: at_ms(T0 + 3 * HOUR),
        events,
        dropped: DropCounts::default(),
    }
}

fn pod_ready(ms: u64) -> Event {
    Event::Lifecycle(Lifecycle {
        kind: LifecycleKind::PodReady,
        object: ObjectRef::new("Pod", "default", "web-1"),
        node: Some("node-1".to_owned()),
        address: None,
        object_time: Some(at_ms(ms)),
        seen_at: at_ms(ms),
        detail: vec![],
    })
}

#[tokio::test]
async fn retention_by_age_deletes_old_rows_and_backends_removed_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), config(u64::MAX))
        .await
        .unwrap();
    let kept = synthetic::backend(1, "web", "node-1", 1);
    let removed = synthetic::backend(2, "web", "node-1", 2);
    let spec = kept.spec.clone();
    let result = |id, ms| {
        Event::Result(synthetic::result(
            &spec,
            id,
            0,
            at_ms(ms),
            Outcome::HttpStatus(200),
            Duration::ZERO,
        ))
    };
    let change = |id, ms| {
        Event::Transition(synthetic::transition(
            id,
            0,
            LbState::Initial,
            LbState::Healthy,
            None,
            at_ms(ms),
        ))
    };
    let events = vec![
        Event::Backend(kept),
        Event::Backend(removed),
        result(1, T0),
        result(2, T0),
        change(1, T0),
        pod_ready(T0),
        Event::BackendRemoved {
            id: 2,
            at: at_ms(T0 + 1000),
        },
        result(1, T0 + 2 * HOUR),
        change(1, T0 + 2 * HOUR),
        pod_ready(T0 + 2 * HOUR),
    ];
    store.accept(batch(1, events)).await.unwrap();

    let swept = store
        .run_retention(at_ms(T0 + 2 * HOUR + 60_000))
        .await
        .unwrap();
    assert_eq!(swept.backends.len(), 1);
    let history = store.history(all_time(), Filter::default()).await.unwrap();
    assert_eq!(history.backends.len(), 1);
    let b = &history.backends[0];
    assert_eq!(b.rollups.len(), 1);
    assert_eq!(b.rollups[0].second, (T0 + 2 * HOUR) / 1000);
    assert_eq!(b.changes.len(), 1);
    assert_eq!(history.lifecycle.len(), 1);
    assert_eq!(store.backends_now(&Filter::default()).len(), 1);
    store.close().await;
}

#[tokio::test]
async fn retention_by_size_drops_the_oldest_seconds_until_the_database_fits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = SqliteStore::open(&path, config(u64::MAX)).await.unwrap();
    let backends: Vec<_> = (0..20)
        .map(|id| synthetic::backend(id, "web", "node-1", id as u8))
        .collect();
    let spec = backends[0].spec.clone();
    let seconds = 2_000u64;
    let mut sequence = 0;
    for chunk in (0..seconds).collect::<Vec<_>>().chunks(200) {
        sequence += 1;
        let mut events: Vec<Event> = if sequence == 1 {
            backends.iter().cloned().map(Event::Backend).collect()
        } else {
            Vec::new()
        };
        for s in chunk {
            for id in 0..20 {
                let r = synthetic::result(
                    &spec,
                    id,
                    0,
                    at_ms(T0 + s * 1000),
                    Outcome::HttpStatus(200),
                    Duration::from_millis(1),
                );
                events.push(Event::Result(r));
            }
        }
        store.accept(batch(sequence, events)).await.unwrap();
    }
    store.close().await;

    // Reopen with a limit of half of what is used now.
    let used = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let q = |p: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                .unwrap()
        };
        ((q("page_count") - q("freelist_count")) * q("page_size")) as u64
    };
    let limit = used / 2;
    let store = SqliteStore::open(
        &path,
        StoreConfig {
            retention: Duration::from_secs(100 * 24 * 3600),
            ..config(limit)
        },
    )
    .await
    .unwrap();
    let swept = store
        .run_retention(at_ms(T0 + seconds * 1000))
        .await
        .unwrap();
    assert!(swept.used_bytes <= limit, "{} > {limit}", swept.used_bytes);
    assert!(swept.rows > 0);
    let history = store.history(all_time(), Filter::default()).await.unwrap();
    for b in &history.backends {
        let first = b.rollups.first().unwrap().second;
        let last = b.rollups.last().unwrap().second;
        // The newest second survives; the oldest are gone, and nothing in between is missing.
        assert_eq!(last, T0 / 1000 + seconds - 1);
        assert!(first > T0 / 1000, "the oldest second should be gone");
        assert_eq!(b.rollups.len() as u64, last - first + 1);
    }
    // The file itself shrank: the freed pages went back to the file system.
    let file = std::fs::metadata(&path).unwrap().len();
    assert!(file <= used, "{file} > {used}");
    store.close().await;
}
