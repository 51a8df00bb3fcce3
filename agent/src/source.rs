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
//! The host needs some route to the LB source in its main table (a node's default route does):
//! answers the host sends itself are routed once before the mark diverts them to the veth.

pub mod caps;
pub mod plan;
mod set;
mod setup;
pub mod socket;

use std::net::{IpAddr, Ipv4Addr};
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

/// The LB source addresses a cloud's probes come from when none are configured. AWS load
/// balancers probe from addresses of their own subnets, which only the operator knows: none.
pub fn default_lb_sources(cloud: Cloud) -> Vec<IpAddr> {
    match cloud {
        Cloud::Azure => vec![IpAddr::V4(AZURE_PROBE_SOURCE)],
        Cloud::Aws => Vec::new(),
    }
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
    fn azure_defaults_to_its_probe_source_and_aws_to_nothing() {
        assert_eq!(
            default_lb_sources(Cloud::Azure),
            vec![IpAddr::V4(AZURE_PROBE_SOURCE)]
        );
        assert!(default_lb_sources(Cloud::Aws).is_empty());
    }
}
