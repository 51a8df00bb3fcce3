//! kube-proxy's emulation on real namespaces: NodePorts reach pods on the same and on other
//! nodes, externalTrafficPolicy Local keeps the client's address and drops what has no local
//! endpoint, the health-check node ports answer as kube-proxy's, and rules follow endpoint
//! changes within a second.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use probesim_lab::api::{Resource, Store};
use probesim_lab::backend::{Answer, Behavior, Protocol};
use probesim_lab::net::reach::{HttpAnswer, NetnsBackend, http_get_in};
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

/// Two nodes, one pod on each answering `/who` with its name, and both nodes' dataplanes.
struct Lab {
    store: Arc<Store>,
    dataplanes: Vec<NodeDataplane>,
    _backends: Vec<NetnsBackend>,
    topology: Topology,
    rt: tokio::runtime::Runtime,
}

impl Lab {
    fn start() -> Lab {
        let topology = Topology::create(TopologySpec::new(&["n0", "n1"], &[AZURE_LB_SOURCE]))
            .expect("topology");
        let store = Store::new();
        let mut backends = Vec::new();
        for (node, pod) in [("n0", "web-0"), ("n1", "web-1")] {
            let ip = topology.allocate_pod_ip(node).expect("pod address");
            let ns = topology.add_pod(node, pod, ip).expect("pod");
            let behavior = Behavior::default().route("/who", Answer::status(200).with_body(pod));
            let bind = SocketAddr::from((ip, 8080));
            backends
                .push(NetnsBackend::start(&ns, bind, Protocol::Http, behavior).expect("backend"));
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
        Lab {
            store,
            dataplanes,
            _backends: backends,
            topology,
            rt,
        }
    }

    fn apply(&self, object: Value) {
        self.store.apply(object).expect("apply");
    }

    /// Waits until every node shows the store as it is now.
    fn synced(&self) {
        let revision = self.store.revision();
        for dp in &self.dataplanes {
            let state = self.rt.block_on(dp.synced_to(revision, TIMEOUT));
            assert!(state.is_ok(), "{} not synced: {state:?}", dp.node());
        }
    }

    /// GET from the LB namespace, from 168.63.129.16.
    fn get_from_lb(
        &self,
        node: Ipv4Addr,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> std::io::Result<HttpAnswer> {
        let lb = self.topology.lb_netns();
        http_get_in(
            &lb,
            Some(AZURE_LB_SOURCE),
            SocketAddr::from((node, port)),
            path,
            timeout,
        )
    }

    fn who(&self, node: Ipv4Addr, port: u16) -> String {
        match self.get_from_lb(node, port, "/who", TIMEOUT) {
            Ok(answer) => answer.body,
            Err(e) => panic!("GET {node}:{port}/who: {e}"),
        }
    }

    /// The connections in node `node`'s conntrack table that arrived for port `port`.
    fn conntrack(&self, node: &str, port: u16) -> String {
        let ns = self.topology.node_netns(node).expect("node");
        ns.exec(
            "conntrack",
            &["-L", "-p", "tcp", "--dport", &port.to_string()],
        )
        .expect("conntrack")
    }
}

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"namespace": "default", "name": name}, "spec": spec})
}

/// A slice of Service `service` with port 8080 and (ip, node, ready, terminating) endpoints.
fn slice(service: &str, endpoints: &[(&str, &str, bool, bool)]) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, node, ready, terminating)| json!({
            "addresses": [ip], "nodeName": node,
            "conditions": {"ready": ready, "serving": ready | terminating, "terminating": terminating}}))
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"namespace": "default", "name": format!("{service}-abcde"),
                        "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "endpoints": endpoints,
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
}

fn node_port_service(name: &str, cluster_ip: &str, node_port: u16, policy: &str) -> Value {
    service(
        name,
        json!({
        "type": if policy == "Local" { "LoadBalancer" } else { "NodePort" },
        "clusterIP": cluster_ip, "externalTrafficPolicy": policy,
        "healthCheckNodePort": if policy == "Local" { json!(32100) } else { Value::Null },
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": node_port}]}),
    )
}

#[test]
fn node_ports_and_cluster_ips_reach_pods_on_the_same_and_on_other_nodes() {
    if !can_run_network_test("node_ports_and_cluster_ips_reach_pods_on_the_same_and_on_other_nodes")
    {
        return;
    }
    let lab = Lab::start();
    lab.apply(node_port_service("web", "10.0.0.10", 30080, "Cluster"));
    lab.apply(slice(
        "web",
        &[
            ("10.244.0.2", "n0", true, false),
            ("10.244.1.2", "n1", true, false),
        ],
    ));
    lab.apply(node_port_service("solo", "10.0.0.11", 30081, "Cluster"));
    lab.apply(slice("solo", &[("10.244.1.2", "n1", true, false)]));
    lab.synced();

    assert_eq!(
        lab.who(N1, 30081),
        "web-1",
        "NodePort to a pod on the same node"
    );
    assert_eq!(
        lab.who(N0, 30081),
        "web-1",
        "NodePort to a pod on another node"
    );
    assert!(
        lab.conntrack("n1", 8080).contains(&format!("src={N0}")),
        "Cluster traffic from another node arrives SNATed to that node: {}",
        lab.conntrack("n1", 8080)
    );
    let mut seen: Vec<String> = (0..40).map(|_| lab.who(N0, 30080)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["web-0", "web-1"], "spread over both endpoints");

    // A deleted Service's rules and chains go with it.
    let n0 = lab.topology.node_netns("n0").unwrap();
    let svc_chains = |text: &str| text.lines().filter(|l| l.starts_with(":KUBE-SVC-")).count();
    let before = svc_chains(&n0.exec("iptables-save", &[]).unwrap());
    lab.store
        .delete(Resource::Service, "default", "web")
        .unwrap();
    lab.synced();
    let after = n0.exec("iptables-save", &[]).unwrap();
    assert_eq!(svc_chains(&after), before - 1, "{after}");
    assert!(!after.contains("default/web:http"), "{after}");

    let pod = lab.topology.pod_netns("web-0").expect("pod");
    let answer = http_get_in(&pod, None, "10.0.0.11:80".parse().unwrap(), "/who", TIMEOUT).unwrap();
    assert_eq!(answer.body, "web-1", "a pod to a ClusterIP");
    let node = lab.topology.node_netns("n0").unwrap();
    let answer = http_get_in(&node, None, SocketAddr::from((N0, 30081)), "/who", TIMEOUT).unwrap();
    assert_eq!(answer.body, "web-1", "a node to its own NodePort");
}

#[test]
fn a_service_without_endpoints_refuses_connections() {
    if !can_run_network_test("a_service_without_endpoints_refuses_connections") {
        return;
    }
    let lab = Lab::start();
    lab.apply(node_port_service("empty", "10.0.0.12", 30082, "Cluster"));
    lab.synced();
    let err = lab.get_from_lb(N0, 30082, "/", TIMEOUT).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn local_policy_health_check_node_port_answers_503_without_a_local_pod_and_200_with_one() {
    if !can_run_network_test(
        "local_policy_health_check_node_port_answers_503_without_a_local_pod_and_200_with_one",
    ) {
        return;
    }
    let lab = Lab::start();
    lab.apply(node_port_service("ingress", "10.0.0.20", 30090, "Local"));
    lab.apply(slice("ingress", &[("10.244.1.2", "n1", true, false)]));
    lab.synced();

    let down = lab.get_from_lb(N0, 32100, "/healthz", TIMEOUT).unwrap();
    assert_eq!(down.status, 503);
    assert_eq!(
        down.body,
        "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"ingress\"\n\t},\n\t\"localEndpoints\": 0,\n\t\"serviceProxyHealthy\": true\n}"
    );
    assert_eq!(down.header("content-type"), Some("application/json"));
    assert_eq!(down.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(down.header("x-load-balancing-endpoint-weight"), Some("0"));
    let up = lab.get_from_lb(N1, 32100, "/any/path", TIMEOUT).unwrap();
    assert_eq!(up.status, 200);
    assert!(up.body.contains("\"localEndpoints\": 1,"), "{}", up.body);

    // The NodePort: dropped where no pod is, served with the client's address kept where one is.
    let dropped = lab
        .get_from_lb(N0, 30090, "/who", DROP_TIMEOUT)
        .unwrap_err();
    assert_eq!(dropped.kind(), std::io::ErrorKind::TimedOut, "{dropped}");
    assert_eq!(lab.who(N1, 30090), "web-1");
    let seen = lab.conntrack("n1", 30090);
    assert!(seen.contains(&format!("src={AZURE_LB_SOURCE}")), "{seen}");
    assert!(
        seen.contains("src=10.244.1.2"),
        "answered by the local pod: {seen}"
    );
    assert!(
        !seen.contains(&format!("dst={N1} sport=8080")),
        "not SNATed: {seen}"
    );

    // kube-proxy's own health on :10256.
    let healthz = lab.get_from_lb(N0, 10256, "/healthz", TIMEOUT).unwrap();
    assert_eq!(healthz.status, 200);
    let json: Value = serde_json::from_str(&healthz.body).unwrap();
    assert_eq!(json["nodeEligible"], true);
    assert_eq!(
        lab.get_from_lb(N0, 10256, "/livez", TIMEOUT)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        lab.get_from_lb(N0, 10256, "/", TIMEOUT).unwrap().status,
        404
    );

    // A node the autoscaler is about to delete fails /healthz.
    lab.apply(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n0"},
                     "spec": {"taints": [{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}]}}));
    lab.synced();
    assert_eq!(
        lab.get_from_lb(N0, 10256, "/healthz", TIMEOUT)
            .unwrap()
            .status,
        503
    );
    assert_eq!(
        lab.get_from_lb(N1, 10256, "/healthz", TIMEOUT)
            .unwrap()
            .status,
        200
    );
}

/// Polls until `check` holds, every 20 ms, for at most `limit`; returns how long it took.
fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn endpoint_changes_are_reflected_within_a_second() {
    if !can_run_network_test("endpoint_changes_are_reflected_within_a_second") {
        return;
    }
    let lab = Lab::start();
    lab.apply(node_port_service("ingress", "10.0.0.20", 30090, "Local"));
    lab.apply(slice("ingress", &[("10.244.1.2", "n1", true, false)]));
    lab.apply(node_port_service("solo", "10.0.0.11", 30081, "Cluster"));
    lab.apply(slice("solo", &[("10.244.1.2", "n1", true, false)]));
    lab.synced();
    let status = |node| {
        lab.get_from_lb(node, 32100, "/", TIMEOUT)
            .map(|a| a.status)
            .unwrap_or(0)
    };
    assert_eq!(status(N0), 503);

    // A pod on n0 becomes ready: n0's health-check node port turns 200.
    lab.apply(slice(
        "ingress",
        &[
            ("10.244.0.2", "n0", true, false),
            ("10.244.1.2", "n1", true, false),
        ],
    ));
    let took = until(Duration::from_secs(1), || status(N0) == 200);
    assert!(took.is_some(), "n0 still answers {}", status(N0));
    // It starts terminating: terminating endpoints do not count.
    lab.apply(slice(
        "ingress",
        &[
            ("10.244.0.2", "n0", false, true),
            ("10.244.1.2", "n1", true, false),
        ],
    ));
    assert!(until(Duration::from_secs(1), || status(N0) == 503).is_some());

    // The only endpoint of a Cluster Service moves from n1's pod to n0's.
    lab.apply(slice("solo", &[("10.244.0.2", "n0", true, false)]));
    let took = until(Duration::from_secs(1), || lab.who(N1, 30081) == "web-0");
    assert!(took.is_some(), "still {}", lab.who(N1, 30081));
}
