//! Source emulation (design.md, "Source emulation"): where a probe's packets come from.
//!
//! - [`SourceMode::Node`]: the node's own sockets; needs no privilege.
//! - [`SourceMode::LbSource`]: a private network namespace ([`LbSource`]) joined to the host by a
//!   veth pair and holding the LB's source address; probe sockets are made inside it by a
//!   [`SocketFactory`], so every prober works unchanged while its packets enter the host like the
//!   LB's (PREROUTING and kube-proxy's DNAT, FORWARD or INPUT, NetworkPolicy).
//! - [`SourceMode::Syn`]: half-open raw SYN probes ([`crate::probe::syn`]), from the node or
//!   from inside the private namespace.
//! - [`SourceMode::Observed`]: not sent at all; the real LB's probes seen arriving
//!   ([`crate::observe`]).
//!
//! "Host" is always the network namespace the agent runs in: the node's root namespace in
//! production (hostNetwork), a node's namespace in the lab.
//!
//! How the daemon uses it:
//!
//! ```text
//! // once, at start, on a thread of the host namespace (blocking; removes a crashed run's leftovers)
//! let sources = SourceSet::start(&SourceSetConfig {
//!     lb_source: Some(LbSourceConfig::with_addresses(default_lb_sources(cloud))),
//!     syn: None,
//! })?;                                   // Error::MissingCapability names CAP_* and the manifest fix
//! // per backend: its mode (BackendKey::source) picks the source of its probes
//! request.source = sources.for_mode(SourceMode::LbSource)?;   // None for SourceMode::Node
//! // observed results: Observer::start(ObserverConfig::azure(vec!["eth0".into()]), map, events)
//! // with map.insert(node_addr:port, backend id of the Observed backend, spec)
//! // at exit: sources.remove()  (or drop it)
//! ```
//!
//! The host needs some route to an IPv4 (or global IPv6) LB source in its main table (a node's
//! default route does): answers the host sends itself are routed once before the mark diverts
//! them to the veth. Link-local IPv6 sources need nothing of the kind ([`plan`] explains why).
//!
//! Both families at once: an agent may hold 168.63.129.16 and fe80::1234:5678:9abc together
//! (the Azure default on nodes with IPv6, [`default_lb_sources`]); each probe leaves from the
//! source of its target's family.

pub mod caps;
pub mod plan;
mod set;
mod setup;
pub mod socket;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::Cloud;

pub use crate::event::SourceMode;
pub use plan::LbSourceConfig;
pub use set::{SourceSet, SourceSetConfig};
pub use setup::LbSource;
pub use socket::SocketFactory;

/// The source of Azure Load Balancer's health probes (Azure's documented "virtual public IP").
pub const AZURE_PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// The source of Azure Load Balancer's health probes of IPv6 backends: a link-local address.
pub const AZURE_PROBE_SOURCE_V6: Ipv6Addr =
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x1234, 0x5678, 0x9abc);

/// The sysctl that says whether IPv6 is on (`0`) in the reading thread's network namespace;
/// absent when the kernel runs without IPv6 (`ipv6.disable=1`).
pub const IPV6_DISABLED_SYSCTL: &str = "/proc/sys/net/ipv6/conf/all/disable_ipv6";

/// The LB source addresses a cloud's probes come from when none are configured, for a node with
/// IPv6 on or off ([`ipv6_enabled`]). AWS load balancers probe from addresses of their own
/// subnets, which only the operator knows: none.
pub fn default_lb_sources_for(cloud: Cloud, ipv6: bool) -> Vec<IpAddr> {
    match cloud {
        Cloud::Azure if ipv6 => vec![
            IpAddr::V4(AZURE_PROBE_SOURCE),
            IpAddr::V6(AZURE_PROBE_SOURCE_V6),
        ],
        Cloud::Azure => vec![IpAddr::V4(AZURE_PROBE_SOURCE)],
        Cloud::Aws => Vec::new(),
    }
}

/// The LB source addresses a cloud's probes come from when none are configured, on this node:
/// Azure's IPv6 source only where IPv6 is on, so dual-stack nodes get both and IPv4-only nodes
/// are unchanged.
pub fn default_lb_sources(cloud: Cloud) -> Vec<IpAddr> {
    default_lb_sources_for(cloud, ipv6_enabled())
}

/// Whether IPv6 is on in the calling thread's network namespace ([`IPV6_DISABLED_SYSCTL`]).
pub fn ipv6_enabled() -> bool {
    ipv6_enabled_at(Path::new(IPV6_DISABLED_SYSCTL))
}

/// Whether the `disable_ipv6` sysctl at `path` says IPv6 is on: it exists and reads `0`.
pub fn ipv6_enabled_at(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "0")
}

/// Parses a source mode as the CLI and `PROBESIM_SOURCE` spell it (`node`, `lb-source`, `syn`).
/// `observed` is not a mode one chooses for sending probes.
pub fn parse_mode(field: &str, text: &str) -> Result<SourceMode> {
    match text.trim() {
        "node" => Ok(SourceMode::Node),
        "lb-source" => Ok(SourceMode::LbSource),
        "syn" => Ok(SourceMode::Syn),
        other => Err(Error::SourceConfig {
            field: field.to_owned(),
            value: other.to_owned(),
            message: "expected one of node, lb-source, syn".into(),
        }),
    }
}

/// Parses a comma-separated list of LB source addresses (`PROBESIM_LB_SOURCE_ADDRESSES`).
pub fn parse_addresses(field: &str, text: &str) -> Result<Vec<IpAddr>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            IpAddr::from_str(s).map_err(|e| Error::SourceConfig {
                field: field.to_owned(),
                value: s.to_owned(),
                message: format!("not an IP address ({e})"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_the_cli_spells_them_and_observed_is_refused() {
        for (text, mode) in [
            ("node", SourceMode::Node),
            ("lb-source", SourceMode::LbSource),
            (" syn ", SourceMode::Syn),
        ] {
            assert_eq!(parse_mode("--source", text).unwrap(), mode);
        }
        let err = parse_mode("--source", "observed").unwrap_err().to_string();
        assert!(
            err.contains("--source") && err.contains("observed"),
            "{err}"
        );
    }

    #[test]
    fn address_lists_name_the_bad_entry() {
        assert_eq!(
            parse_addresses("PROBESIM_LB_SOURCE_ADDRESSES", "10.0.1.5, 10.0.2.7,").unwrap(),
            vec![IpAddr::from([10, 0, 1, 5]), IpAddr::from([10, 0, 2, 7])]
        );
        let err = parse_addresses("--lb-source-address", "10.0.1.5,10.0.300.1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("10.0.300.1"), "{err}");
    }

    #[test]
    fn azure_defaults_to_its_probe_sources_by_family_and_aws_to_nothing() {
        assert_eq!(
            default_lb_sources_for(Cloud::Azure, false),
            vec![IpAddr::V4(AZURE_PROBE_SOURCE)]
        );
        assert_eq!(
            default_lb_sources_for(Cloud::Azure, true),
            vec![
                IpAddr::V4(AZURE_PROBE_SOURCE),
                "fe80::1234:5678:9abc".parse::<IpAddr>().unwrap()
            ]
        );
        for ipv6 in [false, true] {
            assert!(default_lb_sources_for(Cloud::Aws, ipv6).is_empty());
        }
        assert!(default_lb_sources(Cloud::Azure).contains(&IpAddr::V4(AZURE_PROBE_SOURCE)));
    }

    #[test]
    fn ipv6_counts_as_enabled_only_when_disable_ipv6_exists_and_reads_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disable_ipv6");
        for (content, enabled) in [
            (Some("0\n"), true),
            (Some("1\n"), false),
            (Some(""), false),
            (None, false),
        ] {
            let _ = std::fs::remove_file(&path);
            if let Some(c) = content {
                std::fs::write(&path, c).unwrap();
            }
            assert_eq!(ipv6_enabled_at(&path), enabled, "{content:?}");
        }
    }
}
