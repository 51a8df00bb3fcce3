//! What `lb-source` is set up with, and which addresses it can hold.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

use super::{DEFAULT_FWMARK, DEFAULT_ROUTE_TABLE, DEFAULT_RULE_PRIORITY};
use crate::error::{Error, Result};

/// What `lb-source` is set up with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbSourceConfig {
    /// The LB's source addresses. IPv4 probes leave from the first IPv4 address unless they bind
    /// another, IPv6 probes from the first IPv6 address.
    pub addresses: Vec<IpAddr>,
    pub fwmark: u32,
    pub table: u32,
    pub rule_priority: u32,
}

impl Default for LbSourceConfig {
    fn default() -> Self {
        LbSourceConfig {
            addresses: vec![IpAddr::V4(crate::source::AZURE_PROBE_SOURCE)],
            fwmark: DEFAULT_FWMARK,
            table: DEFAULT_ROUTE_TABLE,
            rule_priority: DEFAULT_RULE_PRIORITY,
        }
    }
}

/// How replies find their way back to one LB source address (see the module docs of
/// [`crate::source::plan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnPath {
    /// Connmark + policy routing: IPv4 sources, and IPv6 sources of global or unique-local
    /// scope (AWS subnet addresses).
    Marked,
    /// A link-local IPv6 source (Azure's `fe80::1234:5678:9abc`): the kernel sends replies out
    /// of the interface the connection came in on, so nothing needs marking.
    LinkLocal,
}

/// How replies to `addr` return to the private namespace.
pub fn return_path(addr: &IpAddr) -> ReturnPath {
    match addr {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => ReturnPath::LinkLocal,
        _ => ReturnPath::Marked,
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

    /// The IPv6 sources, in order.
    pub fn ipv6_addresses(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.addresses.iter().filter_map(|a| match a {
            IpAddr::V6(v6) => Some(*v6),
            IpAddr::V4(_) => None,
        })
    }

    /// Whether any source is IPv4.
    pub fn has_ipv4(&self) -> bool {
        self.addresses.iter().any(IpAddr::is_ipv4)
    }

    /// Whether any source is IPv6.
    pub fn has_ipv6(&self) -> bool {
        self.addresses.iter().any(IpAddr::is_ipv6)
    }

    /// The first source of `target`'s family: where a probe to `target` leaves from.
    pub fn source_for(&self, target: IpAddr) -> Option<IpAddr> {
        self.addresses
            .iter()
            .find(|a| a.is_ipv4() == target.is_ipv4())
            .copied()
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
            if let Some(why) = unusable(addr) {
                return Err(bad(field, addr.to_string(), why));
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

/// Why `addr` cannot be an LB source, if it cannot.
fn unusable(addr: &IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4)
            if v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_multicast()
                || v4.is_broadcast() =>
        {
            Some("not a unicast address")
        }
        IpAddr::V6(v6) if v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() => {
            Some("not a unicast address")
        }
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            Some("an IPv4-mapped IPv6 address: give the IPv4 address itself")
        }
        _ => None,
    }
}
