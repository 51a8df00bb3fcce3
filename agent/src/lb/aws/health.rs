//! A health check as a controller configures it, turned into a [`ProbeSpec`], and the traps every
//! AWS load balancer shares.

use std::ops::RangeInclusive;

use super::values::{Findings, Found};
use crate::lb::matcher::Matcher;
use crate::model::{
    HttpVersion, LbKind, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails,
};

/// Health check interval AWS accepts on ALB, NLB and CLB.
pub(super) const INTERVAL_RANGE: RangeInclusive<u32> = 5..=300;
/// Health check timeout AWS accepts on ALB and NLB.
pub(super) const ELBV2_TIMEOUT_RANGE: RangeInclusive<u32> = 2..=120;
/// Health check timeout AWS accepts on a Classic LB.
pub(super) const CLB_TIMEOUT_RANGE: RangeInclusive<u32> = 2..=60;
/// Healthy and unhealthy thresholds AWS accepts on every kind.
pub(super) const THRESHOLD_RANGE: RangeInclusive<u32> = 2..=10;

/// The health check of one target group (or of a Classic LB).
#[derive(Clone, Debug)]
pub(super) struct Check {
    pub protocol: ProbeProtocol,
    pub port: ProbePort,
    pub path: Option<String>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Option<Matcher>,
}

impl Check {
    pub fn into_spec(
        self,
        lb: LbKind,
        target: TargetKind,
        http_version: HttpVersion,
        deregistration_delay_s: Option<u32>,
    ) -> ProbeSpec {
        let mut wire = WireDetails::for_lb(lb);
        wire.http_version = http_version;
        ProbeSpec {
            lb,
            protocol: self.protocol,
            port: self.port,
            path: self.path,
            interval_s: self.interval_s,
            timeout_s: self.timeout_s,
            healthy_threshold: self.healthy_threshold,
            unhealthy_threshold: self.unhealthy_threshold,
            matcher: self.matcher,
            target,
            wire,
            deregistration_delay_s,
        }
    }

    /// Warns when a timeout or interval the user chose leaves the timeout no shorter than the
    /// interval. Controller defaults are left alone: the LBC's NLB defaults are 10 s and 10 s
    /// on purpose, and AWS accepts them.
    pub fn warn_timeout_not_below_interval(
        &self,
        subject: &str,
        chosen: bool,
        findings: &mut Findings,
    ) {
        if chosen && self.timeout_s >= self.interval_s {
            findings.warn(format!(
                "{subject}: health check timeout {}s is not shorter than the interval {}s: the \
                 check of a slow target is still waiting when the next one starts, so checks \
                 overlap and each failure is counted a whole timeout after its check began",
                self.timeout_s, self.interval_s
            ));
        }
    }
}

/// Warns that a `healthcheck-path` annotation has no effect on a TCP (or SSL) health check.
pub(super) fn warn_path_ignored(
    path: Option<&Found<'_>>,
    protocol: ProbeProtocol,
    findings: &mut Findings,
) {
    if let Some(found) = path
        && !protocol.is_http_like()
    {
        findings.warn(found.invalid(format_args!(
            "is ignored: the health check protocol is {}, which sends no request",
            protocol.as_str().to_uppercase()
        )));
    }
}

/// A `healthcheck-path` annotation's value, with an error when AWS would refuse it.
pub(super) fn path(found: &Found<'_>, findings: &mut Findings) -> String {
    if !found.value.starts_with('/') {
        findings.error(found.invalid("does not start with '/': AWS refuses the health check path"));
    }
    found.value.to_owned()
}

/// Parses a success-code annotation (or the controller's default) for a matcher kind; an error
/// names the annotation when the codes are not what AWS accepts.
pub(super) fn matcher(
    found: Option<&Found<'_>>,
    default: &str,
    kind: crate::lb::matcher::MatcherKind,
    allowed: RangeInclusive<u16>,
    findings: &mut Findings,
) -> Option<Matcher> {
    let value = found.map_or(default, |f| f.value);
    match Matcher::parse(kind, value, allowed) {
        Ok(m) => Some(m),
        Err(e) => {
            match found {
                Some(f) => findings.error(f.says(e)),
                // The defaults are valid by construction; say so loudly if one is not.
                None => findings.error(format!("default success codes {default:?}: {e}")),
            }
            None
        }
    }
}
