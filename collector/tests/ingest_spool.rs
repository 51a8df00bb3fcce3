//! An agent restarted with its spool keeps its name and its numbering, and delivers what the
//! previous process had spooled.

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
async fn restarted_agent_delivers_the_batches_its_predecessor_spooled_under_the_same_name() {
    let spool = tempfile::tempdir().unwrap();
    // The collector is not there yet: everything goes to the spool on shutdown.
    let sink = Arc::new(MemSink::default());
    let collector = Collector::start(sink.clone(), loopback(), IngestConfig::default());
    let addr = collector.addr;
    collector.kill();
    let url = format!("http://{addr}");
    let (first, tx) = start_agent(agent_config(&url, Some(spool.path())));
    let first_id = first.agent_id().to_owned();
    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    produce(&tx, 0, 3_000, 100_000).await;
    drop(tx);
    first.shutdown().await;
    let spooled = std::fs::read_dir(spool.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("batch-")
        })
        .count();
    assert!(spooled > 0, "nothing was spooled");

    let collector = Collector::start(sink.clone(), addr, IngestConfig::default());
    let (second, tx) = start_agent(agent_config(&collector.url(), Some(spool.path())));
    assert_eq!(second.agent_id(), first_id);
    produce(&tx, 3_000, 4_000, 100_000).await;
    let all = wait_for(Duration::from_secs(10), || sink.result_count() == 4_000).await;
    assert!(all, "stored {}", sink.result_numbers().len());
    assert_eq!(sink.result_numbers(), (0..4_000).collect::<Vec<_>>());
    let sequences = sink.sequences();
    assert!(
        sequences.windows(2).all(|w| w[1] == w[0] + 1),
        "{sequences:?}"
    );
    {
        let state = sink.state.lock().unwrap();
        assert!(state.connected.iter().all(|a| *a.id == *first_id));
    }
    drop(tx);
    second.shutdown().await;
    let left = std::fs::read_dir(spool.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("batch-")
        })
        .count();
    assert_eq!(left, 0, "acknowledged batches stay in the spool");
}
