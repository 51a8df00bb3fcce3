//! `lb-source` on a lab node (S2): probes from 168.63.129.16 made inside a private namespace of
//! the node cross its packet path as the Azure LB's do (kube-proxy's DNAT, FORWARD, the
//! NetworkPolicy rules), while probes from the node's own address do not; the node's own traffic
//! to 168.63.129.16 is untouched; teardown leaves nothing behind.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::lb::health::{EmulationSettings, HealthMachine, LbState};
use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::outcome::{Outcome, Phase};
use probesim_agent::lb::verdict::judge;
use probesim_agent::model::{LbKind, ProbeProtocol};
use probesim_agent::netns::{self, NetNs};
use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, ProbeRequest, ProbeSource};
use probesim_agent::source::plan::{CHAIN_IN, CHAIN_OUT, DEFAULT_ROUTE_TABLE};
use probesim_agent::source::{LbSource, LbSourceConfig, SocketFactory};
use probesim_lab::api::Store;
use probesim_lab::backend::{Answer, Behavior, Protocol};
use probesim_lab::net::reach::{NetnsBackend, block_in, http_get_in};
use probesim_lab::net::topology::AZURE_LB_SOURCE;
use probesim_lab::net::{
    DataplaneConfig, NodeDataplane, Topology, TopologySpec, can_run_network_test,
};
use serde_json::{Value, json};

mod source_lb {
    pub mod cost;
    pub mod protocols;
}

const SYNC_TIMEOUT: Duration = Duration::from_secs(3);
/// Long enough for a dropped SYN to show as a timeout, short enough to keep tests quick.
const PROBE_TIMEOUT: Duration = Duration::from_millis(700);
const N0: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 4);
const WEB: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 2);
const NODE_PORT: u16 = 30080;

struct Lab {
    store: Arc<Store>,
    dataplanes: Vec<NodeDataplane>,
    _backends: Vec<NetnsBackend>,
    topology: Topology,
    rt: tokio::runtime::Runtime,
}

impl Lab {
    /// Nodes n0 and n1, pod `web-0` on n0 serving HTTP on 8080, Service `web` (NodePort 30080,
    /// externalTrafficPolicy Cluster), and a stand-in for Azure's 168.63.129.16 endpoint (wire
    /// server, DNS) in the LB namespace on port 80.
    fn start() -> Lab {
        let topology = Topology::create(TopologySpec::new(&["n0", "n1"], &[AZURE_LB_SOURCE]))
            .expect("topology");
        let store = Store::new();
        let web_ns = topology.add_pod("n0", "default/web-0", WEB).expect("pod");
        let web = NetnsBackend::start(
            &web_ns,
            SocketAddr::from((WEB, 8080)),
            Protocol::Http,
            Behavior::default().route("/", Answer::status(200).with_body("web-0")),
        )
        .expect("backend");
        let wire_server = NetnsBackend::start(
            &topology.lb_netns(),
            SocketAddr::from((AZURE_LB_SOURCE, 80)),
            Protocol::Http,
            Behavior::default().route("/", Answer::status(200).with_body("wireserver")),
        )
        .expect("wire server");
        for object in [
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": "default", "name": "web-0", "labels": {"app": "web"}},
                "spec": {"nodeName": "n0", "containers": [{"name": "app", "image": "web",
                         "ports": [{"name": "http", "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": WEB.to_string()}}),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"namespace": "default", "name": "web"},
                "spec": {"type": "NodePort", "clusterIP": "10.0.0.80", "externalTrafficPolicy": "Cluster",
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": NODE_PORT}]}}),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"namespace": "default", "name": "web-x",
                             "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [WEB.to_string()], "nodeName": "n0", "conditions": {"ready": true}}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}),
        ] {
            store.apply(object).expect("object");
        }
        let dataplanes = ["n0", "n1"]
            .iter()
            .map(|node| {
                let ns = topology.node_netns(node).expect("node");
                NodeDataplane::start(store.clone(), &ns, node, DataplaneConfig::default())
                    .expect("dataplane")
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let lab = Lab {
            store,
            dataplanes,
            _backends: vec![web, wire_server],
            topology,
            rt,
        };
        lab.synced();
        lab
    }

    fn n0(&self) -> Arc<NetNs> {
        self.topology.node_netns("n0").expect("n0")
    }

    fn policy(&self, name: &str, spec: Value) {
        self.store
            .apply(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": {"namespace": "default", "name": name}, "spec": spec}),
            )
            .expect("policy");
        self.synced();
    }

    fn synced(&self) {
        let revision = self.store.revision();
        for dp in &self.dataplanes {
            let state = self.rt.block_on(dp.synced_to(revision, SYNC_TIMEOUT));
            assert!(state.is_ok(), "{} not synced: {state:?}", dp.node());
        }
    }

    /// Starts lb-source on n0 as the agent would: from a thread inside the node's namespace.
    fn lb_source(&self) -> (LbSource, Arc<SocketFactory>) {
        block_in(&self.n0(), || async {
            let source = LbSource::create(LbSourceConfig::default())?;
            let factory = source.socket_factory()?;
            Ok::<_, probesim_agent::Error>((source, factory))
        })
        .expect("thread in n0")
        .expect("lb-source")
    }

    /// One probe from n0 (from a thread of n0, as the agent's runtime would run it).
    fn probe(
        &self,
        protocol: ProbeProtocol,
        to: (Ipv4Addr, u16),
        source: Option<&Arc<SocketFactory>>,
    ) -> Outcome {
        let req = request(protocol, to, source);
        block_in(&self.n0(), move || async move {
            probe::probe(&req, &TlsConfigs::new()).await.outcome
        })
        .expect("thread in n0")
    }

    /// The private namespace lb-source makes for n0 (other tests' nodes have their own).
    fn host_netns_name(&self) -> String {
        let path = std::path::Path::new(netns::NETNS_DIR).join(self.n0().name());
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("n0"));
        probesim_agent::source::plan::Names::for_host(inode).netns
    }

    fn n0_has(&self, args: &[&str]) -> String {
        netns::run(
            "ip",
            &[&["netns", "exec", self.n0().name()][..], args].concat(),
        )
        .unwrap_or_default()
    }
}

fn request(
    protocol: ProbeProtocol,
    to: (Ipv4Addr, u16),
    source: Option<&Arc<SocketFactory>>,
) -> ProbeRequest {
    let spec = manual::spec(
        LbKind::AzureLb,
        &ManualProbe {
            protocol: Some(protocol),
            port: to.1,
            ..ManualProbe::default()
        },
    )
    .expect("spec");
    let mut req = ProbeRequest::for_spec(&spec, SocketAddr::from(to));
    req.timeout = PROBE_TIMEOUT;
    req.source = source.map(|f| ProbeSource::LbSource(f.clone()));
    req
}

const TIMEOUT: Outcome = Outcome::Timeout {
    phase: Phase::Connect,
};

#[test]
fn s2_a_policy_without_the_lb_source_times_out_lb_source_probes_while_node_probes_pass() {
    if !can_run_network_test(
        "s2_a_policy_without_the_lb_source_times_out_lb_source_probes_while_node_probes_pass",
    ) {
        return;
    }
    let lab = Lab::start();
    // Strict reverse-path filtering on the node: the probes' replies must still get through,
    // without loosening it anywhere.
    lab.n0_has(&["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1"]);
    let (source, factory) = lab.lb_source();
    let nodeport = (N0, NODE_PORT);
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, nodeport, Some(&factory)),
        Outcome::Connected,
        "no policy yet"
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Http, nodeport, Some(&factory)),
        Outcome::HttpStatus(200),
        "no policy yet"
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, (WEB, 8080), Some(&factory)),
        Outcome::Connected,
        "straight to the pod"
    );

    lab.policy(
        "default-deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, nodeport, Some(&factory)),
        TIMEOUT,
        "lb-source is dropped"
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Http, nodeport, Some(&factory)),
        TIMEOUT,
        "lb-source HTTP too"
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, nodeport, None),
        Outcome::Connected,
        "the node's own address passes"
    );

    // The LB's view, one checker at the Azure interval: down after `threshold` failed probes.
    let spec = manual::spec(
        LbKind::AzureLb,
        &ManualProbe {
            port: NODE_PORT,
            threshold: Some(2),
            ..ManualProbe::default()
        },
    )
    .expect("spec");
    let interval = Duration::from_secs(u64::from(spec.interval_s));
    let mut machine = HealthMachine::for_spec(&spec, &EmulationSettings::default(), Duration::ZERO);
    let mut at = Duration::ZERO;
    while machine.state() != LbState::Up && at < interval * 10 {
        at += interval;
        machine.observe(at, judge(&spec, &Outcome::Connected));
    }
    assert_eq!(machine.state(), LbState::Up);
    let mut failures = 0;
    while machine.state() == LbState::Up && failures < 5 {
        at += interval;
        let outcome = lab.probe(ProbeProtocol::Tcp, nodeport, Some(&factory));
        machine.observe(at, judge(&spec, &outcome));
        failures += 1;
    }
    assert_eq!(
        (machine.state(), failures),
        (LbState::Down, spec.unhealthy_threshold)
    );

    lab.policy("allow-azure-lb", json!({
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "168.63.129.16/32"}}], "ports": [{"port": 8080, "protocol": "TCP"}]}],
    }));
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, nodeport, Some(&factory)),
        Outcome::Connected,
        "allowed again"
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Http, nodeport, Some(&factory)),
        Outcome::HttpStatus(200)
    );
    drop(source);
}

#[test]
fn the_nodes_own_traffic_to_168_63_129_16_is_untouched_while_lb_source_runs() {
    if !can_run_network_test(
        "the_nodes_own_traffic_to_168_63_129_16_is_untouched_while_lb_source_runs",
    ) {
        return;
    }
    let lab = Lab::start();
    let wire = SocketAddr::from((AZURE_LB_SOURCE, 80));
    let get = || http_get_in(&lab.n0(), None, wire, "/", PROBE_TIMEOUT).map(|a| a.body);
    assert_eq!(get().ok().as_deref(), Some("wireserver"), "before");
    let (source, factory) = lab.lb_source();
    for _ in 0..3 {
        assert_eq!(
            get().ok().as_deref(),
            Some("wireserver"),
            "while lb-source runs"
        );
        assert_eq!(
            lab.probe(ProbeProtocol::Http, (N0, NODE_PORT), Some(&factory)),
            Outcome::HttpStatus(200)
        );
    }
    // A probe of the node itself from lb-source, answered by a socket of the node (INPUT and
    // OUTPUT rather than FORWARD), comes back too.
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, (N0, 22), Some(&factory)),
        Outcome::Refused,
        "the node's closed port answers RST"
    );
    drop(factory);
    source.remove().expect("remove");
    assert_eq!(get().ok().as_deref(), Some("wireserver"), "after");
}

#[test]
fn setup_removes_a_crashed_agents_leftovers_and_teardown_leaves_nothing() {
    if !can_run_network_test("setup_removes_a_crashed_agents_leftovers_and_teardown_leaves_nothing")
    {
        return;
    }
    let lab = Lab::start();
    let clean = |lab: &Lab| {
        let names_dir = std::fs::read_dir(netns::NETNS_DIR).expect("netns dir");
        let leftovers: Vec<String> = names_dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| *n == lab.host_netns_name())
            .collect();
        (
            leftovers,
            lab.n0_has(&["ip", "-o", "link", "show"]).contains("psrc"),
            lab.n0_has(&["ip", "rule", "show"])
                .contains(&DEFAULT_ROUTE_TABLE.to_string()),
            lab.n0_has(&[
                "ip",
                "route",
                "show",
                "table",
                &DEFAULT_ROUTE_TABLE.to_string(),
            ]),
            lab.n0_has(&["iptables-save", "-t", "mangle"])
                .contains(CHAIN_IN),
        )
    };
    let nothing = (Vec::<String>::new(), false, false, String::new(), false);
    assert_eq!(clean(&lab), nothing);

    let (crashed, factory) = lab.lb_source();
    let name = crashed.names().netns.clone();
    assert_eq!(
        name,
        lab.host_netns_name(),
        "named after the host namespace"
    );
    drop(factory);
    // A crash: nothing is removed.
    std::mem::forget(crashed);
    assert!(
        lab.n0_has(&["iptables-save", "-t", "mangle"])
            .contains(CHAIN_OUT)
    );

    let (again, factory) = lab.lb_source();
    assert_eq!(
        again.names().netns,
        name,
        "the same host gets the same names"
    );
    let saved = lab.n0_has(&["iptables-save", "-t", "mangle"]);
    assert_eq!(
        saved.matches(&format!("-j {CHAIN_IN}\n")).count(),
        1,
        "one jump, not two: {saved}"
    );
    assert_eq!(
        lab.n0_has(&["ip", "rule", "show"])
            .matches(&format!("lookup {DEFAULT_ROUTE_TABLE}"))
            .count(),
        1
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, (N0, NODE_PORT), Some(&factory)),
        Outcome::Connected
    );
    drop(factory);
    // Dropped from the test's thread, outside the node: teardown enters the node's namespace.
    drop(again);
    assert_eq!(clean(&lab), nothing);
}
