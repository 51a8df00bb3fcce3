//! Histories built by hand for the analysis tests: times are seconds after [`T0`]
//! (2026-11-22T12:00:00Z).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use probesim_agent::event::{
    BackendKey, Hop, Lifecycle, LifecycleKind, SourceMode, SpecVersion, StateChange,
};
use probesim_agent::lb::health::LbState;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{
    LbKind, ObjectRef, ProbePort, ProbeProtocol, ProbeSpec, TargetKind, WireDetails,
};

use crate::model::{BackendHistory, History, Rollup};

/// 2026-11-22T12:00:00Z.
pub const T0: u64 = 1_795_348_800;

pub fn at(s: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_secs_f64(s)
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub fn spec(lb: LbKind, protocol: ProbeProtocol, path: Option<&str>, port: u16) -> ProbeSpec {
    let (interval_s, healthy, unhealthy, target) = match lb {
        LbKind::AzureLb => (5, 2, 2, TargetKind::Node),
        LbKind::Alb => (10, 2, 2, TargetKind::Pod),
        LbKind::Nlb => (10, 3, 3, TargetKind::Pod),
        LbKind::Clb => (10, 2, 6, TargetKind::Node),
    };
    ProbeSpec {
        lb,
        protocol,
        port: ProbePort::Number(port),
        path: path.map(str::to_owned),
        interval_s,
        timeout_s: 5,
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        matcher: None,
        target,
        wire: WireDetails::for_lb(lb),
        deregistration_delay_s: None,
    }
}

/// A backend under construction.
#[derive(Clone, Debug)]
pub struct B(pub BackendHistory);

impl B {
    pub fn new(service: &str, node: &str, hop: Hop, spec: ProbeSpec, probers: u32) -> B {
        let (ns, name) = service.split_once('/').unwrap();
        let svc = ObjectRef::new("Service", ns, name);
        let target: SocketAddr = "10.224.0.4:32271".parse().unwrap();
        B(BackendHistory {
            agent: Arc::from(format!("{node}/a")),
            key: BackendKey {
                lb: spec.lb,
                object: svc.clone(),
                service: svc,
                port: 80,
                node: node.to_owned(),
                target,
                target_kind: spec.target,
                pod: None,
                hop,
                source: SourceMode::LbSource,
                version: SpecVersion {
                    version: "1.23".to_owned(),
                    what_if: false,
                },
            },
            spec: Arc::new(spec),
            probers,
            also_for: Vec::new(),
            first_seen: at(0.0),
            removed_at: None,
            changes: Vec::new(),
            rollups: Vec::new(),
        })
    }

    pub fn version(mut self, v: &str, what_if: bool) -> B {
        self.0.key.version = SpecVersion {
            version: v.to_owned(),
            what_if,
        };
        self
    }

    pub fn source(mut self, source: SourceMode) -> B {
        self.0.key.source = source;
        self
    }

    pub fn pod(mut self, pod: &str, addr: &str) -> B {
        self.0.key.pod = Some(pod.to_owned());
        self.0.key.target = addr.parse().unwrap();
        self.0.key.target_kind = TargetKind::Pod;
        self
    }

    pub fn change(
        mut self,
        prober: u32,
        from: LbState,
        to: LbState,
        r: Option<Reason>,
        s: f64,
    ) -> B {
        self.0.changes.push(StateChange {
            backend: 1,
            prober,
            from,
            to,
            reason: r,
            at: at(s),
        });
        self.0.changes.sort_by_key(|c| c.at);
        self
    }

    /// One rollup per second in `from..to` (seconds after T0).
    pub fn seconds(mut self, from: u64, to: u64, ok: u64, failed: u64, kind: &str) -> B {
        for s in from..to {
            let mut outcomes = Vec::new();
            if ok > 0 {
                outcomes.push(("connected".to_owned(), ok));
            }
            if failed > 0 {
                outcomes.push((kind.to_owned(), failed));
            }
            self.0.rollups.push(Rollup {
                second: T0 + s,
                successes: ok,
                failures: failed,
                not_counted: 0,
                outcomes,
                latency: Vec::new(),
            });
        }
        self
    }

    pub fn build(self) -> BackendHistory {
        self.0
    }
}

pub fn event(
    kind: LifecycleKind,
    object: (&str, &str, &str),
    object_time: Option<f64>,
    seen: f64,
    detail: &[(&str, &str)],
) -> Lifecycle {
    Lifecycle {
        kind,
        object: ObjectRef::new(object.0, object.1, object.2),
        node: Some("node-1".to_owned()),
        address: None,
        object_time: object_time.map(at),
        seen_at: at(seen),
        detail: detail
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

pub fn history(backends: Vec<BackendHistory>, lifecycle: Vec<Lifecycle>) -> History {
    History {
        from: Some(at(0.0)),
        to: Some(at(600.0)),
        agents: Vec::new(),
        backends,
        lifecycle,
        gaps: Vec::new(),
    }
}
