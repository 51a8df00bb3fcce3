//! The raw SYN prober on a lab node: open, closed and filtered ports, from the node and from the
//! lb-source namespace, and no socket state left behind on the prober's side.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::outcome::{Outcome, Phase};
use probesim_agent::model::{LbKind, ProbeProtocol};
use probesim_agent::netns::{self, NetNs};
use probesim_agent::probe::syn::{SynConfig, SynProber};
use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, ProbeRequest, ProbeSource};
use probesim_agent::source::{LbSource, LbSourceConfig};
use probesim_lab::backend::{Behavior, Protocol};
use probesim_lab::net::reach::{NetnsBackend, block_in};
use probesim_lab::net::topology::AZURE_LB_SOURCE;
use probesim_lab::net::{Topology, TopologySpec, can_run_network_test};

const WEB: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 2);
const OPEN: u16 = 8080;
const CLOSED: u16 = 8081;
const FILTERED: u16 = 8082;
const TIMEOUT: Duration = Duration::from_millis(500);
/// Probes of the open port in the rate check: bounded in count and in time.
const BURST: usize = 2_000;

fn request(port: u16, source: ProbeSource) -> ProbeRequest {
    let given = ManualProbe {
        protocol: Some(ProbeProtocol::Tcp),
        port,
        ..ManualProbe::default()
    };
    let spec = manual::spec(LbKind::AzureLb, &given).expect("spec");
    let mut req = ProbeRequest::for_spec(&spec, SocketAddr::from((WEB, port)));
    req.timeout = TIMEOUT;
    req.source = Some(source);
    req
}

struct Lab {
    _web: NetnsBackend,
    pod: Arc<NetNs>,
    topology: Topology,
}

impl Lab {
    /// Node n0 with pod web-0: 8080 serves, 8081 is closed, 8082 is dropped by the pod's firewall.
    fn start() -> Lab {
        let topology =
            Topology::create(TopologySpec::new(&["n0"], &[AZURE_LB_SOURCE])).expect("topology");
        let pod = topology.add_pod("n0", "default/web-0", WEB).expect("pod");
        let web = NetnsBackend::start(
            &pod,
            SocketAddr::from((WEB, OPEN)),
            Protocol::Http,
            Behavior::default(),
        )
        .expect("backend");
        pod.exec(
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
        Lab {
            _web: web,
            pod,
            topology,
        }
    }

    fn n0(&self) -> Arc<NetNs> {
        self.topology.node_netns("n0").expect("n0")
    }
}

async fn classify(prober: Arc<SynProber>) -> Vec<(u16, Outcome)> {
    let tls = TlsConfigs::new();
    let mut out = Vec::new();
    for port in [OPEN, CLOSED, FILTERED] {
        let m = probe::probe(&request(port, ProbeSource::Syn(prober.clone())), &tls).await;
        out.push((port, m.outcome));
    }
    out
}

fn expected() -> Vec<(u16, Outcome)> {
    vec![
        (OPEN, Outcome::Connected),
        (CLOSED, Outcome::Refused),
        (
            FILTERED,
            Outcome::Timeout {
                phase: Phase::Connect,
            },
        ),
    ]
}

#[test]
fn raw_syn_probes_classify_open_closed_and_filtered_ports_from_the_node() {
    if !can_run_network_test("raw_syn_probes_classify_open_closed_and_filtered_ports_from_the_node")
    {
        return;
    }
    let lab = Lab::start();
    let (seen, burst) = block_in(&lab.n0(), || async {
        let prober = Arc::new(SynProber::new(SynConfig::default(), None).expect("prober"));
        let seen = classify(prober.clone()).await;
        // A burst at the open port: each probe completes its handshake and leaves nothing.
        let tls = TlsConfigs::new();
        let started = Instant::now();
        let mut connected = 0;
        for _ in 0..BURST {
            let m = probe::probe(&request(OPEN, ProbeSource::Syn(prober.clone())), &tls).await;
            connected += usize::from(m.outcome == Outcome::Connected);
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        (seen, (connected, started.elapsed()))
    })
    .expect("thread in n0");
    assert_eq!(seen, expected());
    let (connected, took) = burst;
    eprintln!(
        "{connected} sequential SYN probes in {took:?} ({:.0}/s)",
        connected as f64 / took.as_secs_f64()
    );
    assert_eq!(connected, BURST);
    // Neither side keeps anything: the kernel's RST closed each half-open connection.
    let time_wait = netns::run(
        "ip",
        &[
            "netns",
            "exec",
            lab.n0().name(),
            "ss",
            "-Htan",
            "state",
            "time-wait",
        ],
    )
    .unwrap_or_default();
    assert_eq!(
        time_wait.lines().count(),
        0,
        "no TIME_WAIT on the prober: {time_wait}"
    );
    let backend = lab
        .pod
        .exec("ss", &["-Htan", "state", "established"])
        .unwrap_or_default();
    assert_eq!(
        backend.lines().count(),
        0,
        "no connection left at the backend: {backend}"
    );
}

#[test]
fn raw_syn_probes_from_the_lb_source_namespace_leave_from_168_63_129_16() {
    if !can_run_network_test("raw_syn_probes_from_the_lb_source_namespace_leave_from_168_63_129_16")
    {
        return;
    }
    let lab = Lab::start();
    // The pod answers only the LB's address on the open port; anything else it drops.
    lab.pod
        .exec(
            "iptables",
            &[
                "-I",
                "INPUT",
                "-p",
                "tcp",
                "--dport",
                &OPEN.to_string(),
                "!",
                "-s",
                &AZURE_LB_SOURCE.to_string(),
                "-j",
                "DROP",
            ],
        )
        .expect("filter");
    let seen = block_in(&lab.n0(), || async {
        let source = LbSource::create(LbSourceConfig::default()).expect("lb-source");
        let factory = source.socket_factory().expect("factory");
        let prober = Arc::new(SynProber::new(SynConfig::default(), Some(factory)).expect("prober"));
        let seen = classify(prober.clone()).await;
        drop(prober);
        source.remove().expect("remove");
        seen
    })
    .expect("thread in n0");
    assert_eq!(seen, expected());
}
