//! The store as ingest's [`Sink`]: batches go into the pending flush and wait for its commit.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::oneshot;

use super::{SqliteStore, lock};
use crate::metrics::Metrics;
use crate::model::{AgentId, AgentInfo, Batch, Sink, SinkError};
use crate::timeline::AgentRow;
use crate::timeline::apply::{Applied, apply};

impl SqliteStore {
    fn update_agent(&self, id: &AgentId, change: impl FnOnce(&mut AgentRow)) {
        let mut state = self.state();
        let state = &mut *state;
        let row = state
            .live
            .agents
            .entry(id.clone())
            .or_insert_with(|| AgentRow::new(id.clone()));
        change(row);
        state.pending.agents.insert(id.clone(), row.clone());
    }
}

impl Sink for SqliteStore {
    fn agent_connected(&self, agent: &AgentInfo) {
        let info = Arc::new(agent.clone());
        self.update_agent(&agent.id, |row| {
            row.info = Some(info);
            row.connected = true;
            row.disconnected_at = None;
        });
    }

    fn agent_disconnected(&self, agent: &AgentId, at: SystemTime) {
        self.update_agent(agent, |row| {
            row.connected = false;
            row.disconnected_at = Some(at);
        });
    }

    fn last_sequence(&self, agent: &AgentId) -> Option<u64> {
        self.state()
            .durable
            .agents
            .get(agent)
            .map(|a| a.last_sequence)
            .filter(|s| *s > 0)
    }

    /// Takes the batch at once, in call order (so a caller may start the next batch's accept
    /// before awaiting this one); the future only waits for the flush that stores it.
    fn accept(&self, batch: Batch) -> impl Future<Output = Result<(), SinkError>> + Send {
        let taken = self.take(batch);
        let path = self.inner.path.clone();
        async move {
            match taken? {
                None => Ok(()),
                Some(stored) => stored.await.unwrap_or_else(|_| {
                    Err(SinkError::Storage(format!(
                        "database {}: the writer stopped before storing the batch",
                        path.display()
                    )))
                }),
            }
        }
    }
}

impl SqliteStore {
    /// Folds a batch into the pending flush; `None` for a duplicate already stored, else the
    /// answer of the flush that stores it.
    fn take(
        &self,
        batch: Batch,
    ) -> Result<Option<oneshot::Receiver<Result<(), SinkError>>>, SinkError> {
        let inner = &self.inner;
        let mut state = lock(&inner.state);
        let state = &mut *state;
        if state.closed {
            return Err(SinkError::Storage(format!(
                "database {}: the store is closed",
                inner.path.display()
            )));
        }
        let (agent, sequence) = (batch.agent.clone(), batch.sequence);
        if let Some(low) = state.refused.get(&agent).copied() {
            if sequence > low {
                return Err(SinkError::Storage(format!(
                    "agent {agent}: batch {low} was not stored; batch {sequence} waits until it \
                     is sent again"
                )));
            }
            state.refused.remove(&agent);
        }
        match apply(&mut state.live, &mut state.pending, batch) {
            Err(e) => {
                Metrics::add(&inner.metrics.rejected, 1);
                return Err(e);
            }
            Ok(Applied::Duplicate) => {
                Metrics::add(&inner.metrics.duplicates, 1);
                let stored = state.durable.agents.get(&agent);
                if stored.is_some_and(|a| a.last_sequence >= sequence) {
                    return Ok(None);
                }
                // The first copy is in the pending flush: answer with its fate.
            }
            Ok(Applied::Taken) => {}
        }
        let (tx, rx) = oneshot::channel();
        state.waiters.push((agent, sequence, tx));
        Ok(Some(rx))
    }
}
