//! Which capabilities the source modes need, checked up front so that a missing one gives an
//! error that names it and the manifest setting that grants it, not an `EPERM` from `ip`.

use crate::error::{Error, Result};

/// A capability a source mode needs, with the bit the kernel gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// As the kernel names it (`CAP_NET_ADMIN`).
    pub name: &'static str,
    /// As `securityContext.capabilities.add` names it (`NET_ADMIN`).
    pub grant: &'static str,
    pub bit: u32,
    /// What the mode does with it.
    pub why: &'static str,
}

pub const NET_ADMIN: Capability = Capability {
    name: "CAP_NET_ADMIN",
    grant: "NET_ADMIN",
    bit: 12,
    why: "to create the veth pair, routes, policy rules and iptables rules",
};
pub const NET_RAW: Capability = Capability {
    name: "CAP_NET_RAW",
    grant: "NET_RAW",
    bit: 13,
    why: "for raw and packet sockets",
};
pub const SYS_ADMIN: Capability = Capability {
    name: "CAP_SYS_ADMIN",
    grant: "SYS_ADMIN",
    bit: 21,
    why: "to create and enter (setns) the source network namespace",
};

/// What `lb-source` needs.
pub const LB_SOURCE: [Capability; 3] = [NET_ADMIN, NET_RAW, SYS_ADMIN];
/// What raw SYN probes need (from the node; inside the lb-source namespace add [`LB_SOURCE`]).
pub const SYN: [Capability; 1] = [NET_RAW];
/// What the passive observer needs.
pub const OBSERVE: [Capability; 1] = [NET_RAW];

/// The effective capability set of this process, from `/proc/self/status`.
pub fn effective() -> Result<u64> {
    let path = "/proc/self/status";
    let status = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    parse_cap_eff(&status).ok_or_else(|| Error::Parse {
        source_name: path.into(),
        doc: 1,
        message: "no readable CapEff line".into(),
    })
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// `Ok` when every capability of `needed` is in `effective`; otherwise the first one missing.
pub fn check(mode: &'static str, needed: &[Capability], effective: u64) -> Result<()> {
    match needed.iter().find(|c| effective & (1u64 << c.bit) == 0) {
        None => Ok(()),
        Some(c) => Err(Error::MissingCapability {
            mode,
            capability: c.name,
            grant: c.grant,
            why: c.why,
        }),
    }
}

/// Checks this process's capabilities for `mode`.
pub fn require(mode: &'static str, needed: &[Capability]) -> Result<()> {
    check(mode, needed, effective()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_set_is_read_from_the_cap_eff_line() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn a_missing_capability_is_named_with_the_setting_that_grants_it() {
        let all = (1u64 << 12) | (1 << 13) | (1 << 21);
        assert!(check("lb-source", &LB_SOURCE, all).is_ok());
        let err = check("lb-source", &LB_SOURCE, all & !(1 << 21))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CAP_SYS_ADMIN")
                && err.contains("capabilities.add: [SYS_ADMIN]")
                && err.contains("--source node"),
            "{err}"
        );
        let err = check("syn", &SYN, 0).unwrap_err().to_string();
        assert!(err.contains("CAP_NET_RAW"), "{err}");
    }
}
