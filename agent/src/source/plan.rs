//! What `lb-source` creates, as data: names, and the `ip`/`iptables`/`ip6tables` commands that
//! build and remove it. Pure, so that every command can be read in a test; `setup` runs them.
//!
//! ```text
//!   private ns psrc-<h>                          host (the agent's namespace)
//!   eth0 168.63.129.16/32 ── veth ── psrc<h>     mangle PREROUTING: -i psrc<h> → CONNMARK M
//!        fe80::1234:5678:9abc/64       fe80::1/64 connmark M → packet mark M (replies too)
//!   default via 169.254.1.1                      ip rule fwmark M → table T:
//!   default via fe80::1 (IPv6)                     168.63.129.16 dev psrc<h>
//!   (permanent neighbours: psrc<h>'s MAC)        (permanent neighbours: eth0's MAC)
//! ```
//!
//! # IPv4 (and global IPv6) sources: connmark + policy routing
//!
//! Only packets of connections that entered from the veth carry the mark, so only their replies
//! are routed back to it; the host's own connections to 168.63.129.16 (Azure's DNS, DHCP and
//! wire server) follow the main table as before. The veth's `src_valid_mark` lets reverse-path
//! filtering look the source up with that mark, so it passes even in strict mode, and no
//! interface's `rp_filter` is loosened.
//!
//! An IPv6 source of global or unique-local scope (an AWS subnet address) is routable like an
//! IPv4 one, so it gets the same treatment with `ip6tables` and `ip -6 rule`/`route` (same mark,
//! table and priority; the kernel keeps IPv4 and IPv6 rules and tables apart). IPv6 has no
//! `rp_filter`, so there is no `src_valid_mark` counterpart to set.
//!
//! # Link-local IPv6 sources (Azure's `fe80::1234:5678:9abc`): no marks at all
//!
//! Azure probes IPv6 backends from a link-local address. Both ends of the veth get fixed
//! link-local addresses without duplicate address detection (`nodad`, and `addrgenmode none` so
//! the kernel adds no addresses of its own); the private namespace's default IPv6 route goes via
//! the host's end, and probe sockets to IPv6 targets are bound to the source with the veth's
//! scope id ([`crate::source::SocketFactory`]). What the kernel then does by itself:
//!
//! - Replies go back out of the interface the connection came in on: a link-local address means
//!   nothing without its interface, so TCP records the incoming interface of a link-local peer
//!   (`tcp_v6_init_req` sets the request's `ir_iif`, which routes the SYN-ACK and the accepted
//!   socket), and resets and ICMPv6 errors to a link-local address are routed out of the
//!   interface the offending packet arrived on. No connmark or policy rule is needed.
//! - The host's own traffic to `fe80::1234:5678:9abc` (the real Azure endpoint on its uplink)
//!   must name its interface (`%eth0`), and a scoped lookup only takes routes of that interface:
//!   the veth's `fe80::/64` does not capture it.
//! - The kernel never forwards a packet with a link-local source: `ip6_forward` drops it and
//!   answers ICMPv6 "beyond scope of source address" (destination unreachable, code 2). A probe
//!   whose target is routed or DNATed to a pod behind another interface therefore fails, exactly
//!   as the real LB's does on an iptables dataplane, while local delivery works: kube-proxy's
//!   healthz on the node, a `healthCheckNodePort`, anything a socket of the node answers. The
//!   prober sees the ICMPv6 error fail its connection (`EHOSTUNREACH`, an unreachable outcome),
//!   or, when it arrives while `connect` still holds the socket (a local veth answers that
//!   fast), only as a soft error: that SYN then times out.
//!
//! `lab/tests/source_lb_ipv6.rs` checks each of these claims on the running kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod config;
mod names;

pub use config::{LbSourceConfig, ReturnPath, return_path};
pub use names::Names;

/// The connmark/fwmark bit of probe connections. kube-proxy uses 0x4000 and 0x8000, Calico
/// allocates from 0xffff0000 upwards from its lowest bit, Cilium uses 0x0f00 and 0xf000, Istio
/// 0x539: bit 25 is far from all of them. Configurable for nodes where it is taken.
pub const DEFAULT_FWMARK: u32 = 0x0200_0000;
/// The routing table holding the routes back to the private namespace (the agent's port number,
/// so it is recognisable in `ip rule`).
pub const DEFAULT_ROUTE_TABLE: u32 = 9470;
/// The policy rule's priority: ahead of `main` (32766) and of anything a CNI usually adds.
pub const DEFAULT_RULE_PRIORITY: u32 = 9470;
/// The mangle chain jumped to from PREROUTING.
pub const CHAIN_IN: &str = "PROBESIM-SRC";
/// The mangle chain jumped to from OUTPUT (replies of the host's own sockets).
pub const CHAIN_OUT: &str = "PROBESIM-SRC-OUT";
/// The comment on the jumps, so they are found again.
pub const JUMP_COMMENT: &str = "probesim lb-source";
/// Every private namespace's name starts with this.
pub const NETNS_PREFIX: &str = "psrc-";
/// The private namespace's gateway: a link-local address answered by a permanent neighbour
/// entry, as Calico does for pods, so no ARP or proxy ARP is involved.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The private namespace's IPv6 gateway: the host end's link-local address (any link-local
/// address is unique enough on a link of two), also answered by a permanent neighbour entry.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// Leftover jumps removed at most this many times (a crash loop could have added several).
pub const MAX_LEFTOVER_JUMPS: usize = 16;

/// One command: program and arguments.
pub type Command = (&'static str, Vec<String>);

fn cmd(program: &'static str, args: &str) -> Command {
    (
        program,
        args.split_whitespace().map(str::to_owned).collect(),
    )
}

/// The two firewalls whose mangle table holds the chains: iptables (IPv4 sources) and ip6tables
/// (global IPv6 sources).
const FIREWALLS: [&str; 2] = ["iptables", "ip6tables"];

/// A mangle-table command with the lock wait, so a kube-proxy resync does not make a step fail.
fn mangle(program: &'static str, args: &str) -> Command {
    cmd(program, &format!("-w 5 -t mangle {args}"))
}

/// The prefix length a source gets in the private namespace: a link-local address is on-link
/// with its `/64` like any interface's; every other source is a host address.
fn prefix_len(addr: &IpAddr) -> u8 {
    match (addr, return_path(addr)) {
        (IpAddr::V4(_), _) => 32,
        (IpAddr::V6(_), ReturnPath::LinkLocal) => 64,
        (IpAddr::V6(_), ReturnPath::Marked) => 128,
    }
}

/// Everything `lb-source` does to one host, given its names and config.
#[derive(Clone, Debug)]
pub struct Plan {
    pub names: Names,
    pub config: LbSourceConfig,
}

impl Plan {
    pub fn new(config: LbSourceConfig, host_inode: u64) -> Plan {
        Plan {
            names: Names::for_host(host_inode),
            config,
        }
    }

    fn mark(&self) -> String {
        format!("{:#x}/{:#x}", self.config.fwmark, self.config.fwmark)
    }

    fn sources(&self) -> impl Iterator<Item = &IpAddr> {
        self.config.addresses.iter()
    }

    /// Whether any IPv6 source needs connmark + policy routing (a global or unique-local one).
    fn has_marked_ipv6(&self) -> bool {
        self.sources()
            .any(|a| a.is_ipv6() && return_path(a) == ReturnPath::Marked)
    }

    /// The firewalls that get the mangle chains: iptables for IPv4 sources, ip6tables for
    /// global IPv6 ones; none for link-local sources alone.
    fn firewalls(&self) -> Vec<&'static str> {
        let [v4, v6] = FIREWALLS;
        let mut out = Vec::new();
        if self.config.has_ipv4() {
            out.push(v4);
        }
        if self.has_marked_ipv6() {
            out.push(v6);
        }
        out
    }

    /// Creates the veth pair (the namespace exists already) and sets up the private end.
    pub fn links(&self) -> Vec<Command> {
        let n = &self.names;
        let ns = &n.netns;
        let peer = &n.peer_if;
        let mut out = vec![cmd(
            "ip",
            &format!(
                "link add {} address {} type veth peer name {peer} address {} netns {ns}",
                n.host_if, n.host_mac, n.peer_mac
            ),
        )];
        if self.config.has_ipv6() {
            // Only the configured addresses: no link-local address of the kernel's own making
            // competes as a source.
            out.push(cmd(
                "ip",
                &format!("-n {ns} link set {peer} addrgenmode none"),
            ));
        }
        for source in self.sources() {
            let nodad = if source.is_ipv6() { " nodad" } else { "" };
            out.push(cmd(
                "ip",
                &format!(
                    "-n {ns} addr add {source}/{} dev {peer}{nodad}",
                    prefix_len(source)
                ),
            ));
        }
        out.push(cmd("ip", &format!("-n {ns} link set {peer} up")));
        if self.config.has_ipv4() {
            out.extend([
                cmd(
                    "ip",
                    &format!("-n {ns} route add {GATEWAY} dev {peer} scope link"),
                ),
                cmd(
                    "ip",
                    &format!(
                        "-n {ns} neigh replace {GATEWAY} lladdr {} dev {peer} nud permanent",
                        n.host_mac
                    ),
                ),
                cmd(
                    "ip",
                    &format!("-n {ns} route add default via {GATEWAY} dev {peer}"),
                ),
            ]);
        }
        if self.config.has_ipv6() {
            out.extend([
                cmd(
                    "ip",
                    &format!(
                        "-n {ns} -6 neigh replace {GATEWAY_V6} lladdr {} dev {peer} nud permanent",
                        n.host_mac
                    ),
                ),
                cmd(
                    "ip",
                    &format!("-n {ns} -6 route add default via {GATEWAY_V6} dev {peer}"),
                ),
            ]);
        }
        out
    }

    /// Host sysctls (path under `/proc/sys`, value): the mark counts in the reverse-path check
    /// of the veth; IPv6 on it only when there is an IPv6 source (no chatter otherwise).
    pub fn sysctls(&self) -> Vec<(String, &'static str)> {
        let i = &self.names.host_if;
        let mut out = Vec::new();
        if self.config.has_ipv4() {
            out.push((format!("net/ipv4/conf/{i}/src_valid_mark"), "1"));
        }
        let disable_ipv6 = if self.config.has_ipv6() { "0" } else { "1" };
        out.push((format!("net/ipv6/conf/{i}/disable_ipv6"), disable_ipv6));
        out
    }

    /// The host's end up, the routes back to the private namespace, and the policy rules.
    pub fn routes(&self) -> Vec<Command> {
        let n = &self.names;
        let h = &n.host_if;
        let t = self.config.table;
        let mut out = Vec::new();
        if self.config.has_ipv6() {
            out.extend([
                cmd("ip", &format!("link set {h} addrgenmode none")),
                cmd("ip", &format!("-6 addr add {GATEWAY_V6}/64 dev {h} nodad")),
            ]);
        }
        out.push(cmd("ip", &format!("link set {h} up")));
        for source in self.sources() {
            match (source, return_path(source)) {
                (IpAddr::V4(_), _) => out.push(cmd(
                    "ip",
                    &format!("route replace {source}/32 dev {h} table {t}"),
                )),
                (IpAddr::V6(_), ReturnPath::Marked) => out.push(cmd(
                    "ip",
                    &format!("-6 route replace {source}/128 dev {h} table {t}"),
                )),
                // On-link through the veth's own fe80::/64; replies find the interface by
                // themselves.
                (IpAddr::V6(_), ReturnPath::LinkLocal) => {}
            }
            out.push(cmd(
                "ip",
                &format!(
                    "neigh replace {source} lladdr {} dev {h} nud permanent",
                    n.peer_mac
                ),
            ));
        }
        let rule = |family: &str| {
            cmd(
                "ip",
                &format!(
                    "{family}rule add fwmark {} table {t} priority {}",
                    self.mark(),
                    self.config.rule_priority
                ),
            )
        };
        if self.config.has_ipv4() {
            out.push(rule(""));
        }
        if self.has_marked_ipv6() {
            out.push(rule("-6 "));
        }
        out
    }

    /// The mangle chains and their jumps, first in PREROUTING and OUTPUT, in each firewall that
    /// marks (see [`Plan::firewalls`]).
    pub fn iptables(&self) -> Vec<Command> {
        let m = self.mark();
        let host_if = &self.names.host_if;
        let mut out = Vec::new();
        for fw in self.firewalls() {
            out.extend([
                mangle(fw, &format!("-N {CHAIN_IN}")),
                mangle(
                    fw,
                    &format!("-A {CHAIN_IN} -i {host_if} -j CONNMARK --set-xmark {m}"),
                ),
                mangle(
                    fw,
                    &format!("-A {CHAIN_IN} -m connmark --mark {m} -j MARK --set-xmark {m}"),
                ),
                mangle(fw, &format!("-N {CHAIN_OUT}")),
                mangle(
                    fw,
                    &format!("-A {CHAIN_OUT} -m connmark --mark {m} -j MARK --set-xmark {m}"),
                ),
                jump(fw, "-I PREROUTING 1", CHAIN_IN),
                jump(fw, "-I OUTPUT 1", CHAIN_OUT),
            ]);
        }
        out
    }

    /// Removes everything of either family, whatever a previous run (with whatever addresses)
    /// got to; each command may fail (nothing to remove, no IPv6 on the host) and is tried
    /// anyway. Repeated commands are listed once: see [`Plan::repeated_cleanup`].
    pub fn cleanup(&self) -> Vec<Command> {
        let t = self.config.table;
        let mut out = Vec::new();
        for fw in FIREWALLS {
            for chain in [CHAIN_IN, CHAIN_OUT] {
                out.push(mangle(fw, &format!("-F {chain}")));
                out.push(mangle(fw, &format!("-X {chain}")));
            }
        }
        out.extend([
            cmd("ip", &format!("route flush table {t}")),
            cmd("ip", &format!("-6 route flush table {t}")),
            cmd("ip", &format!("link del {}", self.names.host_if)),
        ]);
        out
    }

    /// Commands to repeat until they fail, before [`Plan::cleanup`]: the jumps (a crash loop may
    /// have added several) and the policy rules pointing at the table, of both families.
    pub fn repeated_cleanup(&self) -> Vec<Command> {
        let t = self.config.table;
        let mut out = Vec::new();
        for fw in FIREWALLS {
            out.push(jump(fw, "-D PREROUTING", CHAIN_IN));
            out.push(jump(fw, "-D OUTPUT", CHAIN_OUT));
        }
        out.push(cmd("ip", &format!("rule del table {t}")));
        out.push(cmd("ip", &format!("-6 rule del table {t}")));
        out
    }
}

fn jump(program: &'static str, verb: &str, chain: &str) -> Command {
    let mut c = mangle(program, verb);
    c.1.extend(
        ["-m", "comment", "--comment", JUMP_COMMENT, "-j", chain]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    c
}

#[cfg(test)]
mod tests;
