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
