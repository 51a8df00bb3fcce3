//! What `lb-source` creates, as data: names, and the `ip`/`iptables` commands that build and
//! remove it. Pure, so that every command can be read in a test; `setup` runs them.
//!
//! ```text
//!   private ns psrc-<h>                          host (the agent's namespace)
//!   eth0 168.63.129.16/32 ── veth ── psrc<h>     mangle PREROUTING: -i psrc<h> → CONNMARK M
//!   default via 169.254.1.1                      connmark M → packet mark M (replies too)
//!   (permanent neighbour: psrc<h>'s MAC)         ip rule fwmark M → table T:
//!                                                  168.63.129.16 dev psrc<h>
//! ```
//!
//! Only packets of connections that entered from the veth carry the mark, so only their replies
//! are routed back to it; the host's own connections to 168.63.129.16 (Azure's DNS, DHCP and
//! wire server) follow the main table as before. The veth's `src_valid_mark` lets reverse-path
//! filtering look the source up with that mark, so it passes even in strict mode, and no
//! interface's `rp_filter` is loosened.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use crate::error::{Error, Result};

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
/// Leftover jumps removed at most this many times (a crash loop could have added several).
pub const MAX_LEFTOVER_JUMPS: usize = 16;

/// What `lb-source` is set up with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbSourceConfig {
    /// The LB's source addresses; probes leave from the first unless they bind another.
    pub addresses: Vec<IpAddr>,
    pub fwmark: u32,
    pub table: u32,
    pub rule_priority: u32,
}

impl Default for LbSourceConfig {
    fn default() -> Self {
        LbSourceConfig {
            addresses: vec![IpAddr::V4(super::AZURE_PROBE_SOURCE)],
            fwmark: DEFAULT_FWMARK,
            table: DEFAULT_ROUTE_TABLE,
            rule_priority: DEFAULT_RULE_PRIORITY,
        }
    }
}

impl LbSourceConfig {
    /// A config with the given addresses and default marks.
    pub fn with_addresses(addresses: Vec<IpAddr>) -> LbSourceConfig {
        LbSourceConfig {
            addresses,
            ..LbSourceConfig::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: String, message: &str| Error::SourceConfig {
            field: field.to_owned(),
            value,
            message: message.to_owned(),
        };
        if self.addresses.is_empty() {
            return Err(bad(
                "lb-source addresses",
                "(none)".into(),
                "at least one LB source address is needed (AWS: an address of the load \
                 balancer's subnets)",
            ));
        }
        let mut seen = BTreeSet::new();
        for addr in &self.addresses {
            let field = "lb-source address";
            match addr {
                IpAddr::V6(_) => {
                    return Err(bad(
                        field,
                        addr.to_string(),
                        "IPv6 LB sources are not supported yet",
                    ));
                }
                IpAddr::V4(v4)
                    if v4.is_unspecified()
                        || v4.is_loopback()
                        || v4.is_multicast()
                        || v4.is_broadcast() =>
                {
                    return Err(bad(field, addr.to_string(), "not a unicast address"));
                }
                _ => {}
            }
            if !seen.insert(*addr) {
                return Err(bad(field, addr.to_string(), "given twice"));
            }
        }
        if self.fwmark == 0 || self.fwmark & 0xc000 != 0 {
            return Err(bad(
                "lb-source fwmark",
                format!("{:#x}", self.fwmark),
                "must be non-zero and leave kube-proxy's bits 0x4000 and 0x8000 alone",
            ));
        }
        if matches!(self.table, 0 | 253..=255) {
            return Err(bad(
                "lb-source table",
                self.table.to_string(),
                "0, 253 (default), 254 (main) and 255 (local) are the kernel's",
            ));
        }
        if self.rule_priority == 0 || self.rule_priority >= 32766 {
            return Err(bad(
                "lb-source rule priority",
                self.rule_priority.to_string(),
                "must be between 1 and 32765, ahead of the main table's rule",
            ));
        }
        Ok(())
    }
}

/// The names of what one host's `lb-source` creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The private namespace (`psrc-<hash>`), under `/run/netns`.
    pub netns: String,
    /// The host's end of the veth pair (`psrc<hash>`).
    pub host_if: String,
    /// The private namespace's end.
    pub peer_if: String,
    pub host_mac: String,
    pub peer_mac: String,
}

impl Names {
    /// Names derived from the host namespace's inode: stable across restarts of the agent (so a
    /// crashed agent's leftovers are found again) and distinct for every host namespace on the
    /// machine (the lab runs one per node, all sharing `/run/netns`).
    pub fn for_host(inode: u64) -> Names {
        let hash = fnv1a(&inode.to_le_bytes());
        let h = format!("{:08x}", hash as u32);
        let b = h.as_bytes();
        let pair = |i: usize| std::str::from_utf8(&b[i..i + 2]).unwrap_or("00").to_owned();
        // Locally administered unicast MACs (second-lowest bit of the first byte set).
        let mac =
            |first: &str| format!("{first}:{}:{}:{}:{}:00", pair(0), pair(2), pair(4), pair(6));
        Names {
            netns: format!("{NETNS_PREFIX}{h}"),
            host_if: format!("psrc{h}"),
            peer_if: "eth0".to_owned(),
            host_mac: mac("02"),
            peer_mac: mac("06"),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One command: program and arguments.
pub type Command = (&'static str, Vec<String>);

fn cmd(program: &'static str, args: &str) -> Command {
    (
        program,
        args.split_whitespace().map(str::to_owned).collect(),
    )
}

/// iptables with the lock wait, so a kube-proxy resync does not make a step fail.
fn ipt(args: &str) -> Command {
    cmd("iptables", &format!("-w 5 -t mangle {args}"))
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

    /// Creates the veth pair (the namespace exists already) and sets up the private end.
    pub fn links(&self) -> Vec<Command> {
        let n = &self.names;
        let ns = &n.netns;
        let mut out = vec![cmd(
            "ip",
            &format!(
                "link add {} address {} type veth peer name {} address {} netns {ns}",
                n.host_if, n.host_mac, n.peer_if, n.peer_mac
            ),
        )];
        for source in self.sources() {
            out.push(cmd(
                "ip",
                &format!("-n {ns} addr add {source}/32 dev {}", n.peer_if),
            ));
        }
        out.extend([
            cmd("ip", &format!("-n {ns} link set {} up", n.peer_if)),
            cmd(
                "ip",
                &format!("-n {ns} route add {GATEWAY} dev {} scope link", n.peer_if),
            ),
            cmd(
                "ip",
                &format!(
                    "-n {ns} neigh replace {GATEWAY} lladdr {} dev {} nud permanent",
                    n.host_mac, n.peer_if
                ),
            ),
            cmd(
                "ip",
                &format!("-n {ns} route add default via {GATEWAY} dev {}", n.peer_if),
            ),
        ]);
        out
    }

    /// Host sysctls (path under `/proc/sys`, value): the mark counts in the reverse-path check
    /// of the veth; no IPv6 chatter on it.
    pub fn sysctls(&self) -> Vec<(String, &'static str)> {
        let i = &self.names.host_if;
        vec![
            (format!("net/ipv4/conf/{i}/src_valid_mark"), "1"),
            (format!("net/ipv6/conf/{i}/disable_ipv6"), "1"),
        ]
    }

    /// The host's end up, the routes back to the private namespace, and the policy rule.
    pub fn routes(&self) -> Vec<Command> {
        let n = &self.names;
        let t = self.config.table;
        let mut out = vec![cmd("ip", &format!("link set {} up", n.host_if))];
        for source in self.sources() {
            out.push(cmd(
                "ip",
                &format!("route replace {source}/32 dev {} table {t}", n.host_if),
            ));
            out.push(cmd(
                "ip",
                &format!(
                    "neigh replace {source} lladdr {} dev {} nud permanent",
                    n.peer_mac, n.host_if
                ),
            ));
        }
        out.push(cmd(
            "ip",
            &format!(
                "rule add fwmark {} table {t} priority {}",
                self.mark(),
                self.config.rule_priority
            ),
        ));
        out
    }

    /// The mangle chains and their jumps, first in PREROUTING and OUTPUT.
    pub fn iptables(&self) -> Vec<Command> {
        let m = self.mark();
        let host_if = &self.names.host_if;
        vec![
            ipt(&format!("-N {CHAIN_IN}")),
            ipt(&format!(
                "-A {CHAIN_IN} -i {host_if} -j CONNMARK --set-xmark {m}"
            )),
            ipt(&format!(
                "-A {CHAIN_IN} -m connmark --mark {m} -j MARK --set-xmark {m}"
            )),
            ipt(&format!("-N {CHAIN_OUT}")),
            ipt(&format!(
                "-A {CHAIN_OUT} -m connmark --mark {m} -j MARK --set-xmark {m}"
            )),
            jump("-I PREROUTING 1", CHAIN_IN),
            jump("-I OUTPUT 1", CHAIN_OUT),
        ]
    }

    /// Removes everything, whatever a previous run got to; each command may fail (nothing to
    /// remove) and is tried anyway. Repeated commands are listed once: see
    /// [`Plan::repeated_cleanup`].
    pub fn cleanup(&self) -> Vec<Command> {
        let n = &self.names;
        vec![
            ipt(&format!("-F {CHAIN_IN}")),
            ipt(&format!("-X {CHAIN_IN}")),
            ipt(&format!("-F {CHAIN_OUT}")),
            ipt(&format!("-X {CHAIN_OUT}")),
            cmd("ip", &format!("route flush table {}", self.config.table)),
            cmd("ip", &format!("link del {}", n.host_if)),
        ]
    }

    /// Commands to repeat until they fail, before [`Plan::cleanup`]: the jumps (a crash loop may
    /// have added several) and the policy rules pointing at the table.
    pub fn repeated_cleanup(&self) -> Vec<Command> {
        let mut jumps = vec![
            jump("-D PREROUTING", CHAIN_IN),
            jump("-D OUTPUT", CHAIN_OUT),
        ];
        jumps.push(cmd("ip", &format!("rule del table {}", self.config.table)));
        jumps
    }
}

fn jump(verb: &str, chain: &str) -> Command {
    let mut c = ipt(verb);
    c.1.extend(
        ["-m", "comment", "--comment", JUMP_COMMENT, "-j", chain]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    c
}

#[cfg(test)]
mod tests;
