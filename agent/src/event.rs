//! What the agent reports: the backends it probes, every probe's result, every LB state
//! transition of a virtual prober, and what Kubernetes said about the backends (lifecycle).
//!
//! These are the agent's own types; the wire (`probesim.v1`) and the log lines are views of them.
//! A backend is declared once with a number ([`BackendId`]) and results refer to that number, so a
//! result stays a few dozen bytes however long the backend's names are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::lb::health::LbState;
use crate::lb::verdict::{Reason, Verdict};
use crate::model::{LbKind, ObjectRef, ProbeSpec, TargetKind};
use crate::probe::Measurement;

/// The agent's number for a backend, unique for the life of the agent process.
pub type BackendId = u64;

/// Which hop of the path from the LB to the pod a backend's probes test (spec/scenarios.md S3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hop {
    /// The LB's own probe, as derived for the LB rule: the LB's view.
    Lb,
    /// Plain TCP check of a local pod at `IP:targetPort`.
    Pod,
    /// Plain TCP check of the Service's ClusterIP at its port.
    ClusterIp,
    /// Plain TCP check of the Service's NodePort on this node's address.
    NodePort,
}

impl Hop {
    pub const ALL: [Hop; 4] = [Hop::Lb, Hop::Pod, Hop::ClusterIp, Hop::NodePort];

    pub fn as_str(self) -> &'static str {
        match self {
            Hop::Lb => "lb",
            Hop::Pod => "pod",
            Hop::ClusterIp => "cluster-ip",
            Hop::NodePort => "node-port",
        }
    }
}

/// Where a backend's probes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceMode {
    /// Sockets of the node itself (the node's address).
    Node,
    /// From the LB's source address, through the node's packet path (design.md, "Source
    /// emulation").
    LbSource,
    /// Half-open raw SYN probes.
    Syn,
    /// Not sent by the agent: the real LB's probes, seen arriving at the node.
    Observed,
}

impl SourceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceMode::Node => "node",
            SourceMode::LbSource => "lb-source",
            SourceMode::Syn => "syn",
            SourceMode::Observed => "observed",
        }
    }
}

/// The Kubernetes version a backend's spec was derived for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecVersion {
    /// As given (`1.24`, `v1.23.5`) or as the API server reported it.
    pub version: String,
    /// A `--what-if-k8s-version`, not the cluster's own.
    pub what_if: bool,
}

/// What one backend is: everything that names it on a timeline. Two backends with equal keys
/// are the same backend, across agent restarts too.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendKey {
    pub lb: LbKind,
    /// The object the LB is configured from (a Service, or an Ingress for an ALB).
    pub object: ObjectRef,
    /// The Service whose backends the rule reaches.
    pub service: ObjectRef,
    /// The Service port of the LB rule.
    pub port: i32,
    /// The node the agent runs on.
    pub node: String,
    /// The address probed.
    pub target: SocketAddr,
    pub target_kind: TargetKind,
    /// `namespace/name` of the pod behind a pod target or pod hop.
    pub pod: Option<String>,
    pub hop: Hop,
    pub source: SourceMode,
    pub version: SpecVersion,
}

/// A backend as declared to consumers: its key, the spec its probes follow, and K.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub id: BackendId,
    pub key: BackendKey,
    pub spec: Arc<ProbeSpec>,
    /// Virtual probers (K) of the backend.
    pub probers: u32,
    /// What-if versions whose probe for this rule is the same as this backend's: they are not
    /// probed twice, and this backend's view is theirs too (S1 after the fix).
    pub also_for: Vec<String>,
}

/// One probe's result, judged by the LB's success rule.
#[derive(Clone, Copy, Debug)]
pub struct ProbeResult {
    pub backend: BackendId,
    pub prober: u32,
    /// Wall-clock start of the probe.
    pub started_at: SystemTime,
    /// Start − due: how late the engine started it.
    pub lateness: Duration,
    pub measurement: Measurement,
    pub verdict: Verdict,
}

/// A virtual prober's LB state changed.
#[derive(Clone, Copy, Debug)]
pub struct StateChange {
    pub backend: BackendId,
    pub prober: u32,
    pub from: LbState,
    pub to: LbState,
    /// The reason the cloud would show with the new state (`Reason::code`, e.g.
    /// `Target.Timeout`).
    pub reason: Option<Reason>,
    /// When the LB would make the change (wall clock).
    pub at: SystemTime,
}

/// What Kubernetes said about a backend.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifecycleKind {
    PodCreated,
    PodScheduled,
    ContainersReady,
    PodReady,
    PodNotReady,
    /// A readiness gate's condition changed (the condition type is in the detail).
    ReadinessGate,
    /// `deletionTimestamp` set; the detail has the grace period and the preStop hook, if any.
    PodTerminating,
    PodDeleted,
    /// An endpoint's conditions in an EndpointSlice changed (`ready`, `serving`, `terminating`).
    EndpointConditions,
    /// The endpoint is gone from the Service's EndpointSlices.
    EndpointRemoved,
    /// A Service's count of ready endpoints changed (detail: `ready`, `total`, `selector`), so
    /// "no ready endpoints: selector app=web matches no pod" can be said (S3).
    ServiceEndpoints,
    NodeCordoned,
    NodeUncordoned,
    NodeTainted,
    NodeUntainted,
    NodeDeleted,
    /// The API server could not reach this node's kubelet through its node proxy
    /// (`/api/v1/nodes/NODE/proxy/healthz`) while it answered itself (S7: the control plane's
    /// tunnel to the node is broken; detail: `error`, `api_server=ok`).
    NodeProxyFailed,
    /// The node proxy path works again.
    NodeProxyRestored,
    /// A Service or Ingress edit changed a derived LB spec (old spec → new spec in the detail).
    SpecChanged,
}

impl LifecycleKind {
    /// Every kind, for decoders that read kinds back by name.
    pub const ALL: [LifecycleKind; 19] = [
        LifecycleKind::PodCreated,
        LifecycleKind::PodScheduled,
        LifecycleKind::ContainersReady,
        LifecycleKind::PodReady,
        LifecycleKind::PodNotReady,
        LifecycleKind::ReadinessGate,
        LifecycleKind::PodTerminating,
        LifecycleKind::PodDeleted,
        LifecycleKind::EndpointConditions,
        LifecycleKind::EndpointRemoved,
        LifecycleKind::ServiceEndpoints,
        LifecycleKind::NodeCordoned,
        LifecycleKind::NodeUncordoned,
        LifecycleKind::NodeTainted,
        LifecycleKind::NodeUntainted,
        LifecycleKind::NodeDeleted,
        LifecycleKind::NodeProxyFailed,
        LifecycleKind::NodeProxyRestored,
        LifecycleKind::SpecChanged,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            LifecycleKind::PodCreated => "pod-created",
            LifecycleKind::PodScheduled => "pod-scheduled",
            LifecycleKind::ContainersReady => "containers-ready",
            LifecycleKind::PodReady => "pod-ready",
            LifecycleKind::PodNotReady => "pod-not-ready",
            LifecycleKind::ReadinessGate => "readiness-gate",
            LifecycleKind::PodTerminating => "pod-terminating",
            LifecycleKind::PodDeleted => "pod-deleted",
            LifecycleKind::EndpointConditions => "endpoint-conditions",
            LifecycleKind::EndpointRemoved => "endpoint-removed",
            LifecycleKind::ServiceEndpoints => "service-endpoints",
            LifecycleKind::NodeCordoned => "node-cordoned",
            LifecycleKind::NodeUncordoned => "node-uncordoned",
            LifecycleKind::NodeTainted => "node-tainted",
            LifecycleKind::NodeUntainted => "node-untainted",
            LifecycleKind::NodeDeleted => "node-deleted",
            LifecycleKind::NodeProxyFailed => "node-proxy-failed",
            LifecycleKind::NodeProxyRestored => "node-proxy-restored",
            LifecycleKind::SpecChanged => "spec-changed",
        }
    }
}

/// One lifecycle event, with the object's own timestamp and the moment the agent saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    pub kind: LifecycleKind,
    /// The object the event is about (`Pod/ns/name`, `EndpointSlice/ns/name`, `Node//name`,
    /// `Service/ns/name`).
    pub object: ObjectRef,
    pub node: Option<String>,
    /// The pod's address, for pod and endpoint events.
    pub address: Option<std::net::IpAddr>,
    /// The timestamp Kubernetes recorded (a condition's `lastTransitionTime`,
    /// `deletionTimestamp`, `creationTimestamp`); `None` where the object has none (endpoint
    /// conditions, deletions), and then `seen_at` is the best time there is.
    pub object_time: Option<SystemTime>,
    pub seen_at: SystemTime,
    /// Details as key/value pairs (e.g. `grace_period_s=30`, `pre_stop=sleep 15`,
    /// `ready=false`, `old=...`, `new=...`).
    pub detail: Vec<(String, String)>,
}

/// Everything the agent reports, in the order it happened.
#[derive(Clone, Debug)]
pub enum Event {
    /// A backend starts being probed (or its spec changed: same id, new spec).
    Backend(Arc<Backend>),
    /// A backend is no longer probed.
    BackendRemoved {
        id: BackendId,
        at: SystemTime,
    },
    Result(ProbeResult),
    Transition(StateChange),
    Lifecycle(Lifecycle),
}
