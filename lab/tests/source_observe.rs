//! The passive observer on a lab node: a stand-in LB in the lab's LB namespace probes the node
//! from 168.63.129.16 (and, as an ALB, from a subnet address); the observer on the node's `eth0`
//! reports each probe with the outcome the stand-in got, and leaves client traffic out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::outcome::{Outcome, Phase};
use probesim_agent::model::{LbKind, ProbeProtocol, ProbeSpec};
use probesim_agent::netns::NetNs;
use probesim_agent::observe::{BackendMap, Observer, ObserverConfig, Sources};
use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, ProbeRequest};
use probesim_lab::backend::{Answer, Behavior, Protocol};
use probesim_lab::net::reach::{NetnsBackend, block_in, http_get};
use probesim_lab::net::topology::AZURE_LB_SOURCE;
use probesim_lab::net::{Topology, TopologySpec, can_run_network_test};
use tokio::sync::mpsc;

const N0: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 4);
/// An address of an ALB's subnet, held by the lab's LB namespace.
const ALB_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 224, 255, 10);
const HTTP_OK: u16 = 8080;
const HTTP_FAILING: u16 = 8083;
const TCP_OPEN: u16 = 8084;
const CLOSED: u16 = 8081;
const FILTERED: u16 = 8082;
/// The stand-in LB's timeout; the observer gives up on a connection a little later.
const LB_TIMEOUT: Duration = Duration::from_millis(600);
const OBSERVER_TIMEOUT: Duration = Duration::from_secs(1);
/// The observer runs this long at most.
const OBSERVE_FOR: Duration = Duration::from_secs(10);

fn spec(lb: LbKind, protocol: ProbeProtocol, port: u16, path: Option<&str>) -> ProbeSpec {
    let given = ManualProbe {
        protocol: Some(protocol),
        port,
        path: path.map(str::to_owned),
        ..ManualProbe::default()
    };
    manual::spec(lb, &given).expect("spec")
}

/// (backend id, LB, protocol, port, path) of each probe the stand-in sends.
const PROBES: [(u64, LbKind, ProbeProtocol, u16, Option<&str>); 5] = [
    (1, LbKind::AzureLb, ProbeProtocol::Http, HTTP_OK, Some("/")),
    (2, LbKind::AzureLb, ProbeProtocol::Tcp, CLOSED, None),
    (3, LbKind::AzureLb, ProbeProtocol::Tcp, FILTERED, None),
    (
        4,
        LbKind::Alb,
        ProbeProtocol::Http,
        HTTP_FAILING,
        Some("/healthz"),
    ),
    (5, LbKind::AzureLb, ProbeProtocol::Tcp, TCP_OPEN, None),
];

#[test]
fn the_observer_reports_the_stand_in_lbs_probes_with_the_outcomes_it_got() {
    if !can_run_network_test(
        "the_observer_reports_the_stand_in_lbs_probes_with_the_outcomes_it_got",
    ) {
        return;
    }
    let topology = Topology::create(TopologySpec::new(&["n0"], &[AZURE_LB_SOURCE, ALB_SOURCE]))
        .expect("topology");
    let n0: Arc<NetNs> = topology.node_netns("n0").expect("n0");
    let behavior = Behavior::default()
        .route("/", Answer::status(200).with_body("ok"))
        .route("/healthz", Answer::status(503));
    let _servers: Vec<NetnsBackend> = [HTTP_OK, HTTP_FAILING, TCP_OPEN]
        .iter()
        .map(|port| {
            NetnsBackend::start(
                &n0,
                SocketAddr::from((N0, *port)),
                Protocol::Http,
                behavior.clone(),
            )
            .expect("server")
        })
        .collect();
    n0.exec(
        "iptables",
        &[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            &FILTERED.to_string(),
            "-j",
            "DROP",
        ],
    )
    .expect("filter");

    let backends = Arc::new(BackendMap::default());
    for (id, lb, protocol, port, path) in PROBES {
        backends.insert(
            SocketAddr::from((N0, port)),
            id,
            Arc::new(spec(lb, protocol, port, path)),
        );
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let map = backends.clone();
    let observer = n0
        .spawn(move || async move {
            let (tx, mut rx) = mpsc::channel(1024);
            let mut config = ObserverConfig::new(
                vec!["eth0".into()],
                Sources { nets: vec![(AZURE_LB_SOURCE, 32), (Ipv4Addr::new(10, 224, 255, 0), 24)], probe_only: vec![AZURE_LB_SOURCE] },
            );
            config.probe_timeout = OBSERVER_TIMEOUT;
            let observer = Observer::start(config, map, tx).expect("observer");
            let _ = ready_tx.send(());
            let mut results = Vec::new();
            let stop = tokio::time::sleep(OBSERVE_FOR);
            tokio::pin!(stop);
            tokio::pin!(done_rx);
            let mut draining: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    _ = &mut done_rx, if draining.is_none() => {
                        // Room for the filtered probe to expire.
                        draining = Some(Box::pin(tokio::time::sleep(OBSERVER_TIMEOUT * 2)));
                    }
                    () = async { if let Some(d) = draining.as_mut() { d.await } else { std::future::pending().await } } => break,
                    event = rx.recv() => match event {
                        Some(Event::Result(r)) => results.push(r),
                        Some(_) => {}
                        None => break,
                    },
                }
            }
            let stats = observer.stats();
            (results, stats.not_probes.load(Ordering::Relaxed), stats.unmapped.load(Ordering::Relaxed))
        })
        .expect("observer thread");
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("observer started");

    // The stand-in LB: the agent's own probers, run in the LB namespace from the LB's addresses.
    let sent = block_in(&topology.lb_netns(), || async {
        let tls = TlsConfigs::new();
        let mut sent = Vec::new();
        for (id, lb, protocol, port, path) in PROBES {
            let source = if lb == LbKind::Alb {
                ALB_SOURCE
            } else {
                AZURE_LB_SOURCE
            };
            let mut req = ProbeRequest::for_spec(
                &spec(lb, protocol, port, path),
                SocketAddr::from((N0, port)),
            );
            req.timeout = LB_TIMEOUT;
            req.bind = Some(SocketAddr::new(IpAddr::V4(source), 0));
            sent.push((id, probe::probe(&req, &tls).await.outcome));
        }
        // A client of the ALB, from the same subnet address: not a probe.
        let client = http_get(
            Some(ALB_SOURCE),
            SocketAddr::from((N0, HTTP_OK)),
            "/",
            LB_TIMEOUT,
        )
        .await;
        assert_eq!(client.map(|a| a.status).ok(), Some(200));
        sent
    })
    .expect("LB thread");
    let _ = done_tx.send(());
    let (results, not_probes, unmapped) = observer
        .join()
        .expect("observer thread")
        .expect("observer ran");

    assert_eq!(
        sent,
        vec![
            (1, Outcome::HttpStatus(200)),
            (2, Outcome::Refused),
            (
                3,
                Outcome::Timeout {
                    phase: Phase::Connect
                }
            ),
            (4, Outcome::HttpStatus(503)),
            (5, Outcome::Connected),
        ],
        "what the stand-in LB got"
    );
    let mut observed: Vec<(u64, Outcome)> = results
        .iter()
        .map(|r| (r.backend, r.measurement.outcome))
        .collect();
    observed.sort_by_key(|(id, _)| *id);
    assert_eq!(observed, sent, "the observer saw the same");
    for r in &results {
        let passed = matches!(
            r.measurement.outcome,
            Outcome::HttpStatus(200) | Outcome::Connected
        );
        assert_eq!(
            r.verdict.is_success(),
            passed,
            "verdict of backend {}: {:?}",
            r.backend,
            r.verdict
        );
    }
    assert_eq!(not_probes, 1, "the ALB's client request");
    assert_eq!(unmapped, 0);
}
