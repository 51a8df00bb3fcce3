//! `lb-source` with IPv6 sources, on the running kernel: Azure probes IPv6 backends from the
//! link-local fe80::1234:5678:9abc. Each test builds its own "node" namespace (uplink to a
//! "fabric" namespace, a "pod" namespace behind a veth, ULA addresses of fd00:dead:beef::/48
//! only inside them, no route out) and checks the claims of `probesim_agent::source::plan`:
//! replies to a link-local source return by the interface the connection came in on without any
//! mark; the kernel does not forward packets with a link-local source; the node's own traffic to
//! fe80::1234:5678:9abc on its uplink is untouched; a global IPv6 source is policy-routed like
//! IPv4; teardown leaves nothing.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use probesim_agent::lb::outcome::Outcome;
use probesim_agent::model::Cloud;
use probesim_agent::model::ProbeProtocol;
use probesim_agent::netns::NetNs;
use probesim_agent::source::plan::CHAIN_IN;
use probesim_agent::source::{
    AZURE_PROBE_SOURCE, AZURE_PROBE_SOURCE_V6, LbSource, LbSourceConfig, default_lb_sources,
};
use probesim_lab::net::can_run_network_test;
use probesim_lab::net::reach::block_in;

mod source_lb {
    pub mod ipv6_lab;
    pub mod peers;
}
use source_lb::ipv6_lab::{
    BEYOND_SYN_RETRY, CLOSED_PORT, GLOBAL_SOURCE6, HEALTHZ, LOCAL_NODE_PORT, Lab, NODE4, NODE6,
    POD_NODE_PORT, POD_PORT, POD4, POD6, PROBE_TIMEOUT, TIMEOUT, azure_sources,
};

#[test]
fn a_link_local_lb_source_reaches_the_nodes_own_sockets_and_a_drop_rule_for_it_times_probes_out() {
    if !can_run_network_test(
        "a_link_local_lb_source_reaches_the_nodes_own_sockets_and_a_drop_rule_for_it_times_probes_out",
    ) {
        return;
    }
    let lab = Lab::start();
    let (source, factory) = lab.lb_source(azure_sources());
    let host_if = source.names().host_if.clone();
    let bound = factory.ipv6_source().expect("IPv6 sockets are bound");
    assert_eq!(*bound.ip(), AZURE_PROBE_SOURCE_V6);
    assert_ne!(
        bound.scope_id(),
        0,
        "a link-local bind carries the veth's scope"
    );

    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, NODE6, HEALTHZ, Some(&factory)),
        Outcome::Connected
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Http, NODE6, HEALTHZ, Some(&factory)),
        Outcome::HttpStatus(200)
    );
    // The node saw the LB's address, on the veth: TCP recorded the incoming interface of the
    // link-local peer, and the answers went back there without any mark or policy rule.
    let SocketAddr::V6(peer) = lab.healthz.last_peer().expect("a peer") else {
        panic!("an IPv6 peer");
    };
    assert_eq!(*peer.ip(), AZURE_PROBE_SOURCE_V6);
    assert_eq!(peer.scope_id(), lab.ifindex(&host_if), "scoped to the veth");
    assert!(!lab.node_has("ip", "-6 rule show").contains("fwmark"));
    assert!(
        !lab.node_has("ip6tables-save", "-t mangle")
            .contains(CHAIN_IN)
    );
    // A health-check node port answered on the node (DNAT to a local socket) works too, and a
    // closed port's RST comes back.
    assert_eq!(
        lab.probe(ProbeProtocol::Http, NODE6, LOCAL_NODE_PORT, Some(&factory)),
        Outcome::HttpStatus(200)
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, NODE6, CLOSED_PORT, Some(&factory)),
        Outcome::Refused
    );

    // A firewall rule that does not let the LB's IPv6 source in: probes time out like the
    // LB's, while the node's own address and the IPv4 source still get through.
    let drop_rule = format!("INPUT -s {AZURE_PROBE_SOURCE_V6} -p tcp -j DROP");
    let rule = |verb: &str| {
        let args = format!("{verb} {drop_rule}");
        let args: Vec<&str> = args.split_whitespace().collect();
        lab.node.exec("ip6tables", &args).expect("ip6tables");
    };
    rule("-I");
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, NODE6, HEALTHZ, Some(&factory)),
        TIMEOUT
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Http, NODE6, HEALTHZ, Some(&factory)),
        TIMEOUT
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, NODE6, HEALTHZ, None),
        Outcome::Connected,
        "the node's own address passes"
    );
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, NODE4, HEALTHZ, Some(&factory)),
        Outcome::Connected,
        "IPv4 from 168.63.129.16 passes"
    );
    rule("-D");
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, NODE6, HEALTHZ, Some(&factory)),
        Outcome::Connected,
        "allowed again"
    );
    drop(factory);
    source.remove().expect("remove");
}

#[test]
fn the_kernel_does_not_forward_a_link_local_source_so_pod_probes_fail_while_ipv4_ones_pass() {
    if !can_run_network_test(
        "the_kernel_does_not_forward_a_link_local_source_so_pod_probes_fail_while_ipv4_ones_pass",
    ) {
        return;
    }
    let lab = Lab::start();
    let (source, factory) = lab.lb_source(azure_sources());
    // The path to the pod works: the node forwards for its own address.
    assert_eq!(
        lab.probe(ProbeProtocol::Tcp, POD6, POD_PORT, None),
        Outcome::Connected,
        "the node reaches the pod"
    );
    let unreachable_before = Lab::snmp6(&lab.node, "Icmp6OutDestUnreachs");
    let peers_before = lab.pod_server.peers().len();
    // Routed to the pod, and DNATed to it by a NodePort: ip6_forward refuses a link-local
    // source and answers "beyond scope of source address" (destination unreachable, code 2).
    // On a veth that answer comes back while `connect` still holds the socket, so it is only a
    // soft error and the probe times out; the answer to the SYN retransmitted after 1 s fails
    // the connection with EHOSTUNREACH. Either way the probe fails, as the LB's does.
    for (to, port) in [(POD6, POD_PORT), (NODE6, POD_NODE_PORT)] {
        let to = SocketAddr::from((to, port));
        let (outcome, icmp) = lab.probe_seeing_icmp6(to, &factory, PROBE_TIMEOUT);
        assert!(
            matches!(outcome, TIMEOUT | Outcome::Unreachable),
            "{to}: {outcome:?}"
        );
        assert_eq!(
            icmp.first(),
            Some(&(1, 2)),
            "{to}: beyond scope of source address"
        );
    }
    let (outcome, icmp) = lab.probe_seeing_icmp6(
        SocketAddr::from((POD6, POD_PORT)),
        &factory,
        BEYOND_SYN_RETRY,
    );
    assert_eq!(outcome, Outcome::Unreachable, "{icmp:?}");
    assert!(
        icmp.len() >= 2 && icmp.iter().all(|e| *e == (1, 2)),
        "{icmp:?}"
    );
    let unreachable = Lab::snmp6(&lab.node, "Icmp6OutDestUnreachs") - unreachable_before;
    assert!(
        unreachable >= 4,
        "the node answered each SYN: {unreachable}"
    );
    let pod_peers = lab.pod_server.peers();
    assert_eq!(
        pod_peers.len(),
        peers_before,
        "nothing reached the pod: {pod_peers:?}"
    );

    // The IPv4 source crosses the same forwarding path and DNAT.
    for (to, port) in [(POD4, POD_PORT), (NODE4, POD_NODE_PORT)] {
        assert_eq!(
            lab.probe(ProbeProtocol::Http, to, port, Some(&factory)),
            Outcome::HttpStatus(200),
            "{to}:{port}"
        );
    }
    let seen = lab.pod_server.last_peer().expect("a peer");
    assert_eq!(seen.ip().to_canonical(), IpAddr::V4(AZURE_PROBE_SOURCE));
    drop(factory);
    source.remove().expect("remove");
}

#[test]
fn the_nodes_own_traffic_to_the_azure_link_local_address_is_untouched_and_teardown_leaves_nothing()
{
    if !can_run_network_test(
        "the_nodes_own_traffic_to_the_azure_link_local_address_is_untouched_and_teardown_leaves_nothing",
    ) {
        return;
    }
    let lab = Lab::start();
    let wire = SocketAddrV6::new(AZURE_PROBE_SOURCE_V6, 80, 0, lab.ifindex("eth0"));
    assert_eq!(lab.node_get(wire).as_deref(), Some("wireserver"), "before");

    let (crashed, factory) = lab.lb_source(azure_sources());
    let netns_name = crashed.names().netns.clone();
    drop(factory);
    // A crash: nothing is removed; the next start removes it first.
    std::mem::forget(crashed);
    let (source, factory) = lab.lb_source(azure_sources());
    assert_eq!(source.names().netns, netns_name);
    assert_eq!(
        lab.node_has("ip", "-6 addr show")
            .matches("inet6 fe80::1/64")
            .count(),
        1,
        "one veth, not two"
    );
    for _ in 0..3 {
        assert_eq!(
            lab.node_get(wire).as_deref(),
            Some("wireserver"),
            "while lb-source runs"
        );
        assert_eq!(
            lab.probe(ProbeProtocol::Http, NODE6, HEALTHZ, Some(&factory)),
            Outcome::HttpStatus(200)
        );
    }
    drop(factory);
    // Dropped from the test's thread, outside the node: teardown enters the node's namespace.
    drop(source);
    assert_eq!(lab.leftovers(&netns_name), Vec::<String>::new());
    assert_eq!(lab.node_get(wire).as_deref(), Some("wireserver"), "after");
}

#[test]
fn a_global_ipv6_source_is_policy_routed_so_forwarded_probes_pass_and_the_nodes_own_traffic_stays()
{
    if !can_run_network_test(
        "a_global_ipv6_source_is_policy_routed_so_forwarded_probes_pass_and_the_nodes_own_traffic_stays",
    ) {
        return;
    }
    let lab = Lab::start();
    let fabric_get = || lab.node_get(SocketAddrV6::new(GLOBAL_SOURCE6, 80, 0, 0));
    assert_eq!(fabric_get().as_deref(), Some("wireserver"), "before");
    let (source, factory) = lab.lb_source(vec![IpAddr::V6(GLOBAL_SOURCE6)]);
    let bound = factory.ipv6_source().expect("bound");
    assert_eq!((*bound.ip(), bound.scope_id()), (GLOBAL_SOURCE6, 0));
    assert!(
        lab.node_has("ip6tables-save", "-t mangle")
            .contains(CHAIN_IN),
        "connmark in ip6tables"
    );
    // Forwarded and DNATed to the pod, answered by the pod: the replies come back through the
    // node and are policy-routed to the veth.
    for (to, port) in [(POD6, POD_PORT), (NODE6, POD_NODE_PORT)] {
        assert_eq!(
            lab.probe(ProbeProtocol::Http, to, port, Some(&factory)),
            Outcome::HttpStatus(200),
            "[{to}]:{port}"
        );
        assert_eq!(
            lab.pod_server.last_peer().map(|p| p.ip()),
            Some(IpAddr::V6(GLOBAL_SOURCE6))
        );
    }
    // Answered by the node itself.
    assert_eq!(
        lab.probe(ProbeProtocol::Http, NODE6, HEALTHZ, Some(&factory)),
        Outcome::HttpStatus(200)
    );
    assert_eq!(
        lab.healthz.last_peer().map(|p| p.ip()),
        Some(IpAddr::V6(GLOBAL_SOURCE6))
    );
    // The node's own connections to the same address still go to the fabric.
    assert_eq!(
        fabric_get().as_deref(),
        Some("wireserver"),
        "while lb-source runs"
    );
    let netns_name = source.names().netns.clone();
    drop(factory);
    source.remove().expect("remove");
    assert_eq!(lab.leftovers(&netns_name), Vec::<String>::new());
    assert_eq!(fabric_get().as_deref(), Some("wireserver"), "after");
}

#[test]
fn azure_defaults_follow_the_nodes_ipv6_setting_and_an_ipv6_source_on_an_ipv4_only_node_is_refused()
{
    if !can_run_network_test(
        "azure_defaults_follow_the_nodes_ipv6_setting_and_an_ipv6_source_on_an_ipv4_only_node_is_refused",
    ) {
        return;
    }
    let lab = Lab::start();
    let defaults =
        |ns: &NetNs| block_in(ns, || async { default_lb_sources(Cloud::Azure) }).expect("thread");
    assert_eq!(defaults(&lab.node), azure_sources(), "dual-stack node");

    let v4_only = NetNs::create(&format!("p6t{}-v4only", std::process::id())).expect("netns");
    for key in ["all", "default"] {
        let key = format!("net.ipv6.conf.{key}.disable_ipv6=1");
        v4_only.exec("sysctl", &["-q", "-w", &key]).expect("sysctl");
    }
    assert_eq!(
        defaults(&v4_only),
        vec![IpAddr::V4(AZURE_PROBE_SOURCE)],
        "IPv4-only node"
    );
    let err = block_in(&v4_only, || async {
        LbSource::create(LbSourceConfig::with_addresses(azure_sources())).map(drop)
    })
    .expect("thread")
    .expect_err("refused")
    .to_string();
    assert!(
        err.contains("fe80::1234:5678:9abc") && err.contains("IPv6 is off"),
        "{err}"
    );
}
