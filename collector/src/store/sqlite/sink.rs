//! The store as ingest's [`Sink`]: batches go into the pending flush and wait for its commit.

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

    fn accept(
        &self,
        batch: Batch,
    ) -> impl std::future::Future<Output = Result<(), SinkError>> + Send {
        let inner = self.inner.clone();
        async move {
            let waiting = {
                let mut state = lock(&inner.state);
                let state = &mut *state;
                if state.closed {
                    return Err(SinkError::Storage(format!(
                        "database {}: the store is closed",
                        inner.path.display()
                    )));
                }
                let (agent, sequence) = (batch.agent.clone(), batch.sequence);
                match apply(&mut state.live, &mut state.pending, batch) {
                    Err(e) => {
                        Metrics::add(&inner.metrics.rejected, 1);
                        return Err(e);
                    }
                    Ok(Applied::Duplicate) => {
                        Metrics::add(&inner.metrics.duplicates, 1);
                        let stored = state.durable.agents.get(&agent);
                        if stored.is_some_and(|a| a.last_sequence >= sequence) {
                            return Ok(());
                        }
                        // The first copy is in the pending flush: answer with its fate.
                    }
                    Ok(Applied::Taken) => {}
                }
                let (tx, rx) = oneshot::channel();
                state.waiters.push(tx);
                rx
            };
            waiting.await.unwrap_or_else(|_| {
                Err(SinkError::Storage(format!(
                    "database {}: the writer stopped before storing the batch",
                    inner.path.display()
                )))
            })
        }
    }
}
