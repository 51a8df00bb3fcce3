//! Made-up agents, backends and batches, for tests and benchmarks of the store: realistic shapes
//! (an ALB target group per Service, K virtual probers, a mix of outcomes and latencies) with
//! every value derived from the arguments, so a run is reproducible.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use probesim_agent::event::{
    Backend, BackendId, BackendKey, Event, Hop, ProbeResult, SourceMode, SpecVersion, StateChange,
};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::manual::{self, ManualProbe};
use probesim_agent::lb::outcome::{Outcome, Phase};
use probesim_agent::lb::verdict::{self, Reason};
use probesim_agent::model::{
    Cloud, LbKind, ObjectRef, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails,
};
use probesim_agent::probe::{Measurement, Timings};

use crate::model::{AgentId, AgentInfo, Batch, DropCounts};

/// Virtual probers per synthetic backend.
pub const PROBERS: u32 = 8;

/// An ALB HTTP health check with this matcher (`200-299`); Azure's default TCP probe if the
/// matcher does not parse.
pub fn alb_spec(matcher: &str) -> ProbeSpec {
    let given = ManualProbe {
        port: 8080,
        matcher: Some(matcher.to_owned()),
        ..ManualProbe::default()
    };
    manual::spec(LbKind::Alb, &given).unwrap_or_else(|_| azure_spec())
}

/// Azure's default TCP probe (5 s interval, threshold 2) on NodePort 30080.
pub fn azure_spec() -> ProbeSpec {
    ProbeSpec {
        lb: LbKind::AzureLb,
        protocol: ProbeProtocol::Tcp,
        port: ProbePort::Number(30080),
        path: None,
        interval_s: 5,
        timeout_s: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: None,
        target: TargetKind::Node,
        wire: WireDetails::for_lb(LbKind::AzureLb),
        deregistration_delay_s: None,
    }
}

pub fn agent_id(node: &str) -> AgentId {
    Arc::from(format!("{node}/a1"))
}

pub fn agent_info(node: &str) -> AgentInfo {
    AgentInfo {
        id: agent_id(node),
        node: node.to_owned(),
        cloud: Some(Cloud::Aws),
        k8s_version: "1.33".to_owned(),
        what_if_versions: Vec::new(),
        build: "probesim-agent 0.1.0".to_owned(),
        connected_at: at_ms(1_700_000_000_000),
    }
}

/// Pod `pod` of Service `default/<service>` behind an ALB, probed from `node`.
pub fn backend(id: BackendId, service: &str, node: &str, pod: u8) -> Arc<Backend> {
    let spec = alb_spec("200-299");
    let address = IpAddr::V4(Ipv4Addr::new(10, 244, 0, pod));
    Arc::new(Backend {
        id,
        key: BackendKey {
            lb: LbKind::Alb,
            object: ObjectRef::new("Ingress", "default", service),
            service: ObjectRef::new("Service", "default", service),
            port: 80,
            node: node.to_owned(),
            target: SocketAddr::new(address, 8080),
            target_kind: TargetKind::Pod,
            pod: Some(format!("default/{service}-{pod}")),
            hop: Hop::Lb,
            source: SourceMode::Node,
            version: SpecVersion {
                version: "1.33".to_owned(),
                what_if: false,
            },
        },
        spec: Arc::new(spec),
        probers: PROBERS,
        also_for: Vec::new(),
    })
}

pub fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// One judged probe result.
pub fn result(
    spec: &ProbeSpec,
    backend: BackendId,
    prober: u32,
    started_at: SystemTime,
    outcome: Outcome,
    took: Duration,
) -> ProbeResult {
    ProbeResult {
        backend,
        prober,
        started_at,
        lateness: Duration::ZERO,
        measurement: Measurement {
            outcome,
            timings: Timings {
                total: took,
                ..Timings::default()
            },
        },
        verdict: verdict::judge(spec, &outcome),
    }
}

pub fn transition(
    backend: BackendId,
    prober: u32,
    from: LbState,
    to: LbState,
    reason: Option<Reason>,
    at: SystemTime,
) -> StateChange {
    StateChange {
        backend,
        prober,
        from,
        to,
        reason,
        at,
    }
}

/// The `n`-th outcome of a deterministic mix: mostly HTTP 200, some 503s, timeouts and refusals.
pub fn outcome(n: u64) -> (Outcome, Duration) {
    match n % 20 {
        0 => (
            Outcome::Timeout {
                phase: Phase::Response,
            },
            Duration::from_secs(5),
        ),
        1 => (Outcome::Refused, Duration::from_micros(300)),
        2 | 3 => (Outcome::HttpStatus(503), Duration::from_millis(3)),
        k => (
            Outcome::HttpStatus(200),
            Duration::from_micros(400 + k * 700),
        ),
    }
}

/// A load of `batches` batches of one agent, each with `per_batch` results spread over
/// `backends` backends and 1 ms apart, starting at `start`; the first batch declares the
/// backends. For benchmarks: feed them to a store in order.
pub fn load(
    node: &str,
    backends: u64,
    per_batch: u64,
    batches: u64,
    start: SystemTime,
) -> Vec<Batch> {
    let declared: Vec<Arc<Backend>> = (0..backends)
        .map(|id| backend(id, "web", node, u8::try_from(id % 250).unwrap_or(0)))
        .collect();
    let spec = declared.first().map(|b| b.spec.clone());
    let spec = spec.unwrap_or_else(|| Arc::new(alb_spec("200")));
    let mut n: u64 = 0;
    (0..batches)
        .map(|b| {
            let mut events: Vec<Event> = Vec::with_capacity(per_batch as usize + 1);
            if b == 0 {
                events.extend(declared.iter().cloned().map(Event::Backend));
            }
            for _ in 0..per_batch {
                let (outcome, took) = outcome(n);
                let started_at = start + Duration::from_millis(n);
                let backend = n % backends.max(1);
                let prober = u32::try_from(n % u64::from(PROBERS)).unwrap_or(0);
                let r = result(&spec, backend, prober, started_at, outcome, took);
                events.push(Event::Result(r));
                n += 1;
            }
            Batch {
                agent: agent_id(node),
                sequence: b + 1,
                sent_at: start + Duration::from_millis(n),
                events,
                dropped: DropCounts::default(),
            }
        })
        .collect()
}
