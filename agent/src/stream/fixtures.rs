//! Sample events for tests and benchmarks: one backend of each LB, and results covering every
//! outcome and verdict.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::event::{
    Backend, BackendKey, Event, Hop, Lifecycle, LifecycleKind, ProbeResult, SourceMode,
    SpecVersion, StateChange,
};
use crate::lb::health::LbState;
use crate::lb::outcome::{LocalFailure, Outcome, Phase};
use crate::lb::verdict::{Reason, Verdict};
use crate::model::{
    LbKind, ObjectRef, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails,
};
use crate::probe::{Measurement, Timings};

/// A fixed start for sample times: 2026-01-01T00:00:00Z.
pub const EPOCH_2026_S: u64 = 1_767_225_600;

pub fn time(offset_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_2026_S) + Duration::from_millis(offset_ms)
}

/// An Azure TCP backend on node `node-a`.
pub fn backend(id: u64) -> Arc<Backend> {
    let lb = LbKind::AzureLb;
    let target: SocketAddr = SocketAddr::from(([10, 0, 0, (id % 250) as u8 + 1], 30080));
    Arc::new(Backend {
        id,
        key: BackendKey {
            lb,
            object: ObjectRef::new("Service", "default", "web"),
            service: ObjectRef::new("Service", "default", "web"),
            port: 80,
            node: "node-a".to_owned(),
            target,
            target_kind: TargetKind::Node,
            pod: None,
            hop: Hop::Lb,
            source: SourceMode::Node,
            version: SpecVersion {
                version: "1.33".to_owned(),
                what_if: false,
            },
        },
        spec: Arc::new(ProbeSpec {
            lb,
            protocol: ProbeProtocol::Tcp,
            port: ProbePort::TrafficPort,
            path: None,
            interval_s: 5,
            timeout_s: 5,
            healthy_threshold: 1,
            unhealthy_threshold: 1,
            matcher: None,
            target: TargetKind::Node,
            wire: WireDetails::for_lb(lb),
            deregistration_delay_s: None,
        }),
        probers: 1,
        also_for: Vec::new(),
    })
}

/// A successful TCP probe of `backend` by prober 0, `offset_ms` after [`time`]'s start.
pub fn success(backend: u64, offset_ms: u64) -> ProbeResult {
    result(backend, offset_ms, Outcome::Connected, Verdict::Success)
}

pub fn result(backend: u64, offset_ms: u64, outcome: Outcome, verdict: Verdict) -> ProbeResult {
    ProbeResult {
        backend,
        prober: 0,
        started_at: time(offset_ms),
        lateness: Duration::from_micros(12),
        measurement: Measurement {
            outcome,
            timings: Timings {
                connect: Some(Duration::from_micros(85)),
                tls: None,
                first_byte: None,
                total: Duration::from_micros(120),
            },
        },
        verdict,
    }
}

/// One result of every outcome, each with a verdict an LB could give it.
pub fn every_outcome(backend: u64) -> Vec<ProbeResult> {
    let fail = |reason| Verdict::Failure { reason };
    let table = [
        (Outcome::Connected, Verdict::Success),
        (Outcome::TlsEstablished, Verdict::Success),
        (Outcome::Refused, fail(Reason::ConnectionRefused)),
        (
            Outcome::Reset {
                phase: Phase::Connect,
            },
            fail(Reason::ConnectionReset),
        ),
        (
            Outcome::Reset { phase: Phase::Tls },
            fail(Reason::TargetFailedHealthChecks),
        ),
        (
            Outcome::Reset {
                phase: Phase::Response,
            },
            fail(Reason::ConnectionReset),
        ),
        (Outcome::Closed, fail(Reason::ConnectionClosed)),
        (
            Outcome::Timeout {
                phase: Phase::Connect,
            },
            fail(Reason::ProbeTimeout),
        ),
        (
            Outcome::Timeout { phase: Phase::Tls },
            fail(Reason::TargetTimeout),
        ),
        (
            Outcome::Timeout {
                phase: Phase::Response,
            },
            fail(Reason::ProbeTimeout),
        ),
        (Outcome::Unreachable, fail(Reason::HostUnreachable)),
        (Outcome::HttpStatus(200), Verdict::Success),
        (Outcome::HttpStatus(503), fail(Reason::HttpStatus(503))),
        (
            Outcome::HttpStatus(404),
            fail(Reason::TargetResponseCodeMismatch(404)),
        ),
        (Outcome::TlsFailed, fail(Reason::TlsHandshakeFailed)),
        (Outcome::Malformed, fail(Reason::MalformedResponse)),
        (
            Outcome::GrpcStatus {
                code: 12,
                http: 200,
            },
            Verdict::Success,
        ),
        (
            Outcome::GrpcStatus {
                code: 14,
                http: 200,
            },
            fail(Reason::GrpcStatus(14)),
        ),
        (
            Outcome::GrpcStatus { code: 5, http: 200 },
            fail(Reason::TargetResponseCodeMismatch(5)),
        ),
    ];
    let locals = [
        LocalFailure::EphemeralPortsExhausted,
        LocalFailure::ProcessFdLimit,
        LocalFailure::SystemFdLimit,
        LocalFailure::NoRoute,
        LocalFailure::Cancelled,
        LocalFailure::Other,
    ];
    table
        .into_iter()
        .chain(locals.map(|local| (Outcome::Local(local), Verdict::NotCounted { local })))
        .enumerate()
        .map(|(i, (outcome, verdict))| result(backend, i as u64 * 7, outcome, verdict))
        .collect()
}

pub fn transition(backend: u64, offset_ms: u64) -> StateChange {
    StateChange {
        backend,
        prober: 0,
        from: LbState::Healthy,
        to: LbState::Unhealthy,
        reason: Some(Reason::TargetResponseCodeMismatch(503)),
        at: time(offset_ms),
    }
}

pub fn lifecycle(offset_ms: u64) -> Lifecycle {
    Lifecycle {
        kind: LifecycleKind::PodTerminating,
        object: ObjectRef::new("Pod", "default", "web-1"),
        node: Some("node-a".to_owned()),
        address: Some([10, 244, 0, 7].into()),
        object_time: Some(time(offset_ms)),
        seen_at: time(offset_ms + 3),
        detail: vec![("grace_period_s".to_owned(), "30".to_owned())],
    }
}

/// A backend, results, a transition, a lifecycle event and a removal, interleaved.
pub fn mixed_events() -> Vec<Event> {
    let mut two = (*backend(2)).clone();
    two.also_for = vec!["1.24".to_owned()];
    let mut events = vec![Event::Backend(backend(1)), Event::Backend(Arc::new(two))];
    events.extend(every_outcome(1).into_iter().map(Event::Result));
    events.push(Event::Transition(transition(1, 500)));
    events.push(Event::Result(success(2, 501)));
    events.push(Event::Lifecycle(lifecycle(502)));
    events.push(Event::Result(success(2, 503)));
    events.push(Event::BackendRemoved {
        id: 2,
        at: time(600),
    });
    events
}
