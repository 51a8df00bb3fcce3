//! How many results per second the store takes, end to end (accept → rollups committed). Prints
//! the figure; in a debug build it is far below a release build's (the release benchmark runs
//! elsewhere with `SqliteStore::open` and `store::synthetic::load`). The assertion is a floor
//! that only catches a collapse (results stored one row each, a commit per batch).

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, UNIX_EPOCH};

use probesim_collector::model::Sink;
use probesim_collector::store::synthetic;
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};

const AGENTS: usize = 2;
const BACKENDS: u64 = 200;
const PER_BATCH: u64 = 10_000;
const BATCHES: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_takes_results_in_bulk_and_prints_results_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db"), StoreConfig::default())
        .await
        .unwrap();
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut loads: Vec<_> = (0..AGENTS)
        .map(|a| synthetic::load(&format!("node-{a}"), BACKENDS, PER_BATCH, BATCHES, start))
        .collect();
    let total = AGENTS as u64 * PER_BATCH * BATCHES;

    let began = Instant::now();
    let mut waiting = Vec::new();
    let mut rounds: Vec<_> = loads.iter_mut().map(|load| load.drain(..)).collect();
    for _ in 0..BATCHES {
        for round in &mut rounds {
            waiting.push(store.accept(round.next().unwrap()));
        }
    }
    drop(rounds);
    let taken = began.elapsed();
    for w in waiting {
        w.await.unwrap();
    }
    let stored = began.elapsed();
    let rate = total as f64 / stored.as_secs_f64();
    println!(
        "store throughput: {total} results from {AGENTS} agents taken in {taken:?}, stored in {stored:?}: {rate:.0} results/s ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    let range = TimeRange {
        from: start,
        to: start + Duration::from_secs(3600),
    };
    let history = store.history(range, Filter::default()).await.unwrap();
    let counted: u64 = history
        .backends
        .iter()
        .flat_map(|b| &b.rollups)
        .map(|r| r.successes + r.failures + r.not_counted)
        .sum();
    assert_eq!(counted, total);
    assert!(rate > 50_000.0, "{rate:.0} results/s");
    store.close().await;
}

#[test]
fn the_in_memory_rollup_of_results_prints_results_per_second() {
    use probesim_collector::timeline::apply::apply;
    use probesim_collector::timeline::{Pending, Registry};
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let load = synthetic::load("node-0", BACKENDS, PER_BATCH, BATCHES * 2, start);
    let total = PER_BATCH * BATCHES * 2;
    let (mut live, mut pending) = (Registry::default(), Pending::default());
    let began = Instant::now();
    for batch in load {
        apply(&mut live, &mut pending, batch).unwrap();
    }
    let took = began.elapsed();
    println!(
        "in-memory rollup: {total} results in {took:?}: {:.0} results/s ({} rows)",
        total as f64 / took.as_secs_f64(),
        pending.rollups.len()
    );
    assert_eq!(pending.results, total);
}
