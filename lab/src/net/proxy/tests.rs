//! Rendering checked against kube-proxy's own expectations (pkg/proxy/iptables/proxier_test.go:
//! same chain names, same rules, comments always quoted here).

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::*;

const NODE: &str = "node-a";

fn view() -> NodeView<'static> {
    NodeView {
        name: NODE,
        cluster_cidr: Some("10.0.0.0/8".parse().unwrap()),
    }
}

fn service(ns: &str, name: &str, spec: Value) -> Service {
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name}, "spec": spec}))
        .unwrap()
}

/// One slice of `ns/svc` with port `p80` on 80; endpoints as (ip, node, ready, serving, terminating).
fn slice(ns: &str, svc: &str, endpoints: &[(&str, &str, bool, bool, bool)]) -> EndpointSlice {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, node, ready, serving, terminating)| {
            json!({"addresses": [ip], "nodeName": node,
                   "conditions": {"ready": ready, "serving": serving, "terminating": terminating}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": format!("{svc}-abcde"),
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
    }))
    .unwrap()
}

fn ready(ip: &'static str, node: &'static str) -> (&'static str, &'static str, bool, bool, bool) {
    (ip, node, true, true, false)
}

fn lb_local(ns: &str, name: &str) -> Service {
    service(
        ns,
        name,
        json!({
            "type": "LoadBalancer", "clusterIP": "172.30.0.42", "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 30000,
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001}],
        }),
    )
}

fn rules_of(out: &ProxyRules, table: Table, chain: &str) -> Vec<String> {
    out.rules
        .chain_rules(table, chain)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn chain_names_are_kube_proxys_hashes() {
    assert_eq!(
        chain_name("KUBE-SVC-", "ns1/svc1:p80tcp"),
        "KUBE-SVC-XPGD46QRK7WJZT7O"
    );
    assert_eq!(
        chain_name("KUBE-EXT-", "ns2/svc2:p80tcp"),
        "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
    );
    assert_eq!(
        chain_name("KUBE-SEP-", "ns1/svc1:p80tcp10.180.0.1:80"),
        "KUBE-SEP-SXIVWICOYRO3J4NJ"
    );
}

#[test]
fn cluster_ip_service_rules_match_kube_proxy() {
    let svc = service(
        "ns1",
        "svc1",
        json!({
        "clusterIP": "172.30.0.41", "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}]}),
    );
    let out = render(
        &[svc],
        &[slice("ns1", "svc1", &[ready("10.180.0.1", "other")])],
        &view(),
    );
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-SERVICES"),
        [
            "-m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O",
            "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-SVC-XPGD46QRK7WJZT7O"),
        [
            "-m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
            "-m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -j KUBE-SEP-SXIVWICOYRO3J4NJ",
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-SEP-SXIVWICOYRO3J4NJ"),
        [
            "-m comment --comment \"ns1/svc1:p80\" -s 10.180.0.1 -j KUBE-MARK-MASQ",
            "-m comment --comment \"ns1/svc1:p80\" -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80",
        ]
    );
    assert!(out.health_checks.is_empty());
}

#[test]
fn nodeport_with_cluster_policy_masquerades_and_spreads_over_every_ready_endpoint() {
    let svc = service(
        "web",
        "front",
        json!({
        "type": "NodePort", "clusterIP": "10.0.10.10",
        "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}]}),
    );
    let slices = [slice(
        "web",
        "front",
        &[
            ready("10.244.0.5", NODE),
            ready("10.244.1.5", "node-b"),
            ready("10.244.2.5", "node-c"),
            ("10.244.2.6", "node-c", false, false, false),
        ],
    )];
    let out = render(&[svc], &slices, &view());
    let svc_chain = chain_name("KUBE-SVC-", "web/front:p80tcp");
    let ext = chain_name("KUBE-EXT-", "web/front:p80tcp");
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-NODEPORTS"),
        [format!(
            "-m comment --comment \"web/front:p80\" -m tcp -p tcp --dport 30080 -j {ext}"
        )]
    );
    assert_eq!(
        rules_of(&out, Table::Nat, &ext),
        [
            "-m comment --comment \"masquerade traffic for web/front:p80 external destinations\" -j KUBE-MARK-MASQ".to_owned(),
            format!("-j {svc_chain}"),
        ]
    );
    let spread: Vec<String> = rules_of(&out, Table::Nat, &svc_chain)
        .into_iter()
        .skip(1)
        .map(|r| r.split(" -j ").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        spread,
        [
            "-m comment --comment \"web/front:p80 -> 10.244.0.5:80\" -m statistic --mode random --probability 0.3333333333",
            "-m comment --comment \"web/front:p80 -> 10.244.1.5:80\" -m statistic --mode random --probability 0.5000000000",
            "-m comment --comment \"web/front:p80 -> 10.244.2.5:80\"",
        ]
    );
    assert!(
        out.rules
            .rules(Table::Filter)
            .all(|r| !r.contains("web/front"))
    );
}

#[test]
fn local_policy_without_a_local_endpoint_drops_external_traffic_and_reports_zero() {
    let slices = [slice("ns2", "svc2", &[ready("10.180.0.2", "node-b")])];
    let out = render(&[lb_local("ns2", "svc2")], &slices, &view());
    let ext = "KUBE-EXT-GNZBNJ2PO5MGZ6GT";
    assert_eq!(
        rules_of(&out, Table::Nat, ext),
        [
            "-m comment --comment \"pod traffic for ns2/svc2:p80 external destinations\" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT",
            "-m comment --comment \"masquerade LOCAL traffic for ns2/svc2:p80 external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
            "-m comment --comment \"route LOCAL traffic for ns2/svc2:p80 external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT",
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Filter, "KUBE-EXTERNAL-SERVICES"),
        [
            "-m comment --comment \"ns2/svc2:p80 has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP"
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Filter, "KUBE-NODEPORTS"),
        [
            "-m comment --comment \"ns2/svc2:p80 health check node port\" -m tcp -p tcp --dport 30000 -j ACCEPT"
        ]
    );
    assert!(
        !out.rules
            .chains(Table::Nat)
            .any(|c| c.starts_with("KUBE-SVL-"))
    );
    assert_eq!(
        out.health_checks[&("ns2".to_owned(), "svc2".to_owned())],
        HealthCheck {
            port: 30000,
            local_endpoints: 0
        }
    );
}

#[test]
fn local_policy_with_a_local_endpoint_keeps_the_source_and_uses_only_local_endpoints() {
    let slices = [slice(
        "ns2",
        "svc2",
        &[ready("10.180.0.2", "node-b"), ready("10.180.0.3", NODE)],
    )];
    let out = render(&[lb_local("ns2", "svc2")], &slices, &view());
    let svl = chain_name("KUBE-SVL-", "ns2/svc2:p80tcp");
    let ext = rules_of(&out, Table::Nat, "KUBE-EXT-GNZBNJ2PO5MGZ6GT");
    assert_eq!(ext.last().unwrap(), &format!("-j {svl}"));
    assert!(
        ext.iter()
            .all(|r| !r.ends_with("KUBE-MARK-MASQ") || r.contains("--src-type LOCAL"))
    );
    let local_sep = chain_name("KUBE-SEP-", "ns2/svc2:p80tcp10.180.0.3:80");
    assert_eq!(
        rules_of(&out, Table::Nat, &svl),
        [format!(
            "-m comment --comment \"ns2/svc2:p80 -> 10.180.0.3:80\" -j {local_sep}"
        )]
    );
    assert!(rules_of(&out, Table::Filter, "KUBE-EXTERNAL-SERVICES").is_empty());
    assert_eq!(
        out.health_checks[&("ns2".to_owned(), "svc2".to_owned())].local_endpoints,
        1
    );
}

#[test]
fn a_service_without_endpoints_rejects_on_its_cluster_ip_and_node_port() {
    let svc = service(
        "ns6",
        "svc6",
        json!({
        "type": "NodePort", "clusterIP": "172.30.0.46",
        "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3006}]}),
    );
    let out = render(&[svc], &[], &view());
    assert_eq!(
        rules_of(&out, Table::Filter, "KUBE-SERVICES"),
        [
            "-m comment --comment \"ns6/svc6:p80 has no endpoints\" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT"
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Filter, "KUBE-EXTERNAL-SERVICES"),
        [
            "-m comment --comment \"ns6/svc6:p80 has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3006 -j REJECT"
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-NODEPORTS"),
        Vec::<String>::new()
    );
    assert!(
        !out.rules
            .chains(Table::Nat)
            .any(|c| c.starts_with("KUBE-SVC-"))
    );
}

#[test]
fn terminating_endpoints_serve_only_when_no_endpoint_is_ready_and_never_count_for_health() {
    let terminating = ("10.180.0.3", NODE, false, true, true);
    let stopped = ("10.180.0.4", NODE, false, false, true);
    let slices = [slice("ns2", "svc2", &[terminating, stopped])];
    let out = render(&[lb_local("ns2", "svc2")], &slices, &view());
    let svc = rules_of(&out, Table::Nat, "KUBE-SVC-GNZBNJ2PO5MGZ6GT");
    assert_eq!(svc.len(), 2, "{svc:?}");
    assert!(svc[1].contains("10.180.0.3:80"));
    let svl = rules_of(
        &out,
        Table::Nat,
        &chain_name("KUBE-SVL-", "ns2/svc2:p80tcp"),
    );
    assert_eq!(svl.len(), 1);
    assert_eq!(
        out.health_checks[&("ns2".to_owned(), "svc2".to_owned())].local_endpoints,
        0
    );

    // With a ready endpoint elsewhere, the terminating one is left out of the cluster chain.
    let slices = [slice(
        "ns2",
        "svc2",
        &[terminating, ready("10.180.0.9", "node-b")],
    )];
    let out = render(&[lb_local("ns2", "svc2")], &slices, &view());
    let svc = rules_of(&out, Table::Nat, "KUBE-SVC-GNZBNJ2PO5MGZ6GT");
    assert!(svc.iter().all(|r| !r.contains("10.180.0.3")), "{svc:?}");
}

#[test]
fn headless_external_name_and_unset_cluster_ips_are_handled_like_kube_proxy() {
    let headless = service(
        "a",
        "headless",
        json!({"clusterIP": "None", "ports": [{"name": "p80", "port": 80}]}),
    );
    let external = service(
        "a",
        "ext",
        json!({"type": "ExternalName", "externalName": "example.org"}),
    );
    let unassigned = service(
        "a",
        "np",
        json!({
        "type": "NodePort", "ports": [{"name": "p80", "port": 80, "nodePort": 30001}]}),
    );
    let slices = [
        slice("a", "headless", &[ready("10.244.0.9", NODE)]),
        slice("a", "np", &[ready("10.244.0.7", NODE)]),
    ];
    let out = render(&[headless, external, unassigned], &slices, &view());
    let nat: Vec<&str> = out.rules.rules(Table::Nat).collect();
    assert!(
        nat.iter()
            .all(|r| !r.contains("a/headless") && !r.contains("a/ext")),
        "{nat:?}"
    );
    assert!(
        nat.iter().all(|r| !r.contains("cluster IP\" -m")),
        "{nat:?}"
    );
    assert_eq!(rules_of(&out, Table::Nat, "KUBE-NODEPORTS").len(), 1);
}

#[test]
fn slices_join_their_service_by_label_namespace_port_name_and_address_type() {
    let svc = service(
        "shop",
        "cart",
        json!({
        "clusterIP": "10.0.0.20",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "grpc", "port": 9000, "protocol": "TCP"}]}),
    );
    let mut slices: Vec<EndpointSlice> = Vec::new();
    for (ns, svc_label, addr_type, port_name, port, ip) in [
        ("shop", "cart", "IPv4", "http", 8080, "10.244.0.10"),
        ("shop", "cart", "IPv4", "http", 8080, "10.244.0.10"), // the same endpoint in a second slice
        ("shop", "cart", "IPv4", "grpc", 9090, "10.244.0.11"),
        ("shop", "cart", "IPv6", "http", 8080, "fd00::1"),
        ("other", "cart", "IPv4", "http", 8080, "10.244.0.12"),
        ("shop", "carts", "IPv4", "http", 8080, "10.244.0.13"),
    ] {
        slices.push(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": format!("s{}", slices.len()),
                             "labels": {"kubernetes.io/service-name": svc_label}},
                "addressType": addr_type,
                "endpoints": [{"addresses": [ip]}],
                "ports": [{"name": port_name, "port": port}],
            }))
            .unwrap(),
        );
    }
    let out = render(&[svc], &slices, &view());
    let http = rules_of(
        &out,
        Table::Nat,
        &chain_name("KUBE-SVC-", "shop/cart:httptcp"),
    );
    assert_eq!(http.len(), 2, "{http:?}");
    assert!(http[1].contains("10.244.0.10:8080"));
    let grpc = rules_of(
        &out,
        Table::Nat,
        &chain_name("KUBE-SVC-", "shop/cart:grpctcp"),
    );
    assert!(grpc[1].contains("10.244.0.11:9090"));
}

#[test]
fn every_node_gets_kube_proxys_fixed_chains_and_hooks() {
    let out = render(
        &[],
        &[],
        &NodeView {
            name: NODE,
            cluster_cidr: None,
        },
    );
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-POSTROUTING"),
        [
            "-m mark ! --mark 0x4000/0x4000 -j RETURN",
            "-j MARK --xor-mark 0x4000",
            "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
        ]
    );
    assert_eq!(
        rules_of(&out, Table::Nat, "KUBE-MARK-MASQ"),
        ["-j MARK --or-mark 0x4000"]
    );
    assert_eq!(rules_of(&out, Table::Filter, "KUBE-FORWARD").len(), 3);
    for hook in HOOKS {
        assert!(
            out.rules.chains(hook.table).any(|c| c == hook.target),
            "{hook:?}"
        );
    }
}
