//! Which probe outcomes each LB counts as success or failure, and the reason it would show.
//!
//! [`judge`] is pure and total: every outcome gets a verdict for every spec, including outcomes
//! a prober of that protocol never reports (a bare `Connected` from an HTTP prober is judged as
//! an answer that is not HTTP). The rules, by protocol:
//!
//! - transport failures (refused, reset, timeout, unreachable) fail every probe;
//! - TCP: the handshake completed (spec/azure-lb.md 1, spec/aws-elb.md 2, 3);
//! - SSL (CLB): the TLS handshake completed (spec/aws-elb.md 3);
//! - HTTP/HTTPS: the status is accepted. Azure and CLB accept 200 only; ALB its matcher (default
//!   `200`); NLB its matcher (default `200-399`). Redirects are never followed: a 3xx is a status;
//! - GRPC (ALB): the `grpc-status` is in the matcher (default `12`); an answer without one fails.
//!   Azure, NLB and CLB have no gRPC checks: there a GRPC spec is judged as HTTP on its status.
//!
//! Local outcomes (our host's problem) are [`Verdict::NotCounted`] for every LB.

pub mod reason;

use std::ops::RangeInclusive;

pub use reason::Reason;

use crate::lb::outcome::{LocalFailure, Outcome};
use crate::model::{LbKind, ProbeProtocol, ProbeSpec};

/// What the LB makes of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Success,
    /// A failed probe, with the reason the cloud would show.
    Failure {
        reason: Reason,
    },
    /// The probe failed on our side: the LB would not have seen this, so it counts for nothing.
    NotCounted {
        local: LocalFailure,
    },
}

impl Verdict {
    pub fn is_success(self) -> bool {
        self == Verdict::Success
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Failure { .. })
    }

    /// Whether the LB would have counted this probe at all.
    pub fn is_counted(self) -> bool {
        !matches!(self, Verdict::NotCounted { .. })
    }

    /// The failure's reason.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Verdict::Failure { reason } => Some(reason),
            _ => None,
        }
    }

    /// A stable short name for metrics labels: `success`, `failure`, `not_counted`.
    pub fn kind(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure { .. } => "failure",
            Verdict::NotCounted { .. } => "not_counted",
        }
    }
}

/// HTTP statuses an ALB accepts when its target group names no matcher (AWS default `200`).
pub const ALB_DEFAULT_HTTP_CODES: RangeInclusive<u16> = 200..=200;
/// HTTP statuses an NLB accepts when its target group names no matcher (AWS default `200-399`).
pub const NLB_DEFAULT_HTTP_CODES: RangeInclusive<u16> = 200..=399;
/// gRPC statuses an ALB GRPC target group accepts when it names no matcher (AWS default `12`).
pub const ALB_DEFAULT_GRPC_CODES: RangeInclusive<u32> = 12..=12;
/// The only HTTP status Azure Load Balancer and CLB accept.
pub const HTTP_OK: u16 = 200;

/// Whether `spec`'s load balancer would count `outcome` as a success, and if not, why.
pub fn judge(spec: &ProbeSpec, outcome: &Outcome) -> Verdict {
    let outcome = *outcome;
    if let Outcome::Local(local) = outcome {
        return Verdict::NotCounted { local };
    }
    // Azure and CLB accept 200 only and have no matcher to consult.
    let (protocol, default_http, matcher, name): (_, _, _, fn(Cause) -> Reason) = match spec.lb {
        LbKind::AzureLb | LbKind::Clb => (
            without_grpc(spec.protocol),
            HTTP_OK..=HTTP_OK,
            None,
            descriptive_reason,
        ),
        LbKind::Alb => (
            spec.protocol,
            ALB_DEFAULT_HTTP_CODES,
            spec.matcher.as_ref(),
            elbv2_reason,
        ),
        LbKind::Nlb => (
            without_grpc(spec.protocol),
            NLB_DEFAULT_HTTP_CODES,
            spec.matcher.as_ref(),
            elbv2_reason,
        ),
    };
    let http_ok = |s: u16| matcher.map_or(default_http.contains(&s), |m| m.matches(s));
    let grpc_ok = |c: u32| match matcher {
        Some(m) => u16::try_from(c).is_ok_and(|c| m.matches(c)),
        None => ALB_DEFAULT_GRPC_CODES.contains(&c),
    };
    match check(protocol, outcome, http_ok, grpc_ok) {
        Ok(()) => Verdict::Success,
        Err(cause) => Verdict::Failure {
            reason: name(cause),
        },
    }
}

/// Why a probe failed, before an LB names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Timeout,
    Unreachable,
    Refused,
    Reset,
    Closed,
    Tls,
    Malformed,
    HttpStatus(u16),
    GrpcStatus(u32),
}

/// LBs without gRPC checks send an HTTP request and judge its status.
fn without_grpc(protocol: ProbeProtocol) -> ProbeProtocol {
    match protocol {
        ProbeProtocol::Grpc => ProbeProtocol::Http,
        other => other,
    }
}

fn check(
    protocol: ProbeProtocol,
    outcome: Outcome,
    http_ok: impl Fn(u16) -> bool,
    grpc_ok: impl Fn(u32) -> bool,
) -> Result<(), Cause> {
    match outcome {
        Outcome::Refused => return Err(Cause::Refused),
        Outcome::Reset { .. } => return Err(Cause::Reset),
        Outcome::Timeout { .. } => return Err(Cause::Timeout),
        Outcome::Unreachable => return Err(Cause::Unreachable),
        _ => {}
    }
    let status = |ok: bool, cause: Cause| if ok { Ok(()) } else { Err(cause) };
    match protocol {
        ProbeProtocol::Tcp => status(outcome.connected(), Cause::Malformed),
        ProbeProtocol::Ssl => status(outcome.tls_established(), Cause::Tls),
        ProbeProtocol::Http | ProbeProtocol::Https => match outcome {
            Outcome::HttpStatus(s) | Outcome::GrpcStatus { http: s, .. } => {
                status(http_ok(s), Cause::HttpStatus(s))
            }
            other => Err(unanswered(other)),
        },
        ProbeProtocol::Grpc => match outcome {
            Outcome::GrpcStatus { code, .. } => status(grpc_ok(code), Cause::GrpcStatus(code)),
            // No grpc-status: the status that came instead is what did not match.
            Outcome::HttpStatus(s) => Err(Cause::HttpStatus(s)),
            other => Err(unanswered(other)),
        },
    }
}

/// The cause for an HTTP-like probe that ended without a status.
fn unanswered(outcome: Outcome) -> Cause {
    match outcome {
        Outcome::TlsFailed => Cause::Tls,
        Outcome::Closed => Cause::Closed,
        _ => Cause::Malformed,
    }
}

/// Azure and CLB show no reason per probe: name what the probe saw.
fn descriptive_reason(cause: Cause) -> Reason {
    match cause {
        Cause::Timeout => Reason::ProbeTimeout,
        Cause::Unreachable => Reason::HostUnreachable,
        Cause::Refused => Reason::ConnectionRefused,
        Cause::Reset => Reason::ConnectionReset,
        Cause::Closed => Reason::ConnectionClosed,
        Cause::Tls => Reason::TlsHandshakeFailed,
        Cause::Malformed => Reason::MalformedResponse,
        Cause::HttpStatus(s) => Reason::HttpStatus(s),
        Cause::GrpcStatus(c) => Reason::GrpcStatus(c),
    }
}

/// The reason codes of `describe-target-health` (spec/aws-elb.md section 1). An ICMP unreachable
/// is an error while establishing a connection, which AWS files under `Target.FailedHealthChecks`.
fn elbv2_reason(cause: Cause) -> Reason {
    match cause {
        Cause::Timeout => Reason::TargetTimeout,
        Cause::HttpStatus(s) => Reason::TargetResponseCodeMismatch(u32::from(s)),
        Cause::GrpcStatus(c) => Reason::TargetResponseCodeMismatch(c),
        Cause::Unreachable
        | Cause::Refused
        | Cause::Reset
        | Cause::Closed
        | Cause::Tls
        | Cause::Malformed => Reason::TargetFailedHealthChecks,
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
