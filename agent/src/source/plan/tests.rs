use super::*;

fn line(c: &Command) -> String {
    format!("{} {}", c.0, c.1.join(" "))
}

fn v6(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn lines(commands: Vec<Command>) -> Vec<String> {
    commands.iter().map(line).collect()
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
        (LbSourceConfig::with_addresses(vec![v6("::")]), "::"),
        (LbSourceConfig::with_addresses(vec![v6("::1")]), "::1"),
        (
            LbSourceConfig::with_addresses(vec![v6("ff02::1")]),
            "ff02::1",
        ),
        (
            LbSourceConfig::with_addresses(vec![v6("::ffff:168.63.129.16")]),
            "IPv4-mapped",
        ),
        (
            LbSourceConfig::with_addresses(vec![v6("fe80::1234:5678:9abc"); 2]),
            "given twice",
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

#[test]
fn ipv6_sources_of_every_kind_and_both_families_at_once_are_valid() {
    for addresses in [
        vec![v6("fe80::1234:5678:9abc")],
        vec![v6("2001:db8::5"), v6("fd00:dead:beef::5")],
        vec![IpAddr::from([168, 63, 129, 16]), v6("fe80::1234:5678:9abc")],
    ] {
        let config = LbSourceConfig::with_addresses(addresses.clone());
        assert!(config.validate().is_ok(), "{addresses:?}");
    }
}

#[test]
fn an_ipv4_only_plan_touches_no_ipv6_and_quietens_the_veth() {
    let p = plan();
    let all: Vec<String> = [p.links(), p.routes(), p.iptables()]
        .into_iter()
        .flat_map(lines)
        .collect();
    assert!(
        !all.iter()
            .any(|c| c.contains("-6") || c.contains("ip6tables") || c.contains("fe80")),
        "{all:?}"
    );
    assert!(p.sysctls().contains(&(
        format!("net/ipv6/conf/{}/disable_ipv6", p.names.host_if),
        "1"
    )));
}

#[test]
fn a_link_local_ipv6_source_gets_fixed_link_local_ends_and_no_marks() {
    let p = Plan::new(
        LbSourceConfig::with_addresses(vec![v6("fe80::1234:5678:9abc")]),
        7,
    );
    let (ns, h) = (&p.names.netns, &p.names.host_if);
    let (hm, pm) = (&p.names.host_mac, &p.names.peer_mac);
    assert_eq!(
        lines(p.links())[1..],
        [
            format!("ip -n {ns} link set eth0 addrgenmode none"),
            format!("ip -n {ns} addr add fe80::1234:5678:9abc/64 dev eth0 nodad"),
            format!("ip -n {ns} link set eth0 up"),
            format!("ip -n {ns} -6 neigh replace fe80::1 lladdr {hm} dev eth0 nud permanent"),
            format!("ip -n {ns} -6 route add default via fe80::1 dev eth0"),
        ]
    );
    assert_eq!(
        lines(p.routes()),
        [
            format!("ip link set {h} addrgenmode none"),
            format!("ip -6 addr add fe80::1/64 dev {h} nodad"),
            format!("ip link set {h} up"),
            format!("ip neigh replace fe80::1234:5678:9abc lladdr {pm} dev {h} nud permanent"),
        ],
        "no table, no rule: replies leave by the interface the connection came in on"
    );
    assert!(
        p.iptables().is_empty(),
        "no connmark for link-local sources"
    );
    assert_eq!(
        p.sysctls(),
        vec![(format!("net/ipv6/conf/{h}/disable_ipv6"), "0")],
        "IPv6 on the veth, no IPv4 mark sysctl without an IPv4 source"
    );
}

#[test]
fn a_global_ipv6_source_is_marked_and_policy_routed_like_ipv4() {
    let p = Plan::new(LbSourceConfig::with_addresses(vec![v6("2001:db8:1::5")]), 7);
    let h = &p.names.host_if;
    let links = lines(p.links());
    assert!(
        links.contains(&format!(
            "ip -n {} addr add 2001:db8:1::5/128 dev eth0 nodad",
            p.names.netns
        )),
        "{links:?}"
    );
    let routes = lines(p.routes());
    for wanted in [
        format!("ip -6 route replace 2001:db8:1::5/128 dev {h} table 9470"),
        "ip -6 rule add fwmark 0x2000000/0x2000000 table 9470 priority 9470".to_owned(),
    ] {
        assert!(routes.contains(&wanted), "{wanted}: {routes:?}");
    }
    assert!(
        !routes.iter().any(|r| r.starts_with("ip rule")),
        "no IPv4 rule"
    );
    let rules = lines(p.iptables());
    assert!(!rules.is_empty());
    assert!(
        rules
            .iter()
            .all(|r| r.starts_with("ip6tables -w 5 -t mangle")),
        "{rules:?}"
    );
    assert!(rules.contains(&format!(
        "ip6tables -w 5 -t mangle -A PROBESIM-SRC -i {h} -j CONNMARK --set-xmark 0x2000000/0x2000000"
    )));
}

#[test]
fn both_families_together_get_both_gateways_and_marks_only_where_needed() {
    let p = Plan::new(
        LbSourceConfig::with_addresses(vec![
            IpAddr::from([168, 63, 129, 16]),
            v6("fe80::1234:5678:9abc"),
        ]),
        7,
    );
    let ns = &p.names.netns;
    let links = lines(p.links());
    for wanted in [
        format!("ip -n {ns} addr add 168.63.129.16/32 dev eth0"),
        format!("ip -n {ns} addr add fe80::1234:5678:9abc/64 dev eth0 nodad"),
        format!("ip -n {ns} route add default via 169.254.1.1 dev eth0"),
        format!("ip -n {ns} -6 route add default via fe80::1 dev eth0"),
    ] {
        assert!(links.contains(&wanted), "{wanted}: {links:?}");
    }
    let routes = lines(p.routes());
    assert!(routes.iter().any(|r| r.starts_with("ip rule add fwmark")));
    assert!(
        !routes.iter().any(|r| r.starts_with("ip -6 rule")),
        "{routes:?}"
    );
    let rules = lines(p.iptables());
    assert!(
        rules.iter().all(|r| r.starts_with("iptables ")),
        "{rules:?}"
    );
    let sysctls = p.sysctls();
    assert!(
        sysctls
            .iter()
            .any(|(k, v)| k.ends_with("src_valid_mark") && *v == "1")
    );
    assert!(
        sysctls
            .iter()
            .any(|(k, v)| k.ends_with("disable_ipv6") && *v == "0")
    );
}

#[test]
fn cleanup_covers_both_families_whatever_the_current_addresses() {
    for addresses in [
        vec![IpAddr::from([168, 63, 129, 16])],
        vec![v6("fe80::1234:5678:9abc")],
    ] {
        let p = Plan::new(LbSourceConfig::with_addresses(addresses), 7);
        let repeated = lines(p.repeated_cleanup());
        for wanted in ["ip rule del table 9470", "ip -6 rule del table 9470"] {
            assert!(repeated.contains(&wanted.to_owned()), "{repeated:?}");
        }
        for fw in ["iptables", "ip6tables"] {
            assert!(
                repeated
                    .iter()
                    .any(|r| r.starts_with(fw) && r.contains("-D PREROUTING")),
                "{fw}: {repeated:?}"
            );
        }
        let once = lines(p.cleanup());
        for wanted in [
            "iptables -w 5 -t mangle -X PROBESIM-SRC-OUT",
            "ip6tables -w 5 -t mangle -X PROBESIM-SRC-OUT",
            "ip route flush table 9470",
            "ip -6 route flush table 9470",
        ] {
            assert!(once.contains(&wanted.to_owned()), "{wanted}: {once:?}");
        }
    }
}

#[test]
fn the_source_of_a_probe_follows_its_targets_family() {
    let config = LbSourceConfig::with_addresses(vec![
        v6("fe80::1234:5678:9abc"),
        IpAddr::from([168, 63, 129, 16]),
    ]);
    assert_eq!(
        config.source_for(IpAddr::from([10, 0, 0, 4])),
        Some(IpAddr::from([168, 63, 129, 16]))
    );
    assert_eq!(
        config.source_for(v6("fd00::4")),
        Some(v6("fe80::1234:5678:9abc"))
    );
    assert_eq!(LbSourceConfig::default().source_for(v6("fd00::4")), None);
}
