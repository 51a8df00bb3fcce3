//! The dual-stack node of `source_lb_ipv6.rs`: a "node" namespace with an uplink to a "fabric"
//! namespace and a "pod" namespace behind a veth, ULA addresses of fd00:dead:beef::/48 (and
//! 10.99.0.0/16) only inside them, no route out; kube-proxy's NodePort DNAT as rules; servers
//! that record their peers. Everything carries a unique `p6t<pid>-<n>-` prefix and is removed
//! when the [`Lab`] is dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::outcome::{Outcome, Phase};
use probesim_agent::model::{LbKind, ProbeProtocol};
use probesim_agent::netns::{self, NetNs};
use probesim_agent::probe::tls::TlsConfigs;
use probesim_agent::probe::{self, ProbeRequest, ProbeSource};
use probesim_agent::source::plan::{CHAIN_IN, DEFAULT_ROUTE_TABLE};
use probesim_agent::source::{
    AZURE_PROBE_SOURCE, AZURE_PROBE_SOURCE_V6, LbSource, LbSourceConfig, SocketFactory,
};
use probesim_lab::backend::{Answer, Behavior, Protocol};
use probesim_lab::net::reach::{NetnsBackend, block_in};
use socket2::{Domain, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough for a dropped SYN to show as a timeout, short enough to keep tests quick.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(700);
/// Longer than the first SYN retransmission (1 s).
pub const BEYOND_SYN_RETRY: Duration = Duration::from_millis(1500);
/// The fabric's end of the node's uplink, and the node's address on it.
pub const FABRIC4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const NODE4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 4);
pub const FABRIC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xdead, 0xbeef, 0, 0, 0, 0, 1);
pub const NODE6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xdead, 0xbeef, 0, 0, 0, 0, 4);
/// The pod behind the node's `pod0` veth, and the node's end of it.
pub const NODE_POD4: Ipv4Addr = Ipv4Addr::new(10, 99, 2, 1);
pub const POD4: Ipv4Addr = Ipv4Addr::new(10, 99, 2, 2);
pub const NODE_POD6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xdead, 0xbeef, 2, 0, 0, 0, 1);
pub const POD6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xdead, 0xbeef, 2, 0, 0, 0, 2);
/// A global (unique-local) IPv6 LB source, as an AWS subnet address would be; the fabric holds
/// it too, as the real load balancer would.
pub const GLOBAL_SOURCE6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xdead, 0xbeef, 9, 0, 0, 0, 5);
/// kube-proxy's healthz stand-in, served by the node itself.
pub const HEALTHZ: u16 = 10256;
/// DNATed to the node's own healthz: a health-check node port answered on the node.
pub const LOCAL_NODE_PORT: u16 = 30256;
/// DNATed to the pod: a NodePort with externalTrafficPolicy Cluster.
pub const POD_NODE_PORT: u16 = 30080;
pub const POD_PORT: u16 = 8080;
/// Nothing listens there on the node.
pub const CLOSED_PORT: u16 = 22;

pub const TIMEOUT: Outcome = Outcome::Timeout {
    phase: Phase::Connect,
};

static LABS: AtomicUsize = AtomicUsize::new(0);

/// A node namespace with an uplink to a fabric and one pod, all dual-stack.
pub struct Lab {
    // Dropped first: the servers' threads live in the namespaces.
    pub healthz: PeerServer,
    pub pod_server: PeerServer,
    _wire_server: NetnsBackend,
    pub node: NetNs,
    _fabric: NetNs,
    _pod: NetNs,
}

impl Lab {
    pub fn start() -> Lab {
        let prefix = format!(
            "p6t{}-{}",
            std::process::id() % 100_000,
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let ns = |role: &str| NetNs::create(&format!("{prefix}-{role}")).expect("namespace");
        let (node, fabric, pod) = (ns("node"), ns("fabric"), ns("pod"));
        // Interfaces made from now on get usable link-local addresses at once: neighbour
        // solicitations for forwarded packets leave from them, and none are sent while they
        // are tentative.
        for ns in [&node, &fabric, &pod] {
            for key in ["all", "default"] {
                ns.exec(
                    "sysctl",
                    &["-q", "-w", &format!("net.ipv6.conf.{key}.accept_dad=0")],
                )
                .expect("accept_dad");
            }
        }
        let ip = |ns: &NetNs, args: &str| {
            let args: Vec<&str> = args.split_whitespace().collect();
            ns.exec("ip", &args)
                .unwrap_or_else(|e| panic!("{}: ip {}: {e}", ns.name(), args.join(" ")));
        };
        ip(
            &node,
            &format!(
                "link add eth0 type veth peer name eth0 netns {}",
                fabric.name()
            ),
        );
        ip(
            &node,
            &format!(
                "link add pod0 type veth peer name eth0 netns {}",
                pod.name()
            ),
        );
        for (ns, v4, v6) in [
            (&node, "10.99.0.4/24", "fd00:dead:beef::4/64"),
            (&fabric, "10.99.0.1/24", "fd00:dead:beef::1/64"),
            (&pod, "10.99.2.2/24", "fd00:dead:beef:2::2/64"),
        ] {
            ip(ns, &format!("addr add {v4} dev eth0"));
            ip(ns, &format!("addr add {v6} dev eth0 nodad"));
            ip(ns, "link set eth0 up");
        }
        ip(&node, "addr add 10.99.2.1/24 dev pod0");
        ip(&node, "addr add fd00:dead:beef:2::1/64 dev pod0 nodad");
        ip(&node, "link set pod0 up");
        ip(&node, &format!("route add default via {FABRIC4}"));
        ip(&node, &format!("-6 route add default via {FABRIC6}"));
        ip(&pod, &format!("route add default via {NODE_POD4}"));
        ip(&pod, &format!("-6 route add default via {NODE_POD6}"));
        // The real Azure endpoint on the node's uplink (its link-local address), and the
        // global LB source, both held by the fabric.
        ip(
            &fabric,
            &format!("addr add {AZURE_PROBE_SOURCE_V6}/64 dev eth0 nodad"),
        );
        ip(&fabric, &format!("addr add {GLOBAL_SOURCE6}/128 dev lo"));
        ip(&fabric, "route add 10.99.2.0/24 via 10.99.0.4");
        ip(
            &fabric,
            "-6 route add fd00:dead:beef:2::/64 via fd00:dead:beef::4",
        );
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            node.exec("sysctl", &["-q", "-w", key]).expect("forwarding");
        }
        // kube-proxy's part: NodePorts DNATed to the pod and to the node's own healthz.
        for (fw, node_ip, pod_ip, local) in [
            (
                "iptables",
                NODE4.to_string(),
                POD4.to_string(),
                NODE4.to_string(),
            ),
            (
                "ip6tables",
                NODE6.to_string(),
                format!("[{POD6}]"),
                format!("[{NODE6}]"),
            ),
        ] {
            for (port, to) in [
                (POD_NODE_PORT, format!("{pod_ip}:{POD_PORT}")),
                (LOCAL_NODE_PORT, format!("{local}:{HEALTHZ}")),
            ] {
                let rule = format!(
                    "-t nat -A PREROUTING -d {node_ip} -p tcp --dport {port} -j DNAT --to-destination {to}"
                );
                let args: Vec<&str> = rule.split_whitespace().collect();
                node.exec(fw, &args).expect("DNAT");
            }
        }
        let any = |port| SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        let wire_server = NetnsBackend::start(
            &fabric,
            any(80),
            Protocol::Http,
            Behavior::default().route("/", Answer::status(200).with_body("wireserver")),
        )
        .expect("wire server");
        Lab {
            healthz: PeerServer::start(&node, any(HEALTHZ)),
            pod_server: PeerServer::start(&pod, any(POD_PORT)),
            _wire_server: wire_server,
            node,
            _fabric: fabric,
            _pod: pod,
        }
    }

    /// Starts lb-source in the node as the agent would: from a thread inside its namespace.
    pub fn lb_source(&self, addresses: Vec<IpAddr>) -> (LbSource, Arc<SocketFactory>) {
        block_in(&self.node, move || async move {
            let source = LbSource::create(LbSourceConfig::with_addresses(addresses))?;
            let factory = source.socket_factory()?;
            Ok::<_, probesim_agent::Error>((source, factory))
        })
        .expect("thread in the node")
        .expect("lb-source")
    }

    /// One probe from the node (from a thread of the node, as the agent's runtime runs it).
    pub fn probe(
        &self,
        protocol: ProbeProtocol,
        to: impl Into<IpAddr>,
        port: u16,
        source: Option<&Arc<SocketFactory>>,
    ) -> Outcome {
        let req = request(protocol, SocketAddr::new(to.into(), port), source);
        block_in(&self.node, move || async move {
            probe::probe(&req, &TlsConfigs::new()).await.outcome
        })
        .expect("thread in the node")
    }

    /// A TCP probe of `to` from lb-source with the given timeout, and the ICMPv6 errors (type,
    /// code) that reached the lb-source namespace meanwhile.
    pub fn probe_seeing_icmp6(
        &self,
        to: SocketAddr,
        factory: &Arc<SocketFactory>,
        timeout: Duration,
    ) -> (Outcome, Vec<(u8, u8)>) {
        let mut req = request(ProbeProtocol::Tcp, to, Some(factory));
        req.timeout = timeout;
        let factory = factory.clone();
        block_in(&self.node, move || async move {
            let raw = factory
                .socket(Domain::IPV6, Type::RAW, Some(socket2::Protocol::ICMPV6))
                .expect("raw ICMPv6 socket in lb-source");
            raw.set_nonblocking(true).expect("non-blocking");
            let outcome = probe::probe(&req, &TlsConfigs::new()).await.outcome;
            let raw = std::net::UdpSocket::from(raw);
            let mut errors = Vec::new();
            let mut buf = [0u8; 1500];
            while let Ok(n) = raw.recv(&mut buf) {
                // Errors only: types below 128 (neighbour discovery and MLD are above).
                if n >= 2 && buf[0] < 128 {
                    errors.push((buf[0], buf[1]));
                }
            }
            (outcome, errors)
        })
        .expect("thread in the node")
    }

    pub fn node_has(&self, program: &str, args: &str) -> String {
        let args: Vec<&str> = args.split_whitespace().collect();
        self.node.exec(program, &args).unwrap_or_default()
    }

    /// An interface's index in the node namespace.
    pub fn ifindex(&self, name: &str) -> u32 {
        let out = self.node_has("ip", &format!("-o link show dev {name}"));
        out.split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index for {name}: {out}"))
    }

    /// The node's own HTTP GET to `addr`, from its own sockets.
    pub fn node_get(&self, addr: SocketAddrV6) -> Option<String> {
        block_in(&self.node, move || async move {
            let exchange = async {
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                let request = "GET / HTTP/1.1\r\nHost: wire\r\nConnection: close\r\n\r\n";
                stream.write_all(request.as_bytes()).await?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer).await?;
                Ok::<_, std::io::Error>(answer)
            };
            tokio::time::timeout(PROBE_TIMEOUT, exchange)
                .await
                .ok()?
                .ok()
        })
        .expect("thread in the node")
        .and_then(|answer| answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()))
    }

    /// A counter of `/proc/net/snmp6` in namespace `ns`.
    pub fn snmp6(ns: &NetNs, counter: &str) -> u64 {
        let text = ns.exec("cat", &["/proc/net/snmp6"]).expect("snmp6");
        text.lines()
            .filter_map(|l| l.split_once(char::is_whitespace))
            .find(|(name, _)| *name == counter)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {counter} in {}", ns.name()))
    }

    /// What lb-source could have left in the node: links, rules, routes, chains, namespace.
    pub fn leftovers(&self, source_netns: &str) -> Vec<String> {
        let table = DEFAULT_ROUTE_TABLE.to_string();
        let mut found = Vec::new();
        for (program, args, needle) in [
            ("ip", "-o link show", "psrc"),
            ("ip", "-4 rule show", table.as_str()),
            ("ip", "-6 rule show", table.as_str()),
            ("ip", "-4 route show table all", "psrc"),
            ("ip", "-6 route show table all", "psrc"),
            ("ip", "-4 route show table all", table.as_str()),
            ("ip", "-6 route show table all", table.as_str()),
            ("ip", "-6 neigh show", "psrc"),
            ("iptables-save", "-t mangle", CHAIN_IN),
            ("ip6tables-save", "-t mangle", CHAIN_IN),
        ] {
            let out = self.node_has(program, args);
            if out.contains(needle) {
                found.push(format!("{program} {args}: {out}"));
            }
        }
        if std::path::Path::new(netns::NETNS_DIR)
            .join(source_netns)
            .exists()
        {
            found.push(format!("namespace {source_netns}"));
        }
        found
    }
}

pub fn request(
    protocol: ProbeProtocol,
    to: SocketAddr,
    source: Option<&Arc<SocketFactory>>,
) -> ProbeRequest {
    let spec = manual::spec(
        LbKind::AzureLb,
        &ManualProbe {
            protocol: Some(protocol),
            port: to.port(),
            ..ManualProbe::default()
        },
    )
    .expect("spec");
    let mut req = ProbeRequest::for_spec(&spec, to);
    req.timeout = PROBE_TIMEOUT;
    req.source = source.map(|f| ProbeSource::LbSource(f.clone()));
    req
}

/// Both Azure sources, as `default_lb_sources(Cloud::Azure)` gives them on a dual-stack node.
pub fn azure_sources() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(AZURE_PROBE_SOURCE),
        IpAddr::V6(AZURE_PROBE_SOURCE_V6),
    ]
}

use super::peers::PeerServer;
