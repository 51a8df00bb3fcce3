//! Which cloud-provider-azure behaviour applies: the version table of spec/azure-lb.md section 3.
//!
//! A user names the behaviour by Kubernetes minor version (`1.24`: the latest patch of that line of
//! cloud-provider-azure) or by an exact cloud-provider-azure version (`v1.23.5`).

use std::fmt;
use std::str::FromStr;

/// A cloud-provider-azure version, or the latest patch of a minor line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpaVersion {
    pub minor: u32,
    /// `None`: the latest patch of the line.
    pub patch: Option<u32>,
}

/// The version of the cloud-provider-azure line that current AKS runs when none is named.
pub const DEFAULT_AZURE_VERSION: CpaVersion = CpaVersion {
    minor: 33,
    patch: None,
};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown version {value:?}: expected a Kubernetes minor version such as 1.24 (the latest \
     cloud-provider-azure patch of that line) or an exact cloud-provider-azure version such as v1.23.5"
)]
pub struct VersionError {
    pub value: String,
}

impl FromStr for CpaVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError {
            value: s.to_owned(),
        };
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let mut parts = t.split('.');
        let mut num = |required: bool| -> Result<Option<u32>, VersionError> {
            match parts.next() {
                None if !required => Ok(None),
                Some(p)
                    if !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    p.parse().map(Some).map_err(|_| err())
                }
                _ => Err(err()),
            }
        };
        let major = num(true)?;
        let minor = num(true)?.ok_or_else(err)?;
        let patch = num(false)?;
        if major != Some(1) || parts.next().is_some() {
            return Err(err());
        }
        Ok(CpaVersion { minor, patch })
    }
}

impl fmt::Display for CpaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            None => write!(f, "1.{}", self.minor),
            Some(p) => write!(f, "v1.{}.{p}", self.minor),
        }
    }
}

/// How the probe's threshold is written into the ARM template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdField {
    /// `numberOfProbes`, before v1.27.0 (v1.24.18, v1.25.12, v1.26.8).
    NumberOfProbes,
    /// `probeThreshold`, from v1.27.0 (v1.24.18, v1.25.12, v1.26.8).
    ProbeThreshold,
}

/// The behaviours that differ between cloud-provider-azure versions; one row of the version table
/// turned into flags, so the derivation asks questions rather than comparing versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AzureBehavior {
    /// `spec.ports[].appProtocol` selects the probe protocol (v1.23.4+; earlier it is ignored).
    pub app_protocol: bool,
    /// Path of an Http/Https probe without a request-path annotation.
    pub default_http_path: &'static str,
    /// Without a request-path annotation the probe is forced to Tcp (v1.23.11 and later 1.23).
    pub force_tcp_without_path: bool,
    /// The interval and num-of-probe annotations (global and per port) and the per-port
    /// request-path annotation are read; before, interval 5 and threshold 2 are fixed.
    pub interval_threshold_annotations: bool,
    /// `port_N_health-probe_protocol`, `port_N_health-probe_port`, `port_N_no_lb_rule` and
    /// `port_N_no_probe_rule` are read (v1.26.0, v1.24.12, v1.25.6).
    pub per_port_protocol_and_rules: bool,
    pub threshold_field: ThresholdField,
    /// The interval/threshold annotations apply to the externalTrafficPolicy Local probe; before,
    /// it is fixed at 5/2 (v1.28.0, v1.25.16, v1.26.12, v1.27.6).
    pub local_probe_annotations: bool,
    /// A per-port probe port overrides the Local probe (v1.29.0, v1.25.19, v1.26.15, v1.27.9,
    /// v1.28.1).
    pub per_port_port_overrides_local: bool,
    /// `clusterServiceLoadBalancerHealthProbeMode: shared` exists (v1.29.0, v1.28.5).
    pub shared_probe_mode: bool,
}

impl CpaVersion {
    /// Whether this version has a behaviour introduced on the main line at `1.<mainline>.0` and
    /// backported to the given `(minor, patch)` releases.
    fn since(self, mainline: u32, backports: &[(u32, u32)]) -> bool {
        if self.minor >= mainline {
            return true;
        }
        backports
            .iter()
            .find(|(minor, _)| *minor == self.minor)
            .is_some_and(|(_, patch)| self.patch.is_none_or(|p| p >= *patch))
    }

    pub fn behavior(self) -> AzureBehavior {
        let app_protocol = self.since(24, &[(23, 4)]);
        AzureBehavior {
            app_protocol,
            default_http_path: if app_protocol { "/" } else { "/healthz" },
            force_tcp_without_path: self.minor == 23 && self.patch.is_none_or(|p| p >= 11),
            interval_threshold_annotations: app_protocol,
            per_port_protocol_and_rules: self.since(26, &[(24, 12), (25, 6)]),
            threshold_field: if self.since(27, &[(24, 18), (25, 12), (26, 8)]) {
                ThresholdField::ProbeThreshold
            } else {
                ThresholdField::NumberOfProbes
            },
            local_probe_annotations: self.since(28, &[(25, 16), (26, 12), (27, 6)]),
            per_port_port_overrides_local: self.since(29, &[(25, 19), (26, 15), (27, 9), (28, 1)]),
            shared_probe_mode: self.since(29, &[(28, 5)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> CpaVersion {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn minor_and_exact_versions_parse_and_print() {
        assert_eq!(
            v("1.24"),
            CpaVersion {
                minor: 24,
                patch: None
            }
        );
        assert_eq!(
            v("v1.24"),
            CpaVersion {
                minor: 24,
                patch: None
            }
        );
        assert_eq!(
            v("v1.23.5"),
            CpaVersion {
                minor: 23,
                patch: Some(5)
            }
        );
        assert_eq!(
            v("1.23.5"),
            CpaVersion {
                minor: 23,
                patch: Some(5)
            }
        );
        assert_eq!(v("1.24").to_string(), "1.24");
        assert_eq!(v("1.23.5").to_string(), "v1.23.5");
    }

    #[test]
    fn malformed_versions_are_rejected() {
        for bad in [
            "",
            "1",
            "2.24",
            "1.x",
            "1.24.3.1",
            "v1.24-aks",
            "1..2",
            "latest",
            "1.24.",
        ] {
            assert!(
                bad.parse::<CpaVersion>().is_err(),
                "{bad:?} should be rejected"
            );
        }
        let msg = "1.x".parse::<CpaVersion>().unwrap_err().to_string();
        assert!(msg.contains("\"1.x\"") && msg.contains("1.24") && msg.contains("v1.23.5"));
    }

    /// Every row of the version table of spec/azure-lb.md section 3, checked at its edges.
    #[test]
    fn version_table_rows_switch_at_their_documented_releases() {
        let b = |s: &str| v(s).behavior();
        // <= v1.23.3: appProtocol ignored, /healthz default, fixed interval and threshold.
        for s in ["1.22", "v1.23.0", "v1.23.3"] {
            let x = b(s);
            assert!(!x.app_protocol && !x.interval_threshold_annotations, "{s}");
            assert_eq!(x.default_http_path, "/healthz", "{s}");
            assert!(!x.force_tcp_without_path, "{s}");
        }
        // v1.23.4 - v1.23.10: like v1.24.
        for s in ["v1.23.4", "v1.23.10"] {
            let x = b(s);
            assert!(x.app_protocol && x.interval_threshold_annotations, "{s}");
            assert_eq!(x.default_http_path, "/", "{s}");
            assert!(!x.force_tcp_without_path, "{s}");
        }
        // v1.23.11 and later 1.23: forced Tcp without a request path.
        for s in ["v1.23.11", "1.23"] {
            assert!(b(s).force_tcp_without_path, "{s}");
        }
        for s in ["1.24", "v1.24.0", "1.30"] {
            let x = b(s);
            assert!(x.app_protocol && !x.force_tcp_without_path, "{s}");
            assert_eq!(x.default_http_path, "/", "{s}");
        }
        type Edge = (
            &'static str,
            fn(&AzureBehavior) -> bool,
            &'static [&'static str],
            &'static [&'static str],
        );
        let flag_edges: [Edge; 4] = [
            (
                "per-port protocol and rules",
                |x| x.per_port_protocol_and_rules,
                &["v1.24.12", "1.24", "v1.25.6", "v1.26.0"],
                &["v1.24.11", "v1.25.5", "1.23"],
            ),
            (
                "Local probe annotations",
                |x| x.local_probe_annotations,
                &["v1.25.16", "v1.26.12", "v1.27.6", "v1.28.0"],
                &["1.24", "v1.25.15", "v1.26.11", "v1.27.5"],
            ),
            (
                "per-port port overrides Local",
                |x| x.per_port_port_overrides_local,
                &["v1.25.19", "v1.26.15", "v1.27.9", "v1.28.1", "v1.29.0"],
                &["1.24", "v1.25.18", "v1.26.14", "v1.27.8", "v1.28.0"],
            ),
            (
                "shared probe mode",
                |x| x.shared_probe_mode,
                &["v1.28.5", "1.28", "v1.29.0"],
                &["v1.28.4", "1.27", "v1.25.19"],
            ),
        ];
        for (name, flag, yes, no) in flag_edges {
            for s in yes {
                assert!(flag(&b(s)), "{name} should be on in {s}");
            }
            for s in no {
                assert!(!flag(&b(s)), "{name} should be off in {s}");
            }
        }
        for (s, field) in [
            ("v1.24.17", ThresholdField::NumberOfProbes),
            ("v1.24.18", ThresholdField::ProbeThreshold),
            ("v1.25.11", ThresholdField::NumberOfProbes),
            ("v1.25.12", ThresholdField::ProbeThreshold),
            ("v1.26.7", ThresholdField::NumberOfProbes),
            ("v1.26.8", ThresholdField::ProbeThreshold),
            ("v1.27.0", ThresholdField::ProbeThreshold),
            ("1.23", ThresholdField::NumberOfProbes),
        ] {
            assert_eq!(b(s).threshold_field, field, "{s}");
        }
    }
}
