//! Rollups are exact: hand-computed counts, and any split of the same results into batches (and
//! so into flushes) gives the same stored rollups.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::lb::outcome::{LocalFailure, Outcome, Phase};
use probesim_collector::model::{Batch, DropCounts, Rollup, Sink};
use probesim_collector::store::synthetic::{self, at_ms};
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000;
const S0: u64 = T0 / 1000;

fn config() -> StoreConfig {
    StoreConfig {
        flush_interval: Duration::from_millis(5),
        ..StoreConfig::default()
    }
}

fn range() -> TimeRange {
    TimeRange {
        from: at_ms(T0 - 10_000),
        to: at_ms(T0 + 60_000),
    }
}

fn batch(sequence: u64, events: Vec<Event>) -> Batch {
    Batch {
        agent: synthetic::agent_id("node-1"),
        sequence,
        sent_at: at_ms(T0 + 60_000),
        events,
        dropped: DropCounts::default(),
    }
}

fn owned(outcomes: &[(&str, u64)]) -> Vec<(String, u64)> {
    outcomes
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect()
}

#[tokio::test]
async fn rollups_match_hand_computed_counts_per_verdict_outcome_and_latency_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), config())
        .await
        .unwrap();
    let backend = synthetic::backend(1, "web", "node-1", 5);
    let spec = backend.spec.clone();
    let r = |ms: u64, outcome, took| {
        Event::Result(synthetic::result(
            &spec,
            1,
            0,
            at_ms(T0 + ms),
            outcome,
            took,
        ))
    };
    let events = vec![
        Event::Backend(backend.clone()),
        r(0, Outcome::HttpStatus(200), Duration::from_millis(3)),
        r(100, Outcome::HttpStatus(503), Duration::from_micros(500)),
        r(
            200,
            Outcome::Timeout {
                phase: Phase::Response,
            },
            Duration::from_secs(5),
        ),
        r(
            999,
            Outcome::Local(LocalFailure::EphemeralPortsExhausted),
            Duration::ZERO,
        ),
        r(1000, Outcome::Refused, Duration::from_micros(1500)),
    ];
    store.accept(batch(1, events)).await.unwrap();
    let history = store.history(range(), Filter::default()).await.unwrap();
    let mut first_latency = vec![0; 15];
    first_latency[0] = 2;
    first_latency[2] = 1;
    first_latency[11] = 1;
    let mut second_latency = vec![0; 15];
    second_latency[1] = 1;
    let expected = vec![
        Rollup {
            second: S0,
            successes: 1,
            failures: 2,
            not_counted: 1,
            outcomes: owned(&[
                ("http_status", 2),
                ("timeout", 1),
                ("local_ports_exhausted", 1),
            ]),
            latency: first_latency,
        },
        Rollup {
            second: S0 + 1,
            successes: 0,
            failures: 1,
            not_counted: 0,
            outcomes: owned(&[("refused", 1)]),
            latency: second_latency,
        },
    ];
    assert_eq!(history.backends[0].rollups, expected);
    store.close().await;
}

/// A result: (backend 0 or 1, millisecond offset, outcome number, duration in µs).
type Spec = (u64, u64, u64, u64);

fn events_of(results: &[Spec]) -> Vec<Event> {
    let declared: Vec<_> = (0..2)
        .map(|id| synthetic::backend(id, "web", "node-1", id as u8))
        .collect();
    let spec = declared[0].spec.clone();
    let mut events: Vec<Event> = declared.into_iter().map(Event::Backend).collect();
    for (backend, offset, n, micros) in results {
        let (outcome, _) = synthetic::outcome(*n);
        let r = synthetic::result(
            &spec,
            *backend,
            0,
            at_ms(T0 + offset),
            outcome,
            Duration::from_micros(*micros),
        );
        events.push(Event::Result(r));
    }
    events
}

async fn stored_rollups(events: Vec<Event>, cuts: &[usize]) -> Vec<Vec<Rollup>> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), config())
        .await
        .unwrap();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (events.len() + 1)).collect();
    cuts.push(events.len());
    cuts.sort_unstable();
    let mut start = 0;
    let mut sequence = 0;
    for cut in cuts {
        if cut <= start {
            continue;
        }
        sequence += 1;
        store
            .accept(batch(sequence, events[start..cut].to_vec()))
            .await
            .unwrap();
        start = cut;
    }
    let history = store.history(range(), Filter::default()).await.unwrap();
    store.close().await;
    history.backends.into_iter().map(|b| b.rollups).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_the_same_results_into_batches_stores_the_same_rollups(
        results in prop::collection::vec((0..2u64, 0..4_000u64, 0..40u64, 0..40_000_000u64), 1..200),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let events = events_of(&results);
        let whole = runtime.block_on(stored_rollups(events.clone(), &[]));
        let split = runtime.block_on(stored_rollups(events, &cuts));
        prop_assert_eq!(&whole, &split);
        let total: u64 = whole.iter().flatten().map(|r| r.successes + r.failures + r.not_counted).sum();
        prop_assert_eq!(total, results.len() as u64);
    }
}
