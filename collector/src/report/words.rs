//! The words shared by analysis (findings) and the renderers: times, durations, LB names,
//! probe outcomes and reasons.

use std::time::{Duration, SystemTime};

use probesim_agent::clock::time_of_day;
use probesim_agent::event::SourceMode;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{LbKind, ProbeProtocol, ProbeSpec, TargetKind};

/// `12:00:03` (UTC): the second is what people compare with their logs.
pub fn clock(t: SystemTime) -> String {
    let mut s = time_of_day(t);
    s.truncate(8);
    s
}

/// `4.1 s` (tenths: the precision a user acts on; JSON keeps milliseconds).
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub fn lb(lb: LbKind) -> &'static str {
    match lb {
        LbKind::AzureLb => "Azure LB",
        LbKind::Alb => "ALB",
        LbKind::Nlb => "NLB",
        LbKind::Clb => "CLB",
    }
}

/// Where probes come from, as a phrase after the LB's name: `emulated from the LB's address`;
/// `observed` results are the real LB's own probes, never an emulation.
pub fn source(source: SourceMode) -> &'static str {
    match source {
        SourceMode::Node => "emulated from the node's address",
        SourceMode::LbSource => "emulated from the LB's address",
        SourceMode::Syn => "emulated with SYN probes",
        SourceMode::Observed => "observed: its real probes",
    }
}

/// The LB as a finding's subject: `the ALB`, `the real ALB (observed: its real probes)`, or
/// `the ALB (emulated from the node's address)` when the Service is probed from more than one
/// source. Observed results always say so: they are what the LB did, not what it would do.
pub fn lb_from(kind: LbKind, from: SourceMode, several: bool) -> String {
    match from {
        SourceMode::Observed => format!("the real {} ({})", lb(kind), source(from)),
        _ if several => format!("the {} ({})", lb(kind), source(from)),
        _ => format!("the {}", lb(kind)),
    }
}

/// `the ALB's rotation`; `the rotation of the real ALB (observed: its real probes)` where the
/// LB's name carries its source (as [`lb_from`] gives it).
pub fn rotation(kind: LbKind, from: SourceMode, several: bool) -> String {
    let lb_from = lb_from(kind, from, several);
    if from == SourceMode::Observed || several {
        format!("the rotation of {lb_from}")
    } else {
        format!("{lb_from}'s rotation")
    }
}

/// `node`/`nodes`, `pod`/`pods`.
pub fn targets(kind: TargetKind, n: usize) -> String {
    let word = match kind {
        TargetKind::Node => "node",
        TargetKind::Pod => "pod",
    };
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// What a probe asks: `GET /`, `HTTPS GET /healthz`, `TCP :32271`.
pub fn probe(spec: &ProbeSpec) -> String {
    let path = spec.path.as_deref().unwrap_or("/");
    match spec.protocol {
        ProbeProtocol::Tcp => format!("TCP :{}", spec.port),
        ProbeProtocol::Ssl => format!("SSL :{}", spec.port),
        ProbeProtocol::Http => format!("GET {path}"),
        ProbeProtocol::Https => format!("HTTPS GET {path}"),
        ProbeProtocol::Grpc => format!("gRPC {path}"),
    }
}

/// A failure reason, short: `HTTP 404`, `timeout`, `connection refused`.
pub fn reason(r: Reason, spec: &ProbeSpec) -> String {
    match r {
        Reason::HttpStatus(s) => format!("HTTP {s}"),
        Reason::TargetResponseCodeMismatch(c) if spec.protocol == ProbeProtocol::Grpc => {
            format!("gRPC status {c}")
        }
        Reason::TargetResponseCodeMismatch(c) => format!("HTTP {c}"),
        Reason::GrpcStatus(c) => format!("gRPC status {c}"),
        Reason::ProbeTimeout | Reason::TargetTimeout => "timeout".to_owned(),
        Reason::ConnectionRefused => "connection refused".to_owned(),
        Reason::TargetFailedHealthChecks => "connection failed".to_owned(),
        other => other.to_string(),
    }
}

/// An outcome kind of the rollups (`Outcome::kind`), in words. A kind may carry its status as
/// `http_status:404`.
pub fn outcome(kind: &str) -> String {
    let (kind, status) = kind.split_once(':').unwrap_or((kind, ""));
    let text = match kind {
        "timeout" => "timeout",
        "refused" => "connection refused",
        "reset" => "connection reset",
        "closed" => "connection closed",
        "unreachable" => "host unreachable",
        "http_status" if !status.is_empty() => return format!("HTTP {status}"),
        "http_status" => "an HTTP status the LB rejects",
        "grpc_status" if !status.is_empty() => return format!("gRPC status {status}"),
        "grpc_status" => "a gRPC status the LB rejects",
        "tls_failed" => "TLS handshake failed",
        "malformed" => "not an HTTP answer",
        other => other,
    };
    text.to_owned()
}
