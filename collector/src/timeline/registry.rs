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
    /// `bindings` the other way round: an agent's number of a stored backend, found in one
    /// lookup by history queries (the latest binding wins).
    numbers: HashMap<(AgentId, BackendRowId), BackendId>,
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

    /// The number `agent` knows the stored backend `row` by, as it bound it last.
    pub fn number_of(&self, agent: &AgentId, row: BackendRowId) -> Option<BackendId> {
        self.numbers.get(&(agent.clone(), row)).copied()
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
        let old = self
            .bindings
            .entry(agent.clone())
            .or_default()
            .insert(id, row);
        // The id stood for another row before: that row's number is no longer this id.
        if let Some(old) = old.filter(|old| *old != row) {
            let key = (agent.clone(), old);
            if self.numbers.get(&key) == Some(&id) {
                self.numbers.remove(&key);
            }
        }
        self.numbers.insert((agent, row), id);
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
        self.numbers.retain(|(_, row), _| !rows.contains(row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_number_of_a_row_follows_its_latest_binding_and_forgetting() {
        let a: AgentId = Arc::from("node-1/a");
        let b: AgentId = Arc::from("node-2/b");
        let mut r = Registry::default();
        r.bind(a.clone(), 7, 1);
        r.bind(b.clone(), 3, 1);
        r.bind(a.clone(), 8, 2);
        assert_eq!(
            (r.number_of(&a, 1), r.number_of(&b, 1), r.number_of(&a, 2)),
            (Some(7), Some(3), Some(8))
        );
        // Id 7 now stands for row 2: row 1 has no number of agent a any more.
        r.bind(a.clone(), 7, 2);
        assert_eq!((r.number_of(&a, 1), r.number_of(&a, 2)), (None, Some(7)));
        r.forget_backends(&[2]);
        assert_eq!((r.number_of(&a, 2), r.row_of(&a, 7)), (None, None));
        assert_eq!(r.number_of(&b, 1), Some(3));
    }
}
