//! Agents, stored backends, and which stored backend each agent's backend id stands for.
//!
//! The store keeps two registries: the durable one (what the database holds) and the live one
//! (durable plus the batches waiting for the next flush). A failed flush throws the live one away
//! and starts again from the durable one, so nothing that was not stored is remembered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use probesim_agent::event::{BackendId, BackendKey};

use super::{AgentRow, BackendRow, BackendRowId, Pending};
use crate::model::AgentId;

#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub agents: HashMap<AgentId, AgentRow>,
    pub backends: HashMap<BackendRowId, BackendRow>,
    bindings: HashMap<AgentId, HashMap<BackendId, BackendRowId>>,
    by_key: HashMap<Arc<BackendKey>, BackendRowId>,
    next_row: BackendRowId,
}

impl Registry {
    /// A registry of stored rows, as loaded at start.
    pub fn from_rows(
        agents: Vec<AgentRow>,
        backends: Vec<BackendRow>,
        bindings: Vec<(AgentId, BackendId, BackendRowId)>,
    ) -> Registry {
        let mut registry = Registry {
            next_row: 1,
            ..Registry::default()
        };
        for agent in agents {
            registry.agents.insert(agent.id.clone(), agent);
        }
        for backend in backends {
            registry.put_backend(backend);
        }
        for (agent, id, row) in bindings {
            registry.bind(agent, id, row);
        }
        registry
    }

    /// The stored backend an agent's backend id stands for.
    pub fn row_of(&self, agent: &AgentId, id: BackendId) -> Option<BackendRowId> {
        self.bindings.get(agent)?.get(&id).copied()
    }

    /// The backend ids of one agent, for lookups in a batch's hot loop.
    pub fn bindings_of(&self, agent: &AgentId) -> Option<&HashMap<BackendId, BackendRowId>> {
        self.bindings.get(agent)
    }

    pub fn row_of_key(&self, key: &BackendKey) -> Option<BackendRowId> {
        self.by_key.get(key).copied()
    }

    /// A new number for a backend never seen before.
    pub fn allocate(&mut self) -> BackendRowId {
        let row = self.next_row.max(1);
        self.next_row = row + 1;
        row
    }

    pub fn bind(&mut self, agent: AgentId, id: BackendId, row: BackendRowId) {
        self.bindings.entry(agent).or_default().insert(id, row);
    }

    pub fn put_backend(&mut self, backend: BackendRow) {
        self.next_row = self.next_row.max(backend.id + 1);
        if let Some(old) = self.backends.get(&backend.id)
            && old.key != backend.key
        {
            self.by_key.remove(&old.key);
        }
        self.by_key.insert(backend.key.clone(), backend.id);
        self.backends.insert(backend.id, backend);
    }

    /// Takes in what a flush stored.
    pub fn absorb(&mut self, pending: &Pending) {
        for agent in pending.agents.values() {
            self.agents.insert(agent.id.clone(), agent.clone());
        }
        for backend in pending.backends.values() {
            self.put_backend(backend.clone());
        }
        for (agent, id, row) in &pending.bindings {
            self.bind(agent.clone(), *id, *row);
        }
    }

    /// Forgets backends that retention deleted, and every agent id bound to them.
    pub fn forget_backends(&mut self, rows: &[BackendRowId]) {
        let rows: HashSet<BackendRowId> = rows.iter().copied().collect();
        for row in &rows {
            if let Some(backend) = self.backends.remove(row) {
                self.by_key.remove(&backend.key);
            }
        }
        for ids in self.bindings.values_mut() {
            ids.retain(|_, row| !rows.contains(row));
        }
    }
}
