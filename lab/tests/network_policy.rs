//! NetworkPolicy emulation on real namespaces (scenario S2): a policy that does not allow
//! 168.63.129.16 drops the LB's packets while the node's own address gets through, and what a
//! policy engine sees of Cluster traffic forwarded from another node.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use probesim_agent::netns::NetNs;
use probesim_lab::api::Store;
use probesim_lab::backend::{Answer, Behavior, Protocol};
use probesim_lab::net::reach::{NetnsBackend, http_get_in};
use probesim_lab::net::topology::AZURE_LB_SOURCE;
use probesim_lab::net::{
    DataplaneConfig, NodeDataplane, Topology, TopologySpec, can_run_network_test,
};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(3);
/// Long enough for a dropped SYN to show as a timeout, short enough to keep tests quick.
const DROP_TIMEOUT: Duration = Duration::from_millis(700);
const N0: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 4);
const N1: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 5);
const WEB: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 3);

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Served,
    Dropped,
    Other(String),
}

struct Lab {
    store: Arc<Store>,
    dataplanes: Vec<NodeDataplane>,
    _web: NetnsBackend,
    topology: Topology,
    rt: tokio::runtime::Runtime,
}

impl Lab {
    /// Nodes n0 and n1; on n0 pod `web-0` (serving 8080) and pod `client-0`; Service `web`
    /// (NodePort 30080, Cluster) and `web-local` (LoadBalancer, Local, NodePort 30081).
    fn start() -> Lab {
        let topology = Topology::create(TopologySpec::new(&["n0", "n1"], &[AZURE_LB_SOURCE]))
            .expect("topology");
        let store = Store::new();
        let web = topology.add_pod("n0", "default/web-0", WEB).expect("pod");
        topology
            .add_pod("n0", "default/client-0", CLIENT)
            .expect("pod");
        let behavior = Behavior::default().route("/", Answer::status(200).with_body("web-0"));
        let web = NetnsBackend::start(
            &web,
            SocketAddr::from((WEB, 8080)),
            Protocol::Http,
            behavior,
        )
        .expect("backend");
        for (name, ip, app) in [("web-0", WEB, "web"), ("client-0", CLIENT, "client")] {
            store
                .apply(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"namespace": "default", "name": name, "labels": {"app": app}},
                    "spec": {"nodeName": "n0", "containers": [{"name": "app", "image": "web",
                             "ports": [{"name": "http", "containerPort": 8080}]}]},
                    "status": {"phase": "Running", "podIP": ip.to_string()}}))
                .expect("pod");
        }
        for (name, kind, policy, node_port) in [
            ("web", "NodePort", "Cluster", 30080),
            ("web-local", "LoadBalancer", "Local", 30081),
        ] {
            store
                .apply(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"namespace": "default", "name": name},
                    "spec": {"type": kind, "clusterIP": format!("10.0.0.{}", node_port - 30000),
                             "externalTrafficPolicy": policy, "healthCheckNodePort": if policy == "Local" { json!(32101) } else { Value::Null },
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": node_port}]}}))
                .expect("service");
            store
                .apply(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"namespace": "default", "name": format!("{name}-x"),
                                 "labels": {"kubernetes.io/service-name": name}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [WEB.to_string()], "nodeName": "n0", "conditions": {"ready": true}}],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}))
                .expect("slice");
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
            _web: web,
            topology,
            rt,
        };
        lab.synced();
        lab
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
            let state = self.rt.block_on(dp.synced_to(revision, TIMEOUT));
            assert!(state.is_ok(), "{} not synced: {state:?}", dp.node());
        }
    }

    fn get(&self, ns: &NetNs, source: Option<Ipv4Addr>, to: (Ipv4Addr, u16)) -> Outcome {
        match http_get_in(ns, source, SocketAddr::from(to), "/", DROP_TIMEOUT) {
            Ok(answer) if answer.body == "web-0" => Outcome::Served,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Dropped,
            other => Outcome::Other(format!("{other:?}")),
        }
    }

    fn lb_gets(&self, to: (Ipv4Addr, u16)) -> Outcome {
        self.get(&self.topology.lb_netns(), Some(AZURE_LB_SOURCE), to)
    }

    fn node_gets(&self, node: &str, to: (Ipv4Addr, u16)) -> Outcome {
        self.get(&self.topology.node_netns(node).expect("node"), None, to)
    }

    fn client_pod_gets(&self) -> Outcome {
        self.get(
            &self.topology.pod_netns("default/client-0").expect("pod"),
            None,
            (WEB, 8080),
        )
    }
}

use Outcome::{Dropped, Served};

#[test]
fn a_default_deny_policy_blocks_the_lb_source_while_the_node_address_gets_through() {
    if !can_run_network_test(
        "a_default_deny_policy_blocks_the_lb_source_while_the_node_address_gets_through",
    ) {
        return;
    }
    let lab = Lab::start();
    assert_eq!(lab.lb_gets((N0, 30081)), Served, "no policy yet");
    assert_eq!(lab.client_pod_gets(), Served, "no policy yet");

    lab.policy(
        "default-deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    assert_eq!(
        lab.lb_gets((N0, 30081)),
        Dropped,
        "Local NodePort from 168.63.129.16"
    );
    assert_eq!(
        lab.lb_gets((N0, 30080)),
        Dropped,
        "Cluster NodePort, pod on the same node"
    );
    assert_eq!(
        lab.lb_gets((WEB, 8080)),
        Dropped,
        "straight to the pod, as an ALB in ip mode"
    );
    assert_eq!(lab.client_pod_gets(), Dropped, "another pod");
    assert_eq!(
        lab.node_gets("n0", (N0, 30081)),
        Served,
        "the node's own address"
    );
    assert_eq!(
        lab.node_gets("n0", (WEB, 8080)),
        Served,
        "the node to its pod"
    );
    // kube-proxy's health-check node port is the node's, not the pod's: the LB's probe of a
    // Local Service passes while its traffic is dropped.
    let hcnp = http_get_in(
        &lab.topology.lb_netns(),
        Some(AZURE_LB_SOURCE),
        SocketAddr::from((N0, 32101)),
        "/healthz",
        TIMEOUT,
    );
    assert_eq!(hcnp.map(|a| a.status).ok(), Some(200));
}

#[test]
fn an_ip_block_for_the_lb_source_lets_it_through_but_not_cluster_traffic_from_another_node() {
    if !can_run_network_test(
        "an_ip_block_for_the_lb_source_lets_it_through_but_not_cluster_traffic_from_another_node",
    ) {
        return;
    }
    let lab = Lab::start();
    lab.policy(
        "default-deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    lab.policy("allow-azure-lb", json!({
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "168.63.129.16/32"}}], "ports": [{"port": "http"}]}],
    }));
    assert_eq!(lab.lb_gets((N0, 30081)), Served, "Local NodePort");
    assert_eq!(
        lab.lb_gets((N0, 30080)),
        Served,
        "Cluster NodePort on the pod's node: not yet SNATed"
    );
    assert_eq!(
        lab.lb_gets((N1, 30080)),
        Dropped,
        "Cluster NodePort on another node: SNATed to n1"
    );
    assert_eq!(lab.client_pod_gets(), Dropped);

    lab.policy("allow-nodes", json!({
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.224.0.0/16", "except": ["10.224.0.4/32"]}}]}],
    }));
    assert_eq!(
        lab.lb_gets((N1, 30080)),
        Served,
        "n1's address is allowed now"
    );

    lab.policy("allow-clients", json!({
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}},
                               "podSelector": {"matchLabels": {"app": "client"}}}],
                     "ports": [{"port": 8080, "protocol": "TCP"}]}],
    }));
    assert_eq!(lab.client_pod_gets(), Served);
}
