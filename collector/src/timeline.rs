//! The in-memory side of the timelines, between ingest and the store.
//!
//! - [`registry`]: which stored backend each agent's backend id stands for, and each agent's
//!   progress (last sequence, drop counters);
//! - [`apply`]: one batch checked and folded into the [`Pending`] changes of the next flush:
//!   results rolled up per (backend, second), never kept one by one; transitions, lifecycle
//!   events, backend declarations and gaps kept as rows;
//! - [`rollup`]: the per-second counts;
//! - [`view`]: the current LB view of each backend, from the latest state of each virtual prober.

pub mod apply;
pub mod registry;
pub mod rollup;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use probesim_agent::event::{BackendId, BackendKey, Lifecycle, StateChange};
use probesim_agent::model::ProbeSpec;

use crate::model::{AgentId, AgentInfo, DropCounts, Gap};
pub use registry::Registry;
pub use rollup::RollupAcc;
pub use view::{LbNow, NowSummary};

/// The store's number for a backend: one per [`BackendKey`], stable across agent and collector
/// restarts. The API names backends by it.
pub type BackendRowId = i64;

/// An agent as the store keeps it: its hello, and how far its batches got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRow {
    pub id: AgentId,
    /// `None` for an agent whose batches arrived without a hello (not expected from ingest).
    pub info: Option<Arc<AgentInfo>>,
    pub connected: bool,
    pub disconnected_at: Option<SystemTime>,
    /// The highest sequence taken (0: none yet).
    pub last_sequence: u64,
    pub last_batch_at: Option<SystemTime>,
    /// The agent's drop counters as of its last batch.
    pub dropped: DropCounts,
}

impl AgentRow {
    pub fn new(id: AgentId) -> AgentRow {
        AgentRow {
            id,
            info: None,
            connected: false,
            disconnected_at: None,
            last_sequence: 0,
            last_batch_at: None,
            dropped: DropCounts::default(),
        }
    }
}

/// A backend as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendRow {
    pub id: BackendRowId,
    /// The agent that declared it last.
    pub agent: AgentId,
    pub key: Arc<BackendKey>,
    /// Its latest spec (a re-declaration replaces it; the spec change is a lifecycle event).
    pub spec: Arc<ProbeSpec>,
    pub probers: u32,
    /// What-if versions the agent says this backend stands for too ([`Backend::also_for`]).
    ///
    /// [`Backend::also_for`]: probesim_agent::event::Backend::also_for
    pub also_for: Vec<String>,
    pub first_seen: SystemTime,
    pub removed_at: Option<SystemTime>,
}

/// A virtual prober's state change, on the stored backend.
#[derive(Clone, Copy, Debug)]
pub struct TransitionRow {
    pub backend: BackendRowId,
    pub change: StateChange,
}

/// Everything the next flush writes, and what the batches in it counted.
#[derive(Debug, Default)]
pub struct Pending {
    /// Agent rows to upsert (latest value per agent).
    pub agents: HashMap<AgentId, AgentRow>,
    /// Backend rows to upsert (latest value per backend).
    pub backends: HashMap<BackendRowId, BackendRow>,
    /// Agent backend ids (re)bound to stored backends, in order.
    pub bindings: Vec<(AgentId, BackendId, BackendRowId)>,
    /// Rollups to add to the stored ones.
    pub rollups: HashMap<(BackendRowId, u64), RollupAcc>,
    pub transitions: Vec<TransitionRow>,
    pub lifecycle: Vec<(AgentId, Lifecycle)>,
    pub gaps: Vec<Gap>,
    /// Batches taken into this flush (duplicates excluded).
    pub batches: u64,
    /// Probe results in those batches.
    pub results: u64,
}

impl Pending {
    /// Whether the flush would write nothing.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
            && self.backends.is_empty()
            && self.bindings.is_empty()
            && self.rollups.is_empty()
            && self.transitions.is_empty()
            && self.lifecycle.is_empty()
            && self.gaps.is_empty()
    }
}
/// Whether a lifecycle event is about this backend: its pod, its address, its node, or the
/// Service or Ingress it belongs to. The one rule of the store's histories and the UI's markers.
pub fn concerns(event: &Lifecycle, key: &BackendKey) -> bool {
    let object = &event.object;
    match object.kind.as_str() {
        "Pod" => {
            let pod = key.pod.as_deref().and_then(|p| p.split_once('/'));
            pod == Some((object.namespace.as_str(), object.name.as_str()))
                || event.address == Some(key.target.ip())
        }
        "Node" => object.name == key.node || event.node.as_deref() == Some(key.node.as_str()),
        _ => {
            *object == key.service
                || *object == key.object
                || event.address == Some(key.target.ip())
        }
    }
}
