//! What ingest hands on: agents as they introduced themselves, and their batches of events,
//! decoded into the agent's own event model ([`probesim_agent::event`]).

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use probesim_agent::event::Event;
use probesim_agent::model::Cloud;

/// An agent's stable name: `<node>/<instance>`, where the instance survives agent restarts
/// as long as its spool directory does. Sequence numbers and backend ids are unique within it.
pub type AgentId = Arc<str>;

/// An agent, as its hello introduced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentInfo {
    pub id: AgentId,
    pub node: String,
    pub cloud: Option<Cloud>,
    /// The cluster's Kubernetes version the agent derives its current specs for.
    pub k8s_version: String,
    /// `--what-if-k8s-version` values.
    pub what_if_versions: Vec<String>,
    /// The agent's build (`probesim-agent 0.1.0`).
    pub build: String,
    pub connected_at: SystemTime,
}

/// What an agent had to drop before sending, since it started (counters, not deltas).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub results: u64,
    pub transitions: u64,
    pub lifecycle: u64,
}

/// One batch of one agent, in the order the agent produced its events.
#[derive(Clone, Debug)]
pub struct Batch {
    pub agent: AgentId,
    /// Per agent, starting at 1, without holes unless the agent dropped whole batches (then
    /// `dropped` says how much).
    pub sequence: u64,
    pub sent_at: SystemTime,
    pub events: Vec<Event>,
    pub dropped: DropCounts,
}

/// Why a sink could not take a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("batch {sequence} of agent {agent} refers to unknown backend {backend}")]
    UnknownBackend {
        agent: AgentId,
        sequence: u64,
        backend: u64,
    },
}

/// Where ingest puts what agents send: the timelines and the store behind them.
pub trait Sink: Send + Sync + 'static {
    fn agent_connected(&self, agent: &AgentInfo);
    fn agent_disconnected(&self, agent: &AgentId, at: SystemTime);
    /// The highest sequence of this agent already taken, from durable storage: ingest drops
    /// batches at or below it (duplicates after a reconnect or a collector restart).
    fn last_sequence(&self, agent: &AgentId) -> Option<u64>;
    /// Takes one batch; resolves once the batch is durable and may be acknowledged.
    fn accept(&self, batch: Batch) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Upper bounds, in milliseconds, of the probe latency histogram buckets of a [`Rollup`] (the
/// last bucket, beyond the last bound, is implicit). Spans loopback answers to the clouds' longest
/// probe timeouts (AWS: 120 s).
pub const LATENCY_BUCKETS_MS: [u32; 14] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

/// One backend's probe results of one second, rolled up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    /// The second's start (whole seconds since the epoch).
    pub second: u64,
    /// Probes the LB would count as successes.
    pub successes: u64,
    /// Probes the LB would count as failures.
    pub failures: u64,
    /// Probes that failed on the agent's side and count for nothing.
    pub not_counted: u64,
    /// Probes per outcome kind (`Outcome::kind`), most common first.
    pub outcomes: Vec<(String, u64)>,
    /// Probes per latency bucket ([`LATENCY_BUCKETS_MS`], plus one overflow bucket).
    pub latency: Vec<u64>,
}

/// An interval in which an agent dropped data before sending it: the timeline shows it as a gap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub agent: AgentId,
    pub from: SystemTime,
    pub to: SystemTime,
    /// What was dropped in the interval.
    pub dropped: DropCounts,
}

/// Everything known about one backend over a time range.
#[derive(Clone, Debug)]
pub struct BackendHistory {
    pub agent: AgentId,
    pub key: probesim_agent::event::BackendKey,
    pub spec: Arc<probesim_agent::model::ProbeSpec>,
    /// Virtual probers (K).
    pub probers: u32,
    /// What-if versions whose probe is this backend's too (`Backend::also_for`).
    pub also_for: Vec<String>,
    pub first_seen: SystemTime,
    /// When the agent stopped probing it, if it did.
    pub removed_at: Option<SystemTime>,
    /// Every virtual prober's state changes, in time order (`StateChange::backend` is the
    /// agent's id of this backend).
    pub changes: Vec<probesim_agent::event::StateChange>,
    /// Per-second rollups of its results, in time order.
    pub rollups: Vec<Rollup>,
}

/// What the store knows for a time range: the input of analysis, API and reports.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    pub agents: Vec<AgentInfo>,
    pub backends: Vec<BackendHistory>,
    /// Lifecycle events of all agents in the range, in time order (`object_time`, else
    /// `seen_at`). The same event seen by several agents (a Service edit) appears once per agent.
    pub lifecycle: Vec<probesim_agent::event::Lifecycle>,
    pub gaps: Vec<Gap>,
}
