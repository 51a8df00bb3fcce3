//! The agent's enums and their wire values, one table per enum.

use crate::event::{Hop, SourceMode};
use crate::lb::health::LbState;
use crate::lb::matcher::MatcherKind;
use crate::lb::outcome::{LocalFailure, Outcome, Phase};
use crate::lb::verdict::Reason;
use crate::model::{CloseMode, Cloud, HttpVersion, LbKind, ProbeProtocol, TargetKind, TlsVersion};

use super::error::{Error, Result};
use probesim_proto::v1;

/// One table, two directions: `to_wire` is total, `from_wire` rejects unknown and unspecified
/// values, naming the field.
macro_rules! wire_enum {
    ($to:ident, $from:ident, $agent:ty, $wire:ty, $name:literal, { $($a:path => $w:ident),+ $(,)? }) => {
        pub fn $to(value: $agent) -> i32 {
            match value {
                $($a => <$wire>::$w as i32,)+
            }
        }

        pub fn $from(value: i32, field: impl FnOnce() -> String) -> Result<$agent> {
            match <$wire>::try_from(value) {
                $(Ok(<$wire>::$w) => Ok($a),)+
                _ => Err(Error::UnknownEnum { field: field(), kind: $name, value }),
            }
        }
    };
}

wire_enum!(cloud_to_wire, cloud_from_wire, Cloud, v1::Cloud, "probesim.v1.Cloud", {
    Cloud::Azure => Azure,
    Cloud::Aws => Aws,
});

wire_enum!(lb_to_wire, lb_from_wire, LbKind, v1::LbKind, "probesim.v1.LbKind", {
    LbKind::AzureLb => AzureLb,
    LbKind::Alb => Alb,
    LbKind::Nlb => Nlb,
    LbKind::Clb => Clb,
});

wire_enum!(protocol_to_wire, protocol_from_wire, ProbeProtocol, v1::ProbeProtocol,
    "probesim.v1.ProbeProtocol", {
    ProbeProtocol::Tcp => Tcp,
    ProbeProtocol::Http => Http,
    ProbeProtocol::Https => Https,
    ProbeProtocol::Grpc => Grpc,
    ProbeProtocol::Ssl => Ssl,
});

wire_enum!(target_kind_to_wire, target_kind_from_wire, TargetKind, v1::TargetKind,
    "probesim.v1.TargetKind", {
    TargetKind::Node => Node,
    TargetKind::Pod => Pod,
});

wire_enum!(hop_to_wire, hop_from_wire, Hop, v1::Hop, "probesim.v1.Hop", {
    Hop::Lb => Lb,
    Hop::Pod => Pod,
    Hop::ClusterIp => ClusterIp,
    Hop::NodePort => NodePort,
});

wire_enum!(source_to_wire, source_from_wire, SourceMode, v1::SourceMode,
    "probesim.v1.SourceMode", {
    SourceMode::Node => Node,
    SourceMode::LbSource => LbSource,
    SourceMode::Syn => Syn,
    SourceMode::Observed => Observed,
});

wire_enum!(matcher_kind_to_wire, matcher_kind_from_wire, MatcherKind, v1::MatcherKind,
    "probesim.v1.MatcherKind", {
    MatcherKind::Http => Http,
    MatcherKind::Grpc => Grpc,
});

wire_enum!(http_version_to_wire, http_version_from_wire, HttpVersion, v1::HttpVersion,
    "probesim.v1.HttpVersion", {
    HttpVersion::Http1 => Http1,
    HttpVersion::Http2 => Http2,
});

wire_enum!(close_to_wire, close_from_wire, CloseMode, v1::CloseMode,
    "probesim.v1.CloseMode", {
    CloseMode::Fin => Fin,
    CloseMode::Rst => Rst,
});

wire_enum!(tls_to_wire, tls_from_wire, TlsVersion, v1::TlsVersion,
    "probesim.v1.TlsVersion", {
    TlsVersion::Tls12 => Tls12,
    TlsVersion::Tls13 => Tls13,
});

wire_enum!(state_to_wire, state_from_wire, LbState, v1::LbState, "probesim.v1.LbState", {
    LbState::Down => Down,
    LbState::Up => Up,
    LbState::Initial => Initial,
    LbState::Healthy => Healthy,
    LbState::Unhealthy => Unhealthy,
    LbState::Draining => Draining,
    LbState::Unused => Unused,
    LbState::Unavailable => Unavailable,
    LbState::InService => InService,
    LbState::OutOfService => OutOfService,
});

wire_enum!(lifecycle_kind_to_wire, lifecycle_kind_from_wire, crate::event::LifecycleKind,
    v1::LifecycleKind, "probesim.v1.LifecycleKind", {
    crate::event::LifecycleKind::PodCreated => PodCreated,
    crate::event::LifecycleKind::PodScheduled => PodScheduled,
    crate::event::LifecycleKind::ContainersReady => ContainersReady,
    crate::event::LifecycleKind::PodReady => PodReady,
    crate::event::LifecycleKind::PodNotReady => PodNotReady,
    crate::event::LifecycleKind::ReadinessGate => ReadinessGate,
    crate::event::LifecycleKind::PodTerminating => PodTerminating,
    crate::event::LifecycleKind::PodDeleted => PodDeleted,
    crate::event::LifecycleKind::EndpointConditions => EndpointConditions,
    crate::event::LifecycleKind::EndpointRemoved => EndpointRemoved,
    crate::event::LifecycleKind::ServiceEndpoints => ServiceEndpoints,
    crate::event::LifecycleKind::NodeCordoned => NodeCordoned,
    crate::event::LifecycleKind::NodeUncordoned => NodeUncordoned,
    crate::event::LifecycleKind::NodeTainted => NodeTainted,
    crate::event::LifecycleKind::NodeUntainted => NodeUntainted,
    crate::event::LifecycleKind::NodeDeleted => NodeDeleted,
    crate::event::LifecycleKind::SpecChanged => SpecChanged,
    crate::event::LifecycleKind::NodeProxyFailed => NodeProxyFailed,
    crate::event::LifecycleKind::NodeProxyRestored => NodeProxyRestored,
});

/// An outcome's wire value; its HTTP status and grpc-status travel in sparse columns.
pub fn outcome_to_wire(outcome: Outcome) -> v1::Outcome {
    use v1::Outcome as W;
    match outcome {
        Outcome::Connected => W::Connected,
        Outcome::TlsEstablished => W::TlsEstablished,
        Outcome::Refused => W::Refused,
        Outcome::Reset { phase } => match phase {
            Phase::Connect => W::ResetConnect,
            Phase::Tls => W::ResetTls,
            Phase::Response => W::ResetResponse,
        },
        Outcome::Closed => W::Closed,
        Outcome::Timeout { phase } => match phase {
            Phase::Connect => W::TimeoutConnect,
            Phase::Tls => W::TimeoutTls,
            Phase::Response => W::TimeoutResponse,
        },
        Outcome::Unreachable => W::Unreachable,
        Outcome::HttpStatus(_) => W::HttpStatus,
        Outcome::TlsFailed => W::TlsFailed,
        Outcome::Malformed => W::Malformed,
        Outcome::GrpcStatus { .. } => W::GrpcStatus,
        Outcome::Local(local) => match local {
            LocalFailure::EphemeralPortsExhausted => W::LocalPortsExhausted,
            LocalFailure::ProcessFdLimit => W::LocalProcessFdLimit,
            LocalFailure::SystemFdLimit => W::LocalSystemFdLimit,
            LocalFailure::NoRoute => W::LocalNoRoute,
            LocalFailure::Cancelled => W::LocalCancelled,
            LocalFailure::Other => W::LocalOther,
        },
    }
}

/// What an outcome's wire value says before its statuses are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireOutcome {
    Done(Outcome),
    /// Needs the HTTP status.
    Http,
    /// Needs the HTTP status and the grpc-status.
    Grpc,
}

pub fn outcome_from_wire(value: i32, field: impl FnOnce() -> String) -> Result<WireOutcome> {
    use WireOutcome::Done;
    use v1::Outcome as W;
    let wire = W::try_from(value).ok();
    Ok(match wire {
        Some(W::Connected) => Done(Outcome::Connected),
        Some(W::TlsEstablished) => Done(Outcome::TlsEstablished),
        Some(W::Refused) => Done(Outcome::Refused),
        Some(W::ResetConnect) => Done(Outcome::Reset {
            phase: Phase::Connect,
        }),
        Some(W::ResetTls) => Done(Outcome::Reset { phase: Phase::Tls }),
        Some(W::ResetResponse) => Done(Outcome::Reset {
            phase: Phase::Response,
        }),
        Some(W::Closed) => Done(Outcome::Closed),
        Some(W::TimeoutConnect) => Done(Outcome::Timeout {
            phase: Phase::Connect,
        }),
        Some(W::TimeoutTls) => Done(Outcome::Timeout { phase: Phase::Tls }),
        Some(W::TimeoutResponse) => Done(Outcome::Timeout {
            phase: Phase::Response,
        }),
        Some(W::Unreachable) => Done(Outcome::Unreachable),
        Some(W::HttpStatus) => WireOutcome::Http,
        Some(W::TlsFailed) => Done(Outcome::TlsFailed),
        Some(W::Malformed) => Done(Outcome::Malformed),
        Some(W::GrpcStatus) => WireOutcome::Grpc,
        Some(W::LocalPortsExhausted) => Done(Outcome::Local(LocalFailure::EphemeralPortsExhausted)),
        Some(W::LocalProcessFdLimit) => Done(Outcome::Local(LocalFailure::ProcessFdLimit)),
        Some(W::LocalSystemFdLimit) => Done(Outcome::Local(LocalFailure::SystemFdLimit)),
        Some(W::LocalNoRoute) => Done(Outcome::Local(LocalFailure::NoRoute)),
        Some(W::LocalCancelled) => Done(Outcome::Local(LocalFailure::Cancelled)),
        Some(W::LocalOther) => Done(Outcome::Local(LocalFailure::Other)),
        Some(W::Unspecified) | None => {
            return Err(Error::UnknownEnum {
                field: field(),
                kind: "probesim.v1.Outcome",
                value,
            });
        }
    })
}

/// A reason's wire value and the status it carries, if any.
pub fn reason_to_wire(reason: Reason) -> (v1::Reason, Option<u32>) {
    use v1::Reason as W;
    let wire = match reason {
        Reason::ProbeTimeout => W::ProbeTimeout,
        Reason::HostUnreachable => W::HostUnreachable,
        Reason::ConnectionRefused => W::ConnectionRefused,
        Reason::ConnectionReset => W::ConnectionReset,
        Reason::ConnectionClosed => W::ConnectionClosed,
        Reason::TlsHandshakeFailed => W::TlsHandshakeFailed,
        Reason::MalformedResponse => W::MalformedResponse,
        Reason::HttpStatus(_) => W::HttpStatus,
        Reason::GrpcStatus(_) => W::GrpcStatus,
        Reason::AwaitingFirstSuccess => W::AwaitingFirstSuccess,
        Reason::ElbRegistrationInProgress => W::ElbRegistrationInProgress,
        Reason::ElbInitialHealthChecking => W::ElbInitialHealthChecking,
        Reason::TargetResponseCodeMismatch(_) => W::TargetResponseCodeMismatch,
        Reason::TargetTimeout => W::TargetTimeout,
        Reason::TargetFailedHealthChecks => W::TargetFailedHealthChecks,
        Reason::TargetDeregistrationInProgress => W::TargetDeregistrationInProgress,
        Reason::TargetNotRegistered => W::TargetNotRegistered,
        Reason::TargetHealthCheckDisabled => W::TargetHealthCheckDisabled,
        Reason::InstanceRegistrationInProgress => W::InstanceRegistrationInProgress,
        Reason::InstanceFailedHealthChecks => W::InstanceFailedHealthChecks,
        Reason::InstanceDeregistrationInProgress => W::InstanceDeregistrationInProgress,
        Reason::InstanceNotRegistered => W::InstanceNotRegistered,
    };
    (wire, reason.status())
}

/// Whether a reason's wire value carries a status.
pub fn reason_has_status(wire: i32) -> bool {
    matches!(
        v1::Reason::try_from(wire),
        Ok(v1::Reason::HttpStatus
            | v1::Reason::GrpcStatus
            | v1::Reason::TargetResponseCodeMismatch)
    )
}

/// The reason of a wire value; `status` is called for the reasons that carry one.
pub fn reason_from_wire(
    value: i32,
    field: impl Fn() -> String,
    status: impl FnOnce() -> Result<u32>,
) -> Result<Reason> {
    use v1::Reason as W;
    Ok(match W::try_from(value).ok() {
        Some(W::ProbeTimeout) => Reason::ProbeTimeout,
        Some(W::HostUnreachable) => Reason::HostUnreachable,
        Some(W::ConnectionRefused) => Reason::ConnectionRefused,
        Some(W::ConnectionReset) => Reason::ConnectionReset,
        Some(W::ConnectionClosed) => Reason::ConnectionClosed,
        Some(W::TlsHandshakeFailed) => Reason::TlsHandshakeFailed,
        Some(W::MalformedResponse) => Reason::MalformedResponse,
        Some(W::HttpStatus) => {
            let s = status()?;
            Reason::HttpStatus(u16::try_from(s).map_err(|_| {
                Error::invalid(format!("{} status", field()), s, "not an HTTP status")
            })?)
        }
        Some(W::GrpcStatus) => Reason::GrpcStatus(status()?),
        Some(W::AwaitingFirstSuccess) => Reason::AwaitingFirstSuccess,
        Some(W::ElbRegistrationInProgress) => Reason::ElbRegistrationInProgress,
        Some(W::ElbInitialHealthChecking) => Reason::ElbInitialHealthChecking,
        Some(W::TargetResponseCodeMismatch) => Reason::TargetResponseCodeMismatch(status()?),
        Some(W::TargetTimeout) => Reason::TargetTimeout,
        Some(W::TargetFailedHealthChecks) => Reason::TargetFailedHealthChecks,
        Some(W::TargetDeregistrationInProgress) => Reason::TargetDeregistrationInProgress,
        Some(W::TargetNotRegistered) => Reason::TargetNotRegistered,
        Some(W::TargetHealthCheckDisabled) => Reason::TargetHealthCheckDisabled,
        Some(W::InstanceRegistrationInProgress) => Reason::InstanceRegistrationInProgress,
        Some(W::InstanceFailedHealthChecks) => Reason::InstanceFailedHealthChecks,
        Some(W::InstanceDeregistrationInProgress) => Reason::InstanceDeregistrationInProgress,
        Some(W::InstanceNotRegistered) => Reason::InstanceNotRegistered,
        Some(W::Unspecified) | None => {
            return Err(Error::UnknownEnum {
                field: field(),
                kind: "probesim.v1.Reason",
                value,
            });
        }
    })
}
