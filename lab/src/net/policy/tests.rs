use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};

use super::*;

const NODE: &str = "node-a";

fn pod(ns: &str, name: &str, node: &str, ip: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x",
                 "ports": [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
        "status": {"phase": "Running", "podIP": ip},
    }))
    .unwrap()
}

fn policy(ns: &str, name: &str, spec: Value) -> NetworkPolicy {
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name}, "spec": spec}))
        .unwrap()
}

fn namespace(name: &str, labels: Value) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

fn web_pods() -> Vec<Pod> {
    vec![
        pod(
            "web",
            "front-0",
            NODE,
            "10.244.0.5",
            json!({"app": "front"}),
        ),
        pod(
            "web",
            "front-1",
            "node-b",
            "10.244.1.5",
            json!({"app": "front"}),
        ),
        pod("web", "db-0", NODE, "10.244.0.6", json!({"app": "db"})),
        pod(
            "monitoring",
            "prom-0",
            "node-b",
            "10.244.1.9",
            json!({"app": "prometheus"}),
        ),
    ]
}

fn rendered(pods: &[Pod], namespaces: &[Namespace], policies: &[NetworkPolicy]) -> Ruleset {
    render(&PolicyInput {
        node: NODE,
        pods,
        namespaces,
        policies,
    })
}

fn pod_chain(id: &str) -> String {
    chain_name("KUBE-POD-FW-", id)
}

fn rules(r: &Ruleset, chain: &str) -> Vec<String> {
    r.chain_rules(Table::Filter, chain)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

const MARK: &str = "-j MARK --set-xmark 0x10000/0x10000";

#[test]
fn without_policies_no_pod_is_filtered() {
    let r = rendered(&web_pods(), &[], &[]);
    assert_eq!(r.chains(Table::Filter).collect::<Vec<_>>(), [POD_FW_CHAIN]);
    assert!(rules(&r, POD_FW_CHAIN).is_empty());
}

#[test]
fn default_deny_drops_every_new_connection_to_the_selected_local_pods() {
    let deny = policy(
        "web",
        "default-deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    let r = rendered(&web_pods(), &[], &[deny]);
    assert_eq!(
        rules(&r, POD_FW_CHAIN),
        [
            format!(
                "-d 10.244.0.6/32 -m conntrack --ctstate NEW -m comment --comment \"web/db-0\" -j {}",
                pod_chain("web/db-0")
            ),
            format!(
                "-d 10.244.0.5/32 -m conntrack --ctstate NEW -m comment --comment \"web/front-0\" -j {}",
                pod_chain("web/front-0")
            ),
        ],
        "only this node's pods, not front-1 on node-b"
    );
    assert_eq!(
        rules(&r, &pod_chain("web/front-0")),
        [
            "-m mark ! --mark 0x10000/0x10000 -m comment --comment \"web/front-0: no NetworkPolicy allows this connection\" -j DROP",
            "-j MARK --set-xmark 0x0/0x10000",
        ]
    );
}

#[test]
fn an_ip_block_allows_the_lb_source_and_exceptions_return_before_the_mark() {
    let allow_lb = policy(
        "web",
        "allow-lb",
        json!({
            "podSelector": {"matchLabels": {"app": "front"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "168.63.129.16/32"}}], "ports": [{"port": 8080}]}],
        }),
    );
    let allow_vnet = policy(
        "web",
        "allow-vnet",
        json!({
            "podSelector": {"matchLabels": {"app": "front"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.224.0.0/16", "except": ["10.224.0.4/32"]}}]}],
        }),
    );
    let r = rendered(&web_pods(), &[], &[allow_vnet, allow_lb]);
    let chain = rules(&r, &pod_chain("web/front-0"));
    let block = chain_name(
        "KUBE-NWPLCY-",
        "web/front-0 web/allow-vnet ingress[0] 0 0 10.224.0.0/16",
    );
    assert_eq!(
        chain[..2],
        [
            format!(
                "-m comment --comment \"web/allow-lb ingress[0]\" -s 168.63.129.16/32 -p tcp -m tcp --dport 8080 {MARK}"
            ),
            format!("-m comment --comment \"web/allow-vnet ingress[0]\" -j {block}"),
        ]
    );
    assert_eq!(
        rules(&r, &block),
        [
            "-s 10.224.0.4/32 -j RETURN".to_owned(),
            format!("-m comment --comment \"web/allow-vnet ingress[0]\" -s 10.224.0.0/16 {MARK}"),
        ]
    );
    assert!(
        !rules(&r, POD_FW_CHAIN).iter().any(|r| r.contains("db-0")),
        "db is not selected"
    );
}

#[test]
fn pod_and_namespace_selectors_allow_the_matching_pods_addresses() {
    let from_front = policy(
        "web",
        "db-from-front",
        json!({
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}]}],
        }),
    );
    let from_monitoring = policy(
        "web",
        "db-from-monitoring",
        json!({
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "obs"}},
                                   "podSelector": {"matchLabels": {"app": "prometheus"}}}]}],
        }),
    );
    let by_name = policy(
        "web",
        "db-from-monitoring-by-name",
        json!({
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}],
        }),
    );
    let chain = pod_chain("web/db-0");
    let r = rendered(
        &web_pods(),
        &[],
        &[from_front.clone(), from_monitoring.clone()],
    );
    let sources: Vec<String> = rules(&r, &chain)
        .iter()
        .filter_map(|r| {
            r.split(" -s ")
                .nth(1)
                .map(|s| s.split(' ').next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        sources,
        ["10.244.0.5/32", "10.244.1.5/32"],
        "no Namespace object: no team label"
    );

    let labelled = [namespace("monitoring", json!({"team": "obs"}))];
    let r = rendered(&web_pods(), &labelled, &[from_front, from_monitoring]);
    assert!(
        rules(&r, &chain)
            .iter()
            .any(|r| r.contains("-s 10.244.1.9/32"))
    );
    let r = rendered(&web_pods(), &[], &[by_name]);
    assert!(
        rules(&r, &chain)
            .iter()
            .any(|r| r.contains("-s 10.244.1.9/32")),
        "metadata.name label"
    );
}

#[test]
fn ports_match_numbers_ranges_protocols_and_the_pods_named_ports() {
    let np = policy(
        "web",
        "ports",
        json!({
            "podSelector": {"matchLabels": {"app": "front"}},
            "ingress": [
                {"ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}, {"port": 9000, "endPort": 9010},
                           {"protocol": "SCTP"}, {"port": "missing"}]},
                {"from": [], "ports": [{"port": "missing"}]},
            ],
        }),
    );
    let r = rendered(&web_pods(), &[], &[np]);
    let chain = rules(&r, &pod_chain("web/front-0"));
    let c = "-m comment --comment \"web/ports ingress[0]\"";
    assert_eq!(
        chain[..4],
        [
            format!("{c} -p tcp -m tcp --dport 8080 {MARK}"),
            format!("{c} -p udp -m udp --dport 53 {MARK}"),
            format!("{c} -p tcp -m tcp --dport 9000:9010 {MARK}"),
            format!("{c} -p sctp {MARK}"),
        ]
    );
    assert_eq!(
        chain.len(),
        6,
        "the unresolvable named port allows nothing: {chain:?}"
    );
}

#[test]
fn egress_only_policies_host_network_and_finished_pods_are_left_out() {
    let egress = policy(
        "web",
        "egress",
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    );
    let mut pods = web_pods();
    pods.push(
        serde_json::from_value(json!({
            "metadata": {"namespace": "web", "name": "agent"},
            "spec": {"nodeName": NODE, "hostNetwork": true, "containers": []},
            "status": {"phase": "Running", "podIP": "10.224.0.4"},
        }))
        .unwrap(),
    );
    let r = rendered(&pods, &[], &[egress]);
    assert!(rules(&r, POD_FW_CHAIN).is_empty());

    let deny = policy("web", "deny", json!({"podSelector": {}}));
    let mut done = pod("web", "job-0", NODE, "10.244.0.7", json!({}));
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let no_ip = serde_json::from_value::<Pod>(json!({
        "metadata": {"namespace": "web", "name": "pending"},
        "spec": {"nodeName": NODE, "containers": []}, "status": {"phase": "Pending"},
    }))
    .unwrap();
    let r = rendered(&[pods, vec![done, no_ip]].concat(), &[], &[deny]);
    let targets: Vec<String> = rules(&r, POD_FW_CHAIN)
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(targets, ["10.244.0.6/32", "10.244.0.5/32"]);
}
