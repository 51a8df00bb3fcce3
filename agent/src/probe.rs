//! Probers: one per protocol, each sending exactly what one LB checker sends and reporting what it
//! saw ([`Outcome`]) with its timings. They know nothing of thresholds or states: that is
//! [`crate::lb::verdict`] and [`crate::lb::health`].
//!
//! Every probe opens a fresh connection (the clouds never reuse one), runs against one deadline
//! (the LB's timeout) shared by all its phases, and closes its connection before it returns.

pub mod classify;
pub mod grpc;
pub mod http;
pub mod syn;
pub mod tcp;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::event::SourceMode;
use crate::lb::outcome::Outcome;
use crate::model::{ProbeProtocol, WireDetails};
use crate::source::SocketFactory;

/// At most this much of a response body is read before the connection is closed: enough to see
/// a small health answer, never enough to matter at high probe rates.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// What one probe sends, to where.
#[derive(Clone, Debug)]
pub struct ProbeRequest {
    pub addr: SocketAddr,
    pub protocol: ProbeProtocol,
    /// HTTP path (or gRPC method path); ignored for TCP and SSL.
    pub path: Arc<str>,
    /// The LB's timeout for one probe.
    pub timeout: Duration,
    pub wire: Arc<WireDetails>,
    /// gRPC over TLS (an HTTPS health check of a GRPC target group) rather than h2c.
    pub grpc_tls: bool,
    /// Local address to bind before connecting (a source address inside a namespace), if any.
    pub bind: Option<SocketAddr>,
    /// Where the probe's packets come from; `None` is the node's own sockets, at no extra cost.
    pub source: Option<ProbeSource>,
}

/// A probe source other than the node's own sockets (see [`crate::source`]).
#[derive(Clone, Debug)]
pub enum ProbeSource {
    /// Sockets made inside the `lb-source` namespace: every protocol, from the LB's address.
    LbSource(Arc<SocketFactory>),
    /// Half-open raw SYN probes; TCP probes only (other protocols use the prober's socket
    /// factory, if it has one, or the node's sockets).
    Syn(Arc<syn::SynProber>),
}

impl ProbeSource {
    pub fn mode(&self) -> SourceMode {
        match self {
            ProbeSource::LbSource(_) => SourceMode::LbSource,
            ProbeSource::Syn(_) => SourceMode::Syn,
        }
    }

    /// The factory making this source's connected sockets, if not the node's.
    pub fn factory(&self) -> Option<&SocketFactory> {
        match self {
            ProbeSource::LbSource(f) => Some(f),
            ProbeSource::Syn(p) => p.factory(),
        }
    }

    /// The same source object (not merely an equal one).
    pub fn same_as(&self, other: &ProbeSource) -> bool {
        match (self, other) {
            (ProbeSource::LbSource(a), ProbeSource::LbSource(b)) => Arc::ptr_eq(a, b),
            (ProbeSource::Syn(a), ProbeSource::Syn(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The source mode of a request: [`SourceMode::Node`] without a source.
pub fn source_mode(source: Option<&ProbeSource>) -> SourceMode {
    source.map_or(SourceMode::Node, ProbeSource::mode)
}

/// How long each phase of a probe took; a phase the probe did not reach is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    pub connect: Option<Duration>,
    pub tls: Option<Duration>,
    /// From the start of the probe to the first byte of the response head.
    pub first_byte: Option<Duration>,
    /// The whole probe, including the close.
    pub total: Duration,
}

/// What one probe saw, and when each phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement {
    pub outcome: Outcome,
    pub timings: Timings,
}

/// Sends one probe and reports what it saw. Never fails: failures are outcomes.
pub async fn probe(req: &ProbeRequest, tls: &tls::TlsConfigs) -> Measurement {
    let start = Instant::now();
    let deadline = start + req.timeout;
    let mut timings = Timings::default();
    // The TCP prober's state takes a few hundred bytes, the TLS, HTTP and gRPC probers' several
    // KiB; inline, the largest would size every probe's future, which the engine moves into a
    // task of its own for each probe. Boxed, a TCP probe stays small.
    let outcome = match req.protocol {
        ProbeProtocol::Tcp => match &req.source {
            Some(ProbeSource::Syn(prober)) => prober.probe(req, deadline, &mut timings).await,
            _ => tcp::probe(req, deadline, &mut timings).await,
        },
        ProbeProtocol::Ssl => {
            Box::pin(tls::probe_handshake(req, deadline, tls, &mut timings)).await
        }
        ProbeProtocol::Http | ProbeProtocol::Https => {
            Box::pin(http::probe(req, deadline, tls, start, &mut timings)).await
        }
        ProbeProtocol::Grpc => Box::pin(grpc::probe(req, deadline, tls, start, &mut timings)).await,
    };
    timings.total = start.elapsed();
    Measurement { outcome, timings }
}

impl ProbeRequest {
    /// The probe one LB checker sends for `spec` to `addr`, with the LB's timeout.
    pub fn for_spec(spec: &crate::model::ProbeSpec, addr: SocketAddr) -> ProbeRequest {
        ProbeRequest {
            addr,
            protocol: spec.protocol,
            path: Arc::from(spec.path.as_deref().unwrap_or("/")),
            timeout: Duration::from_secs(u64::from(spec.timeout_s)),
            wire: Arc::new(spec.wire.clone()),
            grpc_tls: false,
            bind: None,
            source: None,
        }
    }
}
