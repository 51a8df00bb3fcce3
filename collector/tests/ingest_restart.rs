//! Killing and restarting the collector under load loses nothing and stores nothing twice.

#![allow(clippy::unwrap_used)]

#[path = "ingest_support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::*;
use probesim_agent::event::Event;
use probesim_agent::stream::fixtures;
use probesim_collector::ingest::IngestConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_twice_under_load_stores_every_result_exactly_once() {
    const RESULTS: u32 = 60_000;
    let sink = Arc::new(MemSink::default());
    let collector = Collector::start(sink.clone(), loopback(), IngestConfig::default());
    let addr = collector.addr;
    let spool = tempfile::tempdir().unwrap();
    let (agent, tx) = start_agent(agent_config(&collector.url(), Some(spool.path())));
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    let producer = tokio::spawn(async move {
        produce(&tx, 0, RESULTS, 30_000).await;
        tx
    });

    let mut collector = Some(collector);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        collector.take().unwrap().kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        collector = Some(Collector::start(
            sink.clone(),
            addr,
            IngestConfig::default(),
        ));
    }
    let tx = producer.await.unwrap();
    let stored = wait_for(Duration::from_secs(30), || {
        sink.result_count() >= RESULTS as usize
    })
    .await;

    let mut numbers = sink.result_numbers();
    let count = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    {
        let state = sink.state.lock().unwrap();
        assert!(stored, "stored {count} of {RESULTS} results");
        assert_eq!(
            state.duplicates_stored, 0,
            "duplicate batches reached the sink"
        );
        assert_eq!(count, RESULTS as usize, "results stored more than once");
        assert_eq!(numbers, (0..RESULTS).collect::<Vec<_>>());
        assert!(
            state.connected.len() >= 3,
            "the agent reconnected after each restart"
        );
    }
    let m = agent.metrics().snapshot();
    assert!(m.connects >= 3, "{m:?}");
    drop(tx);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_agent_streams_instead_of_waiting_for_them() {
    let sink = Arc::new(MemSink::default());
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (metrics, server) =
        probesim_collector::ingest::spawn(listener, sink.clone(), IngestConfig::default(), async {
            let _ = stopped.await;
        });
    let (agent, tx) = start_agent(agent_config(&url, None));
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    produce(&tx, 0, 100, 10_000).await;
    assert!(wait_for(Duration::from_secs(5), || sink.result_count() == 100).await);
    assert_eq!(metrics.snapshot().streams_open, 1);

    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "the server did not stop: {ended:?}"
    );
    assert!(
        wait_for(Duration::from_secs(5), || agent
            .metrics()
            .snapshot()
            .connected
            == 0)
        .await,
        "the agent did not notice"
    );
    drop(tx);
    agent.abort();
}
