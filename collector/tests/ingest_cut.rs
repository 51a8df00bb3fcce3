//! An agent cut off from the collector keeps its batches (in memory, then in its spool) and
//! replays them in order when the network is back; when its bounds are full it drops the oldest
//! results and says so.

#![allow(clippy::unwrap_used)]

#[path = "ingest_support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::*;
use probesim_agent::event::Event;
use probesim_agent::stream::fixtures;
use probesim_collector::ingest::IngestConfig;

/// How long the agent is cut off: 60 s by default (the real-time case of the issue), shorter
/// with `PROBESIM_TEST_CUT_SECS` for quick runs.
fn cut_duration() -> Duration {
    let secs = std::env::var("PROBESIM_TEST_CUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_cut_off_for_a_minute_replays_its_spool_in_order_without_loss() {
    let cut_for = cut_duration();
    let sink = Arc::new(MemSink::default());
    let collector = Collector::start(sink.clone(), loopback(), IngestConfig::default());
    let proxy = Proxy::start(collector.addr).await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = agent_config(&proxy.url(), Some(spool.path()));
    // Small memory so that the cut goes to disk.
    config.memory_bytes = 32 * 1024;
    config.max_batch_events = 5_000;
    config.batch_interval = probesim_agent::stream::DEFAULT_BATCH_INTERVAL;
    let (agent, tx) = start_agent(config);
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();

    let per_s = 2_000;
    let before = per_s / 4;
    produce(&tx, 0, before, per_s).await;
    assert!(
        wait_for(Duration::from_secs(10), || sink.result_count()
            == before as usize)
        .await
    );

    proxy.cut();
    let during = (cut_for.as_secs() as u32) * per_s;
    produce(&tx, before, before + during, per_s).await;
    let m = agent.metrics().snapshot();
    assert_eq!(
        sink.result_count(),
        before as usize,
        "nothing got through the cut"
    );
    assert!(
        m.spilled > 0,
        "the cut should have reached the spool: {m:?}"
    );
    assert!(m.spool_bytes > 0, "{m:?}");
    assert_eq!(m.connected, 0, "{m:?}");

    proxy.restore();
    let restored = std::time::Instant::now();
    let total = (before + during) as usize;
    wait_for(Duration::from_secs(30), || {
        agent.metrics().snapshot().connected == 1
    })
    .await;
    eprintln!("reconnected in {:?}", restored.elapsed());
    let replayed = wait_for(Duration::from_secs(30), || sink.result_count() >= total).await;
    eprintln!("replayed {total} results in {:?}", restored.elapsed());
    let numbers = sink.result_numbers();
    assert!(replayed, "stored {} of {total}", numbers.len());
    assert_eq!(
        numbers,
        (0..total as u32).collect::<Vec<_>>(),
        "replayed out of order"
    );
    let sequences = sink.sequences();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences out of order"
    );
    assert_eq!(sink.state.lock().unwrap().duplicates_stored, 0);
    let m = agent.metrics().snapshot();
    assert_eq!((m.dropped_results, m.spool_errors), (0, 0), "{m:?}");
    assert!(
        wait_for(Duration::from_secs(5), || agent
            .metrics()
            .snapshot()
            .spool_bytes
            == 0)
        .await
    );
    drop(tx);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_over_its_bounds_drops_the_oldest_results_counts_them_and_keeps_backends() {
    let sink = Arc::new(MemSink::default());
    let collector = Collector::start(sink.clone(), loopback(), IngestConfig::default());
    let proxy = Proxy::start(collector.addr).await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = agent_config(&proxy.url(), Some(spool.path()));
    config.memory_bytes = 8 * 1024;
    config.spool_bytes = 16 * 1024;
    proxy.cut();
    let (agent, tx) = start_agent(config);
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    const RESULTS: u32 = 20_000;
    produce(&tx, 0, RESULTS, 20_000).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = agent.metrics().snapshot();
    assert!(m.dropped_results > 0, "{m:?}");
    proxy.restore();

    let done = wait_for(Duration::from_secs(20), || {
        agent.metrics().snapshot().window_batches == 0
    })
    .await;
    assert!(done, "{:?}", agent.metrics().snapshot());
    let m = agent.metrics().snapshot();
    let numbers = sink.result_numbers();
    {
        let state = sink.state.lock().unwrap();
        let last = state.batches.last().unwrap();
        // Sent = stored + dropped, and the collector was told the dropped count.
        assert_eq!(numbers.len() as u64 + m.dropped_results, u64::from(RESULTS));
        assert_eq!(last.dropped.results, m.dropped_results);
        // The oldest went first: what is left is the newest, in order.
        let first_kept = RESULTS - numbers.len() as u32;
        assert_eq!(numbers, (first_kept..RESULTS).collect::<Vec<_>>());
        // The backend's declaration survived, in the first batch.
        let first = state.batches.iter().find(|b| b.sequence == 1).unwrap();
        assert!(matches!(first.events.first(), Some(Event::Backend(b)) if b.id == 1));
        // The counter grows at the batches that lost data: the gap is where it happened.
        assert!(
            state
                .batches
                .iter()
                .any(|b| b.dropped.results > 0 && b.sequence < last.sequence)
        );
    }
    drop(tx);
    agent.shutdown().await;
}
