//! The streaming client without a collector, on paused time: batches are sealed by size and by
//! time, reconnects back off, and everything unacknowledged is spooled at shutdown.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::stream::{Client, StreamConfig, fixtures};
use tokio::sync::mpsc;

fn spooled_batches(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("batch-"))
        .collect();
    names.sort();
    names
}

#[tokio::test(start_paused = true)]
async fn without_a_collector_batches_are_sealed_by_size_and_time_and_spooled_at_shutdown() {
    let spool = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens, every attempt is refused at once.
    let mut config = StreamConfig::new("http://127.0.0.1:1", "node-a");
    config.spool_dir = Some(spool.path().to_owned());
    config.max_batch_events = 5;
    let (tx, rx) = mpsc::channel(100);
    let client = Client::start(config, rx).unwrap();
    assert!(client.agent_id().starts_with("node-a/"));
    let instance = std::fs::read_to_string(spool.path().join("instance")).unwrap();
    assert_eq!(client.agent_id(), format!("node-a/{}", instance.trim()));

    tx.send(Event::Backend(fixtures::backend(1))).await.unwrap();
    for i in 0..11 {
        tx.send(Event::Result(fixtures::success(1, i)))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let m = client.metrics().snapshot();
    assert_eq!(m.batches_sealed, 2, "two full batches at once: {m:?}");
    // The third, with two events, waits for the batch interval.
    tokio::time::sleep(probesim_agent::stream::DEFAULT_BATCH_INTERVAL).await;
    assert_eq!(client.metrics().snapshot().batches_sealed, 3);

    // A minute of refused connections: backoff from 200 ms doubling to 15 s is about a dozen
    // attempts, not hundreds.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let failures = client.metrics().snapshot().connect_failures;
    assert!(
        (5..=20).contains(&failures),
        "{failures} attempts in a minute"
    );

    drop(tx);
    client.shutdown().await;
    assert_eq!(
        spooled_batches(spool.path()),
        [
            "batch-00000000000000000001.pb",
            "batch-00000000000000000002.pb",
            "batch-00000000000000000003.pb"
        ]
    );
    let sequence = std::fs::read_to_string(spool.path().join("sequence")).unwrap();
    assert_eq!(sequence.trim(), "3");
}

#[test]
fn bad_configurations_are_refused_naming_the_setting() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    type Breaker = fn(&mut StreamConfig);
    let cases: [(&str, Breaker, &str); 5] = [
        (
            "no scheme",
            |c| c.collector = "collector:9471".into(),
            "PROBESIM_COLLECTOR",
        ),
        (
            "https without CA",
            |c| c.collector = "https://collector:9471".into(),
            "PROBESIM_COLLECTOR_CA",
        ),
        (
            "cert without key",
            |c| {
                c.collector = "https://collector:9471".into();
                c.tls.ca = Some("/nonexistent/ca.pem".into());
                c.tls.cert = Some("/nonexistent/cert.pem".into());
            },
            "PROBESIM_COLLECTOR_KEY",
        ),
        (
            "missing CA file",
            |c| {
                c.collector = "https://collector:9471".into();
                c.tls.ca = Some("/nonexistent/ca.pem".into());
            },
            "/nonexistent/ca.pem",
        ),
        ("node with a slash", |c| c.node = "a/b".into(), "NODE_NAME"),
    ];
    for (name, breaker, expected) in cases {
        let mut config = StreamConfig::new("http://127.0.0.1:1", "node-a");
        config.spool_dir = None;
        breaker(&mut config);
        let (_tx, rx) = mpsc::channel(1);
        let err = Client::start(config, rx).unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
}
