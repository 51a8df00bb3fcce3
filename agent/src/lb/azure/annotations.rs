//! The Service annotations cloud-provider-azure reads for LB rules and health probes
//! (spec/azure-lb.md section 3), and the way it reads them.

use crate::lb::annotations::Annotations;

/// Makes the LB internal (`"true"`); with [`HA_PORTS`] it gets one rule for all ports.
pub const INTERNAL: &str = "service.beta.kubernetes.io/azure-load-balancer-internal";
/// One rule for every port of an internal Standard LB (`"true"`).
pub const HA_PORTS: &str =
    "service.beta.kubernetes.io/azure-load-balancer-enable-high-availability-ports";
/// Probe protocol of every port: `Tcp`, `Http` or `Https`.
pub const PROBE_PROTOCOL: &str =
    "service.beta.kubernetes.io/azure-load-balancer-health-probe-protocol";
/// Request path of every Http/Https probe.
pub const PROBE_REQUEST_PATH: &str =
    "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path";
/// Probe interval in seconds of every port.
pub const PROBE_INTERVAL: &str =
    "service.beta.kubernetes.io/azure-load-balancer-health-probe-interval";
/// Probe threshold of every port.
pub const PROBE_NUM_OF_PROBE: &str =
    "service.beta.kubernetes.io/azure-load-balancer-health-probe-num-of-probe";

/// A health-probe setting of one port: `service.beta.kubernetes.io/port_N_health-probe_<param>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeParam {
    Protocol,
    Port,
    RequestPath,
    Interval,
    NumOfProbe,
}

impl ProbeParam {
    /// The parameter's name, as cloud-provider-azure spells it in keys and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeParam::Protocol => "protocol",
            ProbeParam::Port => "port",
            ProbeParam::RequestPath => "request-path",
            ProbeParam::Interval => "interval",
            ProbeParam::NumOfProbe => "num-of-probe",
        }
    }
}

/// A switch of one port: `service.beta.kubernetes.io/port_N_<flag>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortFlag {
    /// `"true"`: the port gets neither a rule nor a probe.
    NoLbRule,
    /// `"true"`: the port gets a rule without a probe.
    NoProbeRule,
}

impl PortFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            PortFlag::NoLbRule => "no_lb_rule",
            PortFlag::NoProbeRule => "no_probe_rule",
        }
    }
}

/// The key of a health-probe setting of the Service port `port` (`spec.ports[].port`).
pub fn port_probe_key(port: i32, param: ProbeParam) -> String {
    format!(
        "service.beta.kubernetes.io/port_{port}_health-probe_{}",
        param.as_str()
    )
}

/// The key of a switch of the Service port `port`.
pub fn port_flag_key(port: i32, flag: PortFlag) -> String {
    format!("service.beta.kubernetes.io/port_{port}_{}", flag.as_str())
}

/// Whether `key` is `"true"`; cloud-provider-azure compares case-insensitively
/// (`strings.EqualFold`), so `"True"` counts too.
pub fn is_true(ann: &Annotations<'_>, key: &str) -> bool {
    ann.get(key).is_some_and(|v| equal_fold(v, "true"))
}

/// Go's `strings.EqualFold`, close enough for what cloud-provider-azure compares (annotation values
/// against `true`, `tcp`, `http`, `https`, and port names): ASCII case folding, the two non-ASCII
/// characters whose simple case folding lands on ASCII letters (U+017F LONG S -> `s`, U+212A KELVIN
/// SIGN -> `k`), and single-character lowercase mappings elsewhere.
pub fn equal_fold(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            }
        }
    }
    a.chars().map(fold).eq(b.chars().map(fold))
}

/// Parses a number the way cloud-provider-azure reads interval and num-of-probe annotations:
/// surrounding white space trimmed, then Go's `strconv.ParseInt(v, 10, 32)` (a sign is allowed).
/// The error names the key and the value.
pub fn parse_int32(key: &str, value: &str) -> Result<i32, String> {
    let v = value.trim();
    parse_go_int::<i32>(v).map_err(|why| {
        format!("failed to parse annotation {key}: error value: parsing {v:?}: {why}: {v} value must be a whole number")
    })
}

/// Go's `strconv.ParseInt` syntax: an optional sign, then ASCII digits only.
pub(crate) fn parse_go_int<T: std::str::FromStr>(v: &str) -> Result<T, &'static str> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    v.parse::<T>().map_err(|_| "value out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_port_keys_are_spelled_like_cloud_provider_azure_spells_them() {
        assert_eq!(
            port_probe_key(80, ProbeParam::RequestPath),
            "service.beta.kubernetes.io/port_80_health-probe_request-path"
        );
        assert_eq!(
            port_probe_key(443, ProbeParam::NumOfProbe),
            "service.beta.kubernetes.io/port_443_health-probe_num-of-probe"
        );
        assert_eq!(
            port_flag_key(53, PortFlag::NoLbRule),
            "service.beta.kubernetes.io/port_53_no_lb_rule"
        );
        assert_eq!(
            port_flag_key(53, PortFlag::NoProbeRule),
            "service.beta.kubernetes.io/port_53_no_probe_rule"
        );
    }

    #[test]
    fn equal_fold_matches_go_for_the_compared_words() {
        for (value, word, expected) in [
            ("TRUE", "true", true),
            ("True", "true", true),
            ("true ", "true", false),
            ("HttPs", "https", true),
            ("http\u{17F}", "https", true),
            ("http", "https", false),
            ("https", "http", false),
            ("", "tcp", false),
            ("tcp\u{0}", "tcp", false),
            ("\u{212A}ube", "kube", true),
            ("Ümlaut", "ümlaut", true),
        ] {
            assert_eq!(equal_fold(value, word), expected, "{value:?} vs {word:?}");
        }
    }

    #[test]
    fn numbers_parse_like_go_parse_int_after_trimming() {
        let key = PROBE_INTERVAL;
        assert_eq!(parse_int32(key, " 15\t"), Ok(15));
        assert_eq!(parse_int32(key, "+7"), Ok(7));
        assert_eq!(parse_int32(key, "-3"), Ok(-3));
        for bad in ["", "5s", "1e1", "0x10", "2147483648", "- 3", "++3"] {
            let err = parse_int32(key, bad).unwrap_err();
            assert!(err.contains(key), "{err}");
            assert!(err.contains("whole number"), "{err}");
        }
        assert!(
            parse_int32(key, "2147483648")
                .unwrap_err()
                .contains("out of range")
        );
    }
}
