//! The reason codes a load balancer shows for a target's state or for a failed probe.
//!
//! ALB and NLB codes are AWS's own (`Target.Timeout`, ...), with AWS's descriptions. CLB shows a
//! description per state ("Instance registration is still in progress.") but only the coarse
//! reason code `ELB`/`Instance`, so its codes here are probesim's names for AWS's descriptions.
//! Azure Load Balancer publishes no reason per probe or per backend; its codes here
//! (`ProbeTimeout`, `ConnectionRefused`, `ConnectionReset`, `HttpStatus`, ...) are probesim's
//! descriptive names for what the probe saw, shared with CLB probe failures.

use std::fmt;

/// Why a probe failed or why a target is in its state, as the cloud would show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    // Failed probes of Azure and CLB, named after what the probe saw.
    /// No answer within the probe timeout (Azure: the only failure that counts towards the
    /// threshold of HTTP(S) probes).
    ProbeTimeout,
    /// An ICMP unreachable for the target: to the LB, the same silence as a timeout.
    HostUnreachable,
    /// TCP RST in answer to the SYN.
    ConnectionRefused,
    /// TCP RST on a connection that was up.
    ConnectionReset,
    /// The target closed the connection before a complete response.
    ConnectionClosed,
    TlsHandshakeFailed,
    /// The answer was not HTTP.
    MalformedResponse,
    /// An HTTP status other than 200 (Azure and CLB accept 200 only).
    HttpStatus(u16),
    /// A gRPC status, where an LB judges gRPC without a matcher.
    GrpcStatus(u32),

    /// Azure: a backend starts down until its first successful probe.
    AwaitingFirstSuccess,

    // ALB and NLB target health, exactly as `describe-target-health` returns it.
    ElbRegistrationInProgress,
    ElbInitialHealthChecking,
    /// The status (HTTP, or gRPC for GRPC target groups) was not in the matcher.
    TargetResponseCodeMismatch(u32),
    TargetTimeout,
    /// Connection refused or reset, TLS failure, or a malformed response.
    TargetFailedHealthChecks,
    TargetDeregistrationInProgress,
    TargetNotRegistered,
    TargetHealthCheckDisabled,

    // CLB instance health (`describe-instance-health` descriptions).
    InstanceRegistrationInProgress,
    InstanceFailedHealthChecks,
    InstanceDeregistrationInProgress,
    InstanceNotRegistered,
}

impl Reason {
    /// Every value of [`Reason::code`], for metrics that register their label values up front.
    pub const CODES: [&'static str; 22] = [
        "ProbeTimeout",
        "HostUnreachable",
        "ConnectionRefused",
        "ConnectionReset",
        "ConnectionClosed",
        "TlsHandshakeFailed",
        "MalformedResponse",
        "HttpStatus",
        "GrpcStatus",
        "AwaitingFirstSuccess",
        "Elb.RegistrationInProgress",
        "Elb.InitialHealthChecking",
        "Target.ResponseCodeMismatch",
        "Target.Timeout",
        "Target.FailedHealthChecks",
        "Target.DeregistrationInProgress",
        "Target.NotRegistered",
        "Target.HealthCheckDisabled",
        "InstanceRegistrationInProgress",
        "InstanceFailedHealthChecks",
        "InstanceDeregistrationInProgress",
        "InstanceNotRegistered",
    ];

    /// The stable code: AWS's own for ALB and NLB, probesim's for Azure and CLB.
    pub fn code(self) -> &'static str {
        match self {
            Reason::ProbeTimeout => "ProbeTimeout",
            Reason::HostUnreachable => "HostUnreachable",
            Reason::ConnectionRefused => "ConnectionRefused",
            Reason::ConnectionReset => "ConnectionReset",
            Reason::ConnectionClosed => "ConnectionClosed",
            Reason::TlsHandshakeFailed => "TlsHandshakeFailed",
            Reason::MalformedResponse => "MalformedResponse",
            Reason::HttpStatus(_) => "HttpStatus",
            Reason::GrpcStatus(_) => "GrpcStatus",
            Reason::AwaitingFirstSuccess => "AwaitingFirstSuccess",
            Reason::ElbRegistrationInProgress => "Elb.RegistrationInProgress",
            Reason::ElbInitialHealthChecking => "Elb.InitialHealthChecking",
            Reason::TargetResponseCodeMismatch(_) => "Target.ResponseCodeMismatch",
            Reason::TargetTimeout => "Target.Timeout",
            Reason::TargetFailedHealthChecks => "Target.FailedHealthChecks",
            Reason::TargetDeregistrationInProgress => "Target.DeregistrationInProgress",
            Reason::TargetNotRegistered => "Target.NotRegistered",
            Reason::TargetHealthCheckDisabled => "Target.HealthCheckDisabled",
            Reason::InstanceRegistrationInProgress => "InstanceRegistrationInProgress",
            Reason::InstanceFailedHealthChecks => "InstanceFailedHealthChecks",
            Reason::InstanceDeregistrationInProgress => "InstanceDeregistrationInProgress",
            Reason::InstanceNotRegistered => "InstanceNotRegistered",
        }
    }

    /// The status code a reason carries (HTTP status, or gRPC status).
    pub fn status(self) -> Option<u32> {
        match self {
            Reason::HttpStatus(s) => Some(u32::from(s)),
            Reason::GrpcStatus(c) | Reason::TargetResponseCodeMismatch(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the target gave no answer at all: a timeout, or an ICMP unreachable that leaves
    /// the LB just as unanswered. Azure counts only these towards the threshold of HTTP(S)
    /// probes; every other failure of an HTTP(S) probe decides at once.
    pub fn is_no_answer(self) -> bool {
        matches!(
            self,
            Reason::ProbeTimeout | Reason::HostUnreachable | Reason::TargetTimeout
        )
    }
}

/// The description the cloud shows (AWS's wording for ALB, NLB and CLB).
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Reason::ProbeTimeout => "no answer within the probe timeout",
            Reason::HostUnreachable => "the target's host is unreachable",
            Reason::ConnectionRefused => "connection refused",
            Reason::ConnectionReset => "connection reset by the target",
            Reason::ConnectionClosed => "connection closed before a response",
            Reason::TlsHandshakeFailed => "TLS handshake failed",
            Reason::MalformedResponse => "the response was not HTTP",
            Reason::HttpStatus(status) => return write!(f, "HTTP status {status}, not 200"),
            Reason::GrpcStatus(code) => return write!(f, "gRPC status {code}"),
            Reason::AwaitingFirstSuccess => "no successful probe yet",
            Reason::ElbRegistrationInProgress => "Target registration is in progress",
            Reason::ElbInitialHealthChecking => "Initial health checks in progress",
            Reason::TargetResponseCodeMismatch(code) => {
                return write!(f, "Health checks failed with these codes: [{code}]");
            }
            Reason::TargetTimeout => "Request timed out",
            Reason::TargetFailedHealthChecks => "Health checks failed",
            Reason::TargetDeregistrationInProgress => "Target deregistration is in progress",
            Reason::TargetNotRegistered => "Target is not registered to the target group",
            Reason::TargetHealthCheckDisabled => "Health checks are disabled",
            Reason::InstanceRegistrationInProgress => "Instance registration is still in progress.",
            Reason::InstanceFailedHealthChecks => {
                "Instance has failed at least the UnhealthyThreshold number of health checks \
                 consecutively."
            }
            Reason::InstanceDeregistrationInProgress => {
                "Instance deregistration currently in progress."
            }
            Reason::InstanceNotRegistered => {
                "Instance is not currently registered with the LoadBalancer."
            }
        };
        f.write_str(text)
    }
}
