//! The lab's topology on real namespaces: what it builds, what reaches what, and that nothing is
//! left behind, not even after a crash.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use probesim_lab::api::Store;
use probesim_lab::backend::{Behavior, Protocol};
use probesim_lab::net::reach::{NetnsBackend, block_in, http_get};
use probesim_lab::net::topology::{
    AZURE_LB_SOURCE, CONTROL_PLANE_ADDR, CONTROL_PLANE_PORT, NETNS_PREFIX, state_path,
};
use probesim_lab::net::{
    DataplaneConfig, NodeDataplane, Topology, TopologySpec, can_run_network_test, remove_leftovers,
};

/// Below TCP's first retransmission (1 s): every link must carry the very first SYN.
const TIMEOUT: Duration = Duration::from_millis(900);
/// An address inside an AWS ALB subnet of the lab's VNet.
const ALB_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 224, 255, 10);
/// Set for the child process of the crash test.
const CRASH_ENV: &str = "PROBESIM_LAB_TEST_CRASH_PREFIX";

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the lab must never change in the root namespace.
fn root_snapshot() -> String {
    let iptables: String = sh("iptables-save", &[])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" [").next().unwrap_or(l).to_owned() + "\n")
        .collect();
    [
        sh("ip", &["-o", "link"]),
        sh("ip", &["-o", "addr"]),
        sh("ip", &["route", "show", "table", "all"]),
        sh("ip", &["rule"]),
        iptables,
    ]
    .join("\n")
}

fn lab_namespaces(prefix: &str) -> Vec<String> {
    let start = format!("{NETNS_PREFIX}{prefix}-");
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&start))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn child_processes() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn get(ns: &probesim_agent::netns::NetNs, source: Option<Ipv4Addr>, to: SocketAddr) -> u16 {
    block_in(ns, move || async move {
        match http_get(source, to, "/healthz", TIMEOUT).await {
            Ok(answer) => answer.status,
            Err(e) => panic!("GET http://{to}/healthz from {source:?}: {e}"),
        }
    })
    .expect("namespace thread")
}

#[test]
fn topology_and_dataplanes_up_and_down_leave_nothing_behind() {
    if !can_run_network_test("topology_and_dataplanes_up_and_down_leave_nothing_behind") {
        return;
    }
    let before = root_snapshot();
    let spec = TopologySpec::new(&["n0", "n1"], &[AZURE_LB_SOURCE, ALB_SOURCE]);
    let prefix = spec.prefix.clone();
    let topology = Topology::create(spec).unwrap();
    let ip = topology.allocate_pod_ip("n0").unwrap();
    assert_eq!(ip, Ipv4Addr::new(10, 244, 0, 2));
    let pod = topology.add_pod("n0", "default/web-0", ip).unwrap();
    // Each node's dataplane: a thread with health servers, and iptables runs.
    let store = Store::new();
    let dataplanes: Vec<NodeDataplane> = ["n0", "n1"]
        .iter()
        .map(|n| {
            let ns = topology.node_netns(n).unwrap();
            NodeDataplane::start(store.clone(), &ns, n, DataplaneConfig::default()).unwrap()
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for dp in &dataplanes {
        assert!(
            rt.block_on(dp.synced_to(store.revision(), Duration::from_secs(5)))
                .is_ok()
        );
    }
    let second = topology.allocate_pod_ip("n0").unwrap();
    topology.add_pod("n0", "default/web-1", second).unwrap();
    assert_eq!(
        lab_namespaces(&prefix).len(),
        6,
        "{:?}",
        lab_namespaces(&prefix)
    );
    assert!(state_path(&prefix).exists());

    // Removing a pod takes its veth and its node's route with it.
    let node = topology.node_netns("n0").unwrap();
    topology.remove_pod("default/web-1").unwrap();
    let links = node.exec("ip", &["-o", "link"]).unwrap();
    assert!(links.contains(&format!("{prefix}p1")) && !links.contains(&format!("{prefix}p2")));
    let routes = node.exec("ip", &["route"]).unwrap();
    assert!(!routes.contains(&second.to_string()), "{routes}");

    // Nothing routes out of the lab, and the LB sources live only in the LB namespace.
    for ns in [topology.fabric_netns(), node.clone(), topology.lb_netns()] {
        let out = Command::new("ip")
            .args(["-n", ns.name(), "route", "get", "192.0.2.1"])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{} routes outside the lab",
            ns.name()
        );
    }
    assert_eq!(root_snapshot(), before, "the root namespace changed");

    drop((pod, node, dataplanes));
    drop(topology);
    assert!(
        lab_namespaces(&prefix).is_empty(),
        "{:?}",
        lab_namespaces(&prefix)
    );
    assert!(!state_path(&prefix).exists());
    assert_eq!(root_snapshot(), before, "the root namespace changed");
    assert!(child_processes().is_empty(), "{:?}", child_processes());
}

#[test]
fn pods_nodes_lb_sources_and_control_plane_reach_each_other() {
    if !can_run_network_test("pods_nodes_lb_sources_and_control_plane_reach_each_other") {
        return;
    }
    let topology = Topology::create(TopologySpec::new(
        &["n0", "n1"],
        &[AZURE_LB_SOURCE, ALB_SOURCE],
    ))
    .unwrap();
    let a_ip = topology.allocate_pod_ip("n0").unwrap();
    let b_ip = topology.allocate_pod_ip("n1").unwrap();
    let a = topology.add_pod("n0", "default/a", a_ip).unwrap();
    let b = topology.add_pod("n1", "default/b", b_ip).unwrap();
    let serve = |ns, ip: Ipv4Addr, port| {
        NetnsBackend::start(
            ns,
            SocketAddr::from((ip, port)),
            Protocol::Http,
            Behavior::ingress_nginx_default_backend(),
        )
        .unwrap()
    };
    let _backend_a = serve(&a, a_ip, 8080);
    let _backend_b = serve(&b, b_ip, 8080);
    let fabric = topology.fabric_netns();
    let _api = serve(&fabric, CONTROL_PLANE_ADDR, CONTROL_PLANE_PORT);

    let to_a = SocketAddr::from((a_ip, 8080));
    let to_b = SocketAddr::from((b_ip, 8080));
    let n0 = topology.node_netns("n0").unwrap();
    let n1 = topology.node_netns("n1").unwrap();
    let lb = topology.lb_netns();
    assert_eq!(get(&a, None, to_b), 200, "pod to pod across nodes");
    assert_eq!(get(&b, None, to_a), 200, "and back");
    assert_eq!(get(&n0, None, to_b), 200, "node to another node's pod");
    assert_eq!(get(&n1, None, to_b), 200, "node to its own pod");
    assert_eq!(
        get(&lb, Some(AZURE_LB_SOURCE), to_a),
        200,
        "168.63.129.16 to a pod"
    );
    assert_eq!(
        get(&lb, Some(ALB_SOURCE), to_b),
        200,
        "an ALB subnet address to a pod"
    );
    let api = SocketAddr::from((CONTROL_PLANE_ADDR, CONTROL_PLANE_PORT));
    assert_eq!(get(&n1, None, api), 200, "a node to the control plane");
    assert_eq!(get(&b, None, api), 200, "a pod to the control plane");
}

/// The child half of the crash test: builds a topology, then dies without cleaning up.
#[test]
fn crashing_child_of_the_leftovers_test() {
    let Ok(prefix) = std::env::var(CRASH_ENV) else {
        return; // Only the crash test runs this, as a child process.
    };
    let topology =
        Topology::create(TopologySpec::new(&["n0"], &[AZURE_LB_SOURCE]).with_prefix(&prefix))
            .unwrap();
    let ip = topology.allocate_pod_ip("n0").unwrap();
    topology.add_pod("n0", "default/web", ip).unwrap();
    std::process::abort();
}

#[test]
fn remove_leftovers_cleans_up_after_a_crashed_run() {
    if !can_run_network_test("remove_leftovers_cleans_up_after_a_crashed_run") {
        return;
    }
    let prefix = TopologySpec::new(&["n0"], &[]).prefix;
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crashing_child_of_the_leftovers_test",
            "--nocapture",
        ])
        .env(CRASH_ENV, &prefix)
        .output()
        .unwrap();
    assert!(!status.status.success(), "the child should have crashed");
    let left = lab_namespaces(&prefix);
    assert_eq!(left.len(), 4, "fabric, lb, node, pod: {left:?}");
    assert!(state_path(&prefix).exists());

    let removed = remove_leftovers().unwrap();
    for name in &left {
        assert!(removed.contains(name), "{name} not in {removed:?}");
    }
    assert!(lab_namespaces(&prefix).is_empty());
    assert!(!state_path(&prefix).exists());
}
