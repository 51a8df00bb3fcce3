use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;
use crate::lb::outcome::{Outcome, Phase};
use crate::model::{LbKind, ProbeProtocol, WireDetails};

fn spec(addr: SocketAddr, protocol: ProbeProtocol, interval_ms: u64, rate: f64) -> TargetSpec {
    TargetSpec {
        request: ProbeRequest {
            addr,
            protocol,
            path: Arc::from("/"),
            timeout: Duration::from_millis(interval_ms),
            wire: Arc::new(WireDetails::for_lb(LbKind::Alb)),
            grpc_tls: false,
            bind: None,
            source: None,
        },
        interval: Duration::from_millis(interval_ms),
        rate_per_s: rate,
    }
}

/// A server that accepts connections and never answers; it keeps them until dropped and counts
/// how many are still open from its side.
async fn silent_server() -> (SocketAddr, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let open = Arc::new(AtomicU32::new(0));
    let counter = open.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

async fn collect(rx: &mut mpsc::Receiver<ProbeRecord>, for_: Duration) -> Vec<ProbeRecord> {
    let mut out = Vec::new();
    let deadline = Instant::now() + for_;
    while let Ok(Some(r)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(r);
    }
    out
}

#[tokio::test]
async fn virtual_probers_take_turns_evenly_and_start_on_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, mut rx) = mpsc::channel(1024);
    let engine = Engine::start(EngineConfig::default(), tx);
    // 20 probes/s over a 500 ms interval: K = 10 probers, one probe every 50 ms.
    engine.upsert(1, spec(addr, ProbeProtocol::Tcp, 500, 20.0));
    let records = collect(&mut rx, Duration::from_millis(1_030)).await;
    assert!(
        (19..=22).contains(&records.len()),
        "{} probes",
        records.len()
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.probers, 10);
        assert_eq!(r.slot, i as u64);
        assert_eq!(r.prober, (i % 10) as u32);
        assert_eq!(r.measurement.outcome, Outcome::Connected);
        assert!(
            r.lateness < Duration::from_millis(20),
            "late by {:?}",
            r.lateness
        );
    }
    let gaps: Vec<_> = records.windows(2).map(|w| w[1].due - w[0].due).collect();
    assert!(
        gaps.iter().all(|g| *g == Duration::from_millis(50)),
        "{gaps:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn a_slow_target_never_delays_the_next_probe() {
    let (addr, _open) = silent_server().await;
    let (tx, mut rx) = mpsc::channel(1024);
    let engine = Engine::start(EngineConfig::default(), tx);
    // Every probe hangs for its whole 400 ms timeout while new ones keep starting every 40 ms.
    engine.upsert(7, spec(addr, ProbeProtocol::Http, 400, 25.0));
    let records = collect(&mut rx, Duration::from_millis(1_000)).await;
    assert!(records.len() >= 12, "{} results", records.len());
    for r in &records {
        assert_eq!(
            r.measurement.outcome,
            Outcome::Timeout {
                phase: Phase::Response
            }
        );
        assert!(r.lateness < Duration::from_millis(20));
    }
    let stats = engine.stats();
    assert_eq!(stats.skipped_target_limit, 0, "{stats:?}");
}

#[tokio::test]
async fn removing_a_target_mid_probe_cancels_its_probes_and_closes_their_connections() {
    let (addr, open) = silent_server().await;
    let (tx, mut rx) = mpsc::channel(1024);
    let engine = Engine::start(EngineConfig::default(), tx);
    engine.upsert(3, spec(addr, ProbeProtocol::Http, 5_000, 10.0));
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert!(
        open.load(Ordering::SeqCst) >= 3,
        "probes are hanging on the server"
    );
    engine.remove(3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        open.load(Ordering::SeqCst),
        0,
        "every probe connection was closed"
    );
    let stats = engine.stats();
    assert!(stats.cancelled >= 3, "{stats:?}");
    assert_eq!(stats.completed, 0);
    assert!(
        collect(&mut rx, Duration::from_millis(200))
            .await
            .is_empty()
    );
    let scheduled = engine.stats().scheduled;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        engine.stats().scheduled,
        scheduled,
        "nothing is scheduled after removal"
    );
}

#[tokio::test]
async fn changing_a_target_restarts_it_under_a_new_generation_and_an_identical_upsert_does_not() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, mut rx) = mpsc::channel(1024);
    let engine = Engine::start(EngineConfig::default(), tx);
    engine.upsert(1, spec(addr, ProbeProtocol::Tcp, 200, 20.0));
    tokio::time::sleep(Duration::from_millis(120)).await;
    engine.upsert(1, spec(addr, ProbeProtocol::Tcp, 200, 20.0));
    tokio::time::sleep(Duration::from_millis(120)).await;
    engine.upsert(1, spec(addr, ProbeProtocol::Tcp, 100, 20.0));
    let records = collect(&mut rx, Duration::from_millis(300)).await;
    let gens: Vec<_> = records.iter().map(|r| r.generation).collect();
    assert!(
        gens.contains(&0) && gens.contains(&1) && !gens.contains(&2),
        "{gens:?}"
    );
    let first_new = records
        .iter()
        .position(|r| r.generation == 1)
        .expect("new generation");
    assert_eq!(records[first_new].slot, 0, "a changed target starts over");
    assert_eq!(records[first_new].probers, 2);
}

#[tokio::test]
async fn the_global_bound_skips_and_counts_instead_of_queueing() {
    let (addr, _open) = silent_server().await;
    let (tx, _rx) = mpsc::channel(1024);
    let engine = Engine::start(
        EngineConfig {
            max_in_flight: 2,
            ..EngineConfig::default()
        },
        tx,
    );
    engine.upsert(1, spec(addr, ProbeProtocol::Http, 2_000, 50.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = engine.stats();
    assert!(stats.skipped_global_limit >= 10, "{stats:?}");
    assert!(stats.scheduled >= 12);
}

#[tokio::test]
async fn probes_that_cannot_start_on_time_are_shed_not_run_late() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, mut rx) = mpsc::channel(1024);
    let max_lateness = Duration::from_millis(20);
    let config = EngineConfig {
        max_lateness,
        ..EngineConfig::default()
    };
    let engine = Engine::start(config, tx);
    engine.upsert(1, spec(addr, ProbeProtocol::Tcp, 1_000, 100.0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Holding the only worker thread is an overload: about 30 probes fall due meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = engine.stats();
    assert!(stats.skipped_late >= 20, "{stats:?}");
    assert!(
        stats.completed >= 10,
        "probing goes on afterwards: {stats:?}"
    );
    while let Ok(record) = rx.try_recv() {
        assert!(record.lateness <= max_lateness, "{record:?}");
    }
}

#[tokio::test]
async fn a_consumer_that_does_not_read_loses_counted_results_and_never_blocks_the_engine() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, _rx) = mpsc::channel(4);
    let engine = Engine::start(EngineConfig::default(), tx);
    engine.upsert(1, spec(addr, ProbeProtocol::Tcp, 100, 100.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = engine.stats();
    assert!(stats.completed >= 20, "{stats:?}");
    assert_eq!(stats.results_dropped, stats.completed - 4);
}

#[test]
fn a_target_whose_probe_source_changes_is_restarted_and_the_same_source_is_no_change() {
    use crate::probe::ProbeSource;
    use crate::source::SocketFactory;
    use crate::source::socket::THREAD_NETNS;
    let here = || {
        let path = std::path::Path::new(THREAD_NETNS);
        Arc::new(SocketFactory::open("here", path, None).expect("own namespace"))
    };
    let (f, g) = (here(), here());
    let node = spec(
        "127.0.0.1:9".parse().unwrap(),
        ProbeProtocol::Tcp,
        1000,
        1.0,
    );
    let with = |factory: &Arc<SocketFactory>| {
        let mut s = node.clone();
        s.request.source = Some(ProbeSource::LbSource(factory.clone()));
        s
    };
    assert!(node.same_as(&node.clone()));
    assert!(!node.same_as(&with(&f)) && !with(&f).same_as(&node));
    assert!(with(&f).same_as(&with(&f)));
    assert!(
        !with(&f).same_as(&with(&g)),
        "another factory is another source"
    );
}
