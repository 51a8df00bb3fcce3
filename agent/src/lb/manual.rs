//! A probe spec given by hand (`probesim-agent probe --lb ...`): what is not given takes the
//! value the cloud's controller would use by default, so a hand-made probe behaves like a derived
//! one.

use crate::lb::azure::probe::{DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD, probe_timeout_s};
use crate::lb::matcher::{ALB_GRPC_RANGE, ALB_HTTP_RANGE, Matcher, MatcherKind, NLB_HTTP_RANGE};
use crate::model::{LbKind, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails};

/// Defaults of one LB for a hand-made probe, from spec/aws-elb.md section 4 (the controllers'
/// defaults) and spec/azure-lb.md section 3.
#[derive(Clone, Copy, Debug)]
struct Defaults {
    protocol: ProbeProtocol,
    interval_s: u32,
    timeout_s: u32,
    healthy: u32,
    unhealthy: u32,
}

fn defaults(lb: LbKind) -> Defaults {
    match lb {
        LbKind::AzureLb => Defaults {
            protocol: ProbeProtocol::Tcp,
            interval_s: DEFAULT_INTERVAL_S,
            timeout_s: DEFAULT_INTERVAL_S,
            healthy: DEFAULT_THRESHOLD,
            unhealthy: DEFAULT_THRESHOLD,
        },
        // The AWS Load Balancer Controller's Ingress defaults.
        LbKind::Alb => Defaults {
            protocol: ProbeProtocol::Http,
            interval_s: 15,
            timeout_s: 5,
            healthy: 2,
            unhealthy: 2,
        },
        // The AWS Load Balancer Controller's Service defaults.
        LbKind::Nlb => Defaults {
            protocol: ProbeProtocol::Tcp,
            interval_s: 10,
            timeout_s: 10,
            healthy: 3,
            unhealthy: 3,
        },
        // The legacy provider's Classic LB defaults.
        LbKind::Clb => Defaults {
            protocol: ProbeProtocol::Tcp,
            interval_s: 10,
            timeout_s: 5,
            healthy: 2,
            unhealthy: 6,
        },
    }
}

/// What a user gave; `None` takes the LB's default.
#[derive(Clone, Debug, Default)]
pub struct ManualProbe {
    pub protocol: Option<ProbeProtocol>,
    pub port: u16,
    pub path: Option<String>,
    pub interval_s: Option<u32>,
    pub timeout_s: Option<u32>,
    /// Azure's single `probeThreshold`; for AWS it sets both thresholds unless they are given.
    pub threshold: Option<u32>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub matcher: Option<String>,
    pub target: Option<TargetKind>,
}

/// The spec of a hand-made probe, or an error naming the flag and value that do not fit.
pub fn spec(lb: LbKind, given: &ManualProbe) -> Result<ProbeSpec, String> {
    let d = defaults(lb);
    let protocol = given.protocol.unwrap_or(d.protocol);
    let allowed = match (lb, protocol) {
        (LbKind::AzureLb, ProbeProtocol::Tcp | ProbeProtocol::Http | ProbeProtocol::Https) => true,
        (LbKind::Alb, ProbeProtocol::Http | ProbeProtocol::Https | ProbeProtocol::Grpc) => true,
        (LbKind::Nlb, ProbeProtocol::Tcp | ProbeProtocol::Http | ProbeProtocol::Https) => true,
        (LbKind::Clb, p) => p != ProbeProtocol::Grpc,
        _ => false,
    };
    if !allowed {
        return Err(format!(
            "--protocol {protocol}: {lb} has no {protocol} health checks"
        ));
    }
    let positive = |flag: &str, v: Option<u32>, default: u32| match v {
        Some(0) => Err(format!("--{flag} 0: must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let interval_s = positive("interval", given.interval_s, d.interval_s)?;
    let default_timeout = match lb {
        LbKind::AzureLb => probe_timeout_s(protocol, interval_s),
        _ => d.timeout_s,
    };
    let timeout_s = positive("timeout", given.timeout_s, default_timeout)?;
    let threshold = given.threshold;
    let healthy_threshold = positive(
        "healthy-threshold",
        given.healthy_threshold.or(threshold),
        d.healthy,
    )?;
    let unhealthy_threshold = positive(
        "unhealthy-threshold",
        given.unhealthy_threshold.or(threshold),
        d.unhealthy,
    )?;
    let path = protocol.is_http_like().then(|| {
        given.path.clone().unwrap_or_else(|| match protocol {
            ProbeProtocol::Grpc => "/AWS.ALB/healthcheck".to_owned(),
            _ => "/".to_owned(),
        })
    });
    let matcher = matcher(lb, protocol, given.matcher.as_deref())?;
    let target = given.target.unwrap_or(match lb {
        LbKind::AzureLb | LbKind::Clb => TargetKind::Node,
        LbKind::Alb | LbKind::Nlb => TargetKind::Pod,
    });
    Ok(ProbeSpec {
        lb,
        protocol,
        port: ProbePort::Number(given.port),
        path,
        interval_s,
        timeout_s,
        healthy_threshold,
        unhealthy_threshold,
        matcher,
        target,
        wire: WireDetails::for_lb(lb),
        deregistration_delay_s: None,
    })
}

fn matcher(
    lb: LbKind,
    protocol: ProbeProtocol,
    given: Option<&str>,
) -> Result<Option<Matcher>, String> {
    let (kind, range, default) = match (lb, protocol) {
        (LbKind::Alb, ProbeProtocol::Grpc) => (MatcherKind::Grpc, ALB_GRPC_RANGE, "12"),
        (LbKind::Alb, ProbeProtocol::Http | ProbeProtocol::Https) => {
            (MatcherKind::Http, ALB_HTTP_RANGE, "200")
        }
        (LbKind::Nlb, ProbeProtocol::Http | ProbeProtocol::Https) => {
            (MatcherKind::Http, NLB_HTTP_RANGE, "200-399")
        }
        _ => {
            return match given {
                Some(m) => Err(format!(
                    "--matcher {m:?}: {lb} {protocol} health checks take no matcher"
                )),
                None => Ok(None),
            };
        }
    };
    Matcher::parse(kind, given.unwrap_or(default), range)
        .map(Some)
        .map_err(|e| format!("--matcher: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(port: u16) -> ManualProbe {
        ManualProbe {
            port,
            ..ManualProbe::default()
        }
    }

    #[test]
    fn unspecified_values_take_each_lbs_controller_defaults() {
        let azure = spec(
            LbKind::AzureLb,
            &ManualProbe {
                protocol: Some(ProbeProtocol::Http),
                ..given(32271)
            },
        )
        .expect("azure");
        assert_eq!(
            (azure.interval_s, azure.timeout_s, azure.unhealthy_threshold),
            (5, 5, 2)
        );
        assert_eq!(azure.path.as_deref(), Some("/"));
        assert_eq!(azure.target, TargetKind::Node);
        let alb = spec(LbKind::Alb, &given(8080)).expect("alb");
        assert_eq!(
            (alb.protocol, alb.interval_s, alb.timeout_s),
            (ProbeProtocol::Http, 15, 5)
        );
        assert_eq!(alb.matcher.map(|m| m.to_string()).as_deref(), Some("200"));
        let grpc = spec(
            LbKind::Alb,
            &ManualProbe {
                protocol: Some(ProbeProtocol::Grpc),
                ..given(25021)
            },
        )
        .expect("grpc");
        assert_eq!(grpc.path.as_deref(), Some("/AWS.ALB/healthcheck"));
        assert_eq!(grpc.matcher.map(|m| m.to_string()).as_deref(), Some("12"));
        let nlb = spec(LbKind::Nlb, &given(30080)).expect("nlb");
        assert_eq!(
            (
                nlb.interval_s,
                nlb.timeout_s,
                nlb.healthy_threshold,
                nlb.unhealthy_threshold
            ),
            (10, 10, 3, 3)
        );
        assert!(nlb.matcher.is_none() && nlb.path.is_none());
        let clb = spec(LbKind::Clb, &given(30080)).expect("clb");
        assert_eq!((clb.healthy_threshold, clb.unhealthy_threshold), (2, 6));
    }

    #[test]
    fn azure_http_timeout_is_capped_at_thirty_seconds() {
        let s = spec(
            LbKind::AzureLb,
            &ManualProbe {
                protocol: Some(ProbeProtocol::Http),
                interval_s: Some(60),
                ..given(80)
            },
        )
        .expect("spec");
        assert_eq!(s.timeout_s, 30);
    }

    #[test]
    fn impossible_combinations_name_the_flag() {
        let err = spec(
            LbKind::AzureLb,
            &ManualProbe {
                protocol: Some(ProbeProtocol::Grpc),
                ..given(80)
            },
        )
        .expect_err("grpc on azure");
        assert!(err.starts_with("--protocol grpc"), "{err}");
        let err = spec(
            LbKind::Alb,
            &ManualProbe {
                matcher: Some("600".into()),
                ..given(80)
            },
        )
        .expect_err("matcher");
        assert!(err.contains("--matcher") && err.contains("600"), "{err}");
        let err = spec(
            LbKind::AzureLb,
            &ManualProbe {
                matcher: Some("200".into()),
                ..given(80)
            },
        )
        .expect_err("azure matcher");
        assert!(err.contains("take no matcher"), "{err}");
        let err = spec(
            LbKind::Clb,
            &ManualProbe {
                interval_s: Some(0),
                ..given(80)
            },
        )
        .expect_err("zero");
        assert!(err.starts_with("--interval 0"), "{err}");
    }
}
