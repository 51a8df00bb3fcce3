use super::*;

fn line(c: &Command) -> String {
    format!("{} {}", c.0, c.1.join(" "))
}

fn plan() -> Plan {
    Plan::new(LbSourceConfig::default(), 4026531840)
}

#[test]
fn names_are_stable_per_host_namespace_fit_the_kernel_and_differ_between_hosts() {
    let a = Names::for_host(4026531840);
    assert_eq!(a, Names::for_host(4026531840));
    let b = Names::for_host(4026531841);
    assert_ne!(a.netns, b.netns);
    assert_ne!(a.host_if, b.host_if);
    assert!(a.netns.starts_with(NETNS_PREFIX));
    assert!(a.host_if.len() <= 15, "{}", a.host_if);
    for mac in [&a.host_mac, &a.peer_mac] {
        assert_eq!(mac.split(':').count(), 6, "{mac}");
        let first = u8::from_str_radix(&mac[..2], 16).unwrap();
        assert_eq!(first & 0b11, 0b10, "locally administered unicast: {mac}");
    }
    assert_ne!(a.host_mac, a.peer_mac);
}

#[test]
fn only_connections_entering_from_the_veth_are_marked_and_their_replies_routed_back() {
    let p = plan();
    let host_if = &p.names.host_if;
    let rules: Vec<String> = p.iptables().iter().map(line).collect();
    assert!(rules.contains(&format!(
        "iptables -w 5 -t mangle -A PROBESIM-SRC -i {host_if} -j CONNMARK --set-xmark 0x2000000/0x2000000"
    )));
    assert!(rules.contains(
        &"iptables -w 5 -t mangle -A PROBESIM-SRC-OUT -m connmark --mark 0x2000000/0x2000000 -j MARK --set-xmark 0x2000000/0x2000000".to_owned()
    ));
    assert!(
        rules
            .iter()
            .any(|r| r.contains("-I PREROUTING 1") && r.ends_with("-j PROBESIM-SRC"))
    );
    assert!(
        rules
            .iter()
            .any(|r| r.contains("-I OUTPUT 1") && r.ends_with("-j PROBESIM-SRC-OUT"))
    );
    let routes: Vec<String> = p.routes().iter().map(line).collect();
    assert!(routes.contains(&format!(
        "ip route replace 168.63.129.16/32 dev {host_if} table 9470"
    )));
    assert!(
        routes.contains(
            &"ip rule add fwmark 0x2000000/0x2000000 table 9470 priority 9470".to_owned()
        )
    );
    // Nothing touches the main table: the host's own traffic to 168.63.129.16 keeps its route.
    assert!(
        routes
            .iter()
            .filter(|r| r.contains("route"))
            .all(|r| r.contains("table 9470"))
    );
}

#[test]
fn the_private_namespace_holds_every_source_and_leaves_through_a_fixed_gateway() {
    let config = LbSourceConfig::with_addresses(vec![
        IpAddr::from([10, 0, 1, 5]),
        IpAddr::from([10, 0, 2, 5]),
    ]);
    let p = Plan::new(config, 7);
    let links: Vec<String> = p.links().iter().map(line).collect();
    let ns = &p.names.netns;
    assert!(links[0].starts_with(&format!("ip link add {}", p.names.host_if)));
    assert!(links[0].ends_with(&format!("netns {ns}")));
    for a in ["10.0.1.5", "10.0.2.5"] {
        assert!(
            links.contains(&format!("ip -n {ns} addr add {a}/32 dev eth0")),
            "{links:?}"
        );
    }
    assert!(links.contains(&format!(
        "ip -n {ns} route add default via 169.254.1.1 dev eth0"
    )));
    let sysctls = p.sysctls();
    assert!(
        sysctls
            .iter()
            .any(|(k, v)| k.ends_with("src_valid_mark") && *v == "1")
    );
    assert!(
        !sysctls.iter().any(|(k, _)| k.contains("rp_filter")),
        "no rp_filter loosened"
    );
}

#[test]
fn cleanup_removes_the_jumps_rules_chains_table_and_link() {
    let p = plan();
    let repeated: Vec<String> = p.repeated_cleanup().iter().map(line).collect();
    assert!(
        repeated
            .iter()
            .any(|r| r.contains("-D PREROUTING") && r.ends_with("-j PROBESIM-SRC"))
    );
    assert!(
        repeated
            .iter()
            .any(|r| r.contains("-D OUTPUT") && r.ends_with("-j PROBESIM-SRC-OUT"))
    );
    assert!(repeated.contains(&"ip rule del table 9470".to_owned()));
    let once: Vec<String> = p.cleanup().iter().map(line).collect();
    for wanted in [
        "-X PROBESIM-SRC",
        "-X PROBESIM-SRC-OUT",
        "route flush table 9470",
        "link del psrc",
    ] {
        assert!(
            once.iter().any(|c| c.contains(wanted)),
            "{wanted}: {once:?}"
        );
    }
}

#[test]
fn bad_configs_name_the_setting_and_value() {
    let table = [
        (LbSourceConfig::with_addresses(vec![]), "(none)"),
        (
            LbSourceConfig::with_addresses(vec!["fe80::1234:5678:9abc".parse().unwrap()]),
            "fe80::1234:5678:9abc",
        ),
        (
            LbSourceConfig::with_addresses(vec![IpAddr::from([127, 0, 0, 1])]),
            "127.0.0.1",
        ),
        (
            LbSourceConfig::with_addresses(vec![IpAddr::from([10, 0, 0, 1]); 2]),
            "given twice",
        ),
        (
            LbSourceConfig {
                fwmark: 0x4000,
                ..LbSourceConfig::default()
            },
            "0x4000",
        ),
        (
            LbSourceConfig {
                table: 254,
                ..LbSourceConfig::default()
            },
            "254",
        ),
        (
            LbSourceConfig {
                rule_priority: 32766,
                ..LbSourceConfig::default()
            },
            "32766",
        ),
    ];
    for (config, wanted) in table {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(wanted), "{wanted}: {err}");
    }
    assert!(LbSourceConfig::default().validate().is_ok());
}
