//! What one probe saw: data, not errors.
//!
//! Probers (TCP, HTTP, HTTPS, gRPC, SSL) report an [`Outcome`] and their timings and know nothing
//! of thresholds; [`crate::lb::verdict`] decides what a load balancer makes of it. An outcome is
//! classified by kind ([`Outcome::kind`], a stable name for metrics) and by side
//! ([`Outcome::side`]): a failure on our own host, such as a full ephemeral port range, is never
//! the backend's failure.
//!
//! The engine produces millions of outcomes per second, so this is a small `Copy` enum without
//! heap data.

use std::fmt;

/// What one probe saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The TCP handshake completed: the whole of a TCP probe.
    Connected,
    /// The TLS handshake completed: the whole of an SSL probe.
    TlsEstablished,
    /// The target answered the SYN with a RST (nothing listens on the port).
    Refused,
    /// The target reset a connection that was up (during the TLS handshake or the HTTP exchange).
    /// `Phase::Connect` means right after the handshake, before the probe sent anything.
    Reset { phase: Phase },
    /// The target closed the connection (FIN) before a complete answer. A close during the TLS
    /// handshake is [`Outcome::TlsFailed`].
    Closed,
    /// No answer within the LB's timeout, in the phase the probe had reached.
    Timeout { phase: Phase },
    /// An ICMP host or network unreachable came back for the target's address.
    Unreachable,
    /// An HTTP response with this status. Redirects are not followed: a 3xx is just a status.
    HttpStatus(u16),
    /// The TLS handshake failed (alert, no common version or cipher, close during the handshake).
    /// Certificates are never verified, as the clouds do not verify them.
    TlsFailed,
    /// The answer was not HTTP (or not gRPC over HTTP/2).
    Malformed,
    /// A gRPC response: its `grpc-status` and the HTTP status it came with.
    GrpcStatus { code: u32, http: u16 },
    /// The probe failed on our side; the target was not judged.
    Local(LocalFailure),
}

/// How far a probe got when it timed out or was reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The TCP handshake.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Waiting for the response after the request was sent.
    Response,
}

/// A failure of the prober's own host: never the backend's failure, and never counted by the LB
/// emulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalFailure {
    /// No free local port for a new connection (`EADDRNOTAVAIL`).
    EphemeralPortsExhausted,
    /// The agent's process reached its file descriptor limit (`EMFILE`).
    ProcessFdLimit,
    /// The host reached its file descriptor limit (`ENFILE`).
    SystemFdLimit,
    /// Our host has no route to the target (`ENETUNREACH` raised locally, no ICMP involved).
    NoRoute,
    /// The probe was cancelled before it finished (target removed, agent shutting down).
    Cancelled,
    /// Any other error raised by our own host (`ENOBUFS`, `ENOMEM`, a refused socket option).
    Other,
}

/// Whose problem an outcome is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The target's answer (or its silence): what the LB judges.
    Target,
    /// The prober's own host: not the target's failure.
    Local,
}

impl Outcome {
    /// Every value of [`Outcome::kind`], for metrics that register their label values up front.
    pub const KINDS: [&'static str; 17] = [
        "connected",
        "tls_established",
        "refused",
        "reset",
        "closed",
        "timeout",
        "unreachable",
        "http_status",
        "tls_failed",
        "malformed",
        "grpc_status",
        "local_ports_exhausted",
        "local_process_fd_limit",
        "local_system_fd_limit",
        "local_no_route",
        "local_cancelled",
        "local_other",
    ];

    /// A stable short name of the kind of outcome, for metrics labels and the wire.
    pub fn kind(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::TlsEstablished => "tls_established",
            Outcome::Refused => "refused",
            Outcome::Reset { .. } => "reset",
            Outcome::Closed => "closed",
            Outcome::Timeout { .. } => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::HttpStatus(_) => "http_status",
            Outcome::TlsFailed => "tls_failed",
            Outcome::Malformed => "malformed",
            Outcome::GrpcStatus { .. } => "grpc_status",
            Outcome::Local(local) => local.kind(),
        }
    }

    /// Whose problem this outcome is.
    pub fn side(self) -> Side {
        match self {
            Outcome::Local(_) => Side::Local,
            _ => Side::Target,
        }
    }

    /// Whether the target got to answer at all, not only our host.
    pub fn is_local(self) -> bool {
        self.side() == Side::Local
    }

    /// The phase a timeout or reset happened in.
    pub fn phase(self) -> Option<Phase> {
        match self {
            Outcome::Timeout { phase } | Outcome::Reset { phase } => Some(phase),
            _ => None,
        }
    }

    /// Whether the TCP handshake completed, so that a TCP probe would have succeeded. A reset
    /// counts as a failure even after the handshake: the clouds count a TCP RST as a failed probe.
    pub fn connected(self) -> bool {
        match self {
            Outcome::Connected
            | Outcome::TlsEstablished
            | Outcome::Closed
            | Outcome::HttpStatus(_)
            | Outcome::TlsFailed
            | Outcome::Malformed
            | Outcome::GrpcStatus { .. } => true,
            Outcome::Refused
            | Outcome::Reset { .. }
            | Outcome::Timeout { .. }
            | Outcome::Unreachable
            | Outcome::Local(_) => false,
        }
    }

    /// Whether the TLS handshake completed, so that an SSL probe would have succeeded: an answer
    /// above TLS implies it.
    pub fn tls_established(self) -> bool {
        matches!(
            self,
            Outcome::TlsEstablished
                | Outcome::HttpStatus(_)
                | Outcome::Malformed
                | Outcome::GrpcStatus { .. }
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Connected => f.write_str("connected"),
            Outcome::TlsEstablished => f.write_str("TLS established"),
            Outcome::Refused => f.write_str("connection refused"),
            Outcome::Reset { phase } => write!(f, "connection reset during {phase}"),
            Outcome::Closed => f.write_str("connection closed before an answer"),
            Outcome::Timeout { phase } => write!(f, "timeout during {phase}"),
            Outcome::Unreachable => f.write_str("host unreachable"),
            Outcome::HttpStatus(status) => write!(f, "HTTP {status}"),
            Outcome::TlsFailed => f.write_str("TLS handshake failed"),
            Outcome::Malformed => f.write_str("malformed response"),
            Outcome::GrpcStatus { code, http } => write!(f, "gRPC status {code} (HTTP {http})"),
            Outcome::Local(local) => write!(f, "local: {local}"),
        }
    }
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Response => "response",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LocalFailure {
    pub fn kind(self) -> &'static str {
        match self {
            LocalFailure::EphemeralPortsExhausted => "local_ports_exhausted",
            LocalFailure::ProcessFdLimit => "local_process_fd_limit",
            LocalFailure::SystemFdLimit => "local_system_fd_limit",
            LocalFailure::NoRoute => "local_no_route",
            LocalFailure::Cancelled => "local_cancelled",
            LocalFailure::Other => "local_other",
        }
    }
}

impl fmt::Display for LocalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocalFailure::EphemeralPortsExhausted => "ephemeral ports exhausted",
            LocalFailure::ProcessFdLimit => "process file descriptor limit reached",
            LocalFailure::SystemFdLimit => "system file descriptor limit reached",
            LocalFailure::NoRoute => "no route from this host",
            LocalFailure::Cancelled => "cancelled",
            LocalFailure::Other => "local error",
        })
    }
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Target => "target",
            Side::Local => "local",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
