use std::net::Ipv4Addr;

use super::*;

fn spec(nodes: &[&str]) -> TopologySpec {
    TopologySpec::new(nodes, &[AZURE_LB_SOURCE]).with_prefix("pltest")
}

fn invalid(spec: &TopologySpec) -> String {
    match spec.validate() {
        Err(NetError::InvalidSpec { what, .. }) => what,
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

#[test]
fn default_spec_uses_aks_addresses_one_pod_cidr_per_node() {
    let spec = spec(&["aks-nodepool1-0", "aks-nodepool1-1", "aks-nodepool1-2"]);
    spec.validate().unwrap();
    let ips: Vec<_> = spec.nodes.iter().map(|n| n.ip.to_string()).collect();
    assert_eq!(ips, ["10.224.0.4", "10.224.0.5", "10.224.0.6"]);
    let cidrs: Vec<_> = spec.nodes.iter().map(|n| n.pod_cidr.to_string()).collect();
    assert_eq!(cidrs, ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]);
}

#[test]
fn fresh_prefixes_are_pl_and_four_hex_digits() {
    let prefix = TopologySpec::new(&["n"], &[]).prefix;
    assert_eq!(prefix.len(), 6, "{prefix}");
    assert!(prefix.starts_with("pl"));
    assert!(prefix[2..].chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn namespace_names_carry_the_prefix_and_a_readable_pod_id() {
    let spec = spec(&["n0"]);
    assert_eq!(spec.netns_name("fabric"), "probesim-pltest-fabric");
    assert_eq!(
        spec.pod_netns_name(7, "default/web-5d9c7b8f4-x2x9k"),
        "probesim-pltest-pod7-default_web-5d9c7b8f4-x2x9k"
    );
    let long = "x".repeat(100);
    assert!(spec.pod_netns_name(1, &long).len() < 70);
}

#[test]
fn validation_names_the_field_and_value_at_fault() {
    type Change = Box<dyn Fn(&mut TopologySpec)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|s| s.prefix = "PL".into()), "prefix \"PL\""),
        (Box::new(|s| s.prefix = "toolongprefix".into()), "prefix"),
        (Box::new(|s| s.nodes.clear()), "nodes: 0 given"),
        (
            Box::new(|s| s.nodes[1].name = "Node_1".into()),
            "nodes[1].name \"Node_1\"",
        ),
        (
            Box::new(|s| s.nodes[1].name = "n0".into()),
            "nodes[1].name \"n0\" is given twice",
        ),
        (
            Box::new(|s| s.nodes[0].ip = FABRIC_GATEWAY),
            "nodes[0].ip 10.224.0.1",
        ),
        (
            Box::new(|s| s.nodes[0].ip = Ipv4Addr::new(10, 1, 0, 4)),
            "nodes[0].ip 10.1.0.4",
        ),
        (
            Box::new(|s| s.nodes[1].ip = s.nodes[0].ip),
            "nodes[1].ip 10.224.0.4 is given twice",
        ),
        (
            Box::new(|s| s.nodes[1].pod_cidr = "10.244.0.0/25".parse().unwrap()),
            "nodes[1].pod_cidr 10.244.0.0/25 overlaps node n0's 10.244.0.0/24",
        ),
        (
            Box::new(|s| s.nodes[0].pod_cidr = "10.245.0.0/24".parse().unwrap()),
            "nodes[0].pod_cidr 10.245.0.0/24 must lie inside 10.244.0.0/16",
        ),
        (
            Box::new(|s| s.lb_sources.push(Ipv4Addr::new(10, 224, 0, 5))),
            "lb_sources[1] 10.224.0.5",
        ),
        (
            Box::new(|s| s.lb_sources.push(AZURE_LB_SOURCE)),
            "lb_sources[1] 168.63.129.16 is given twice",
        ),
        (
            Box::new(|s| s.lb_sources.push(Ipv4Addr::LOCALHOST)),
            "lb_sources[1] 127.0.0.1",
        ),
    ];
    for (change, expected) in cases {
        let mut s = spec(&["n0", "n1"]);
        change(&mut s);
        let what = invalid(&s);
        assert!(
            what.contains(expected),
            "{what:?} should contain {expected:?}"
        );
    }
}

#[test]
fn an_alb_subnet_source_inside_the_vnet_is_accepted() {
    let mut s = spec(&["n0"]);
    s.lb_sources = vec![Ipv4Addr::new(10, 224, 255, 10)];
    s.validate().unwrap();
}

#[test]
fn specs_read_from_yaml_refuse_unknown_fields() {
    let yaml = "prefix: plab12\nnodes:\n- {name: n0, ip: 10.224.0.4, pod_cidr: 10.244.0.0/24}\nlb_sources: [168.63.129.16]\n";
    let spec: TopologySpec = serde_yaml_ng::from_str(yaml).unwrap();
    spec.validate().unwrap();
    assert!(serde_yaml_ng::from_str::<TopologySpec>(&format!("{yaml}extra: 1\n")).is_err());
    let bad = yaml.replace("10.244.0.0/24", "10.244.0.1/24");
    assert!(serde_yaml_ng::from_str::<TopologySpec>(&bad).is_err());
}
