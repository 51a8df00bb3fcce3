//! Sinks the benchmark can put behind ingest besides the collector's store. Ingest is generic
//! over [`Sink`]; a new sink is one more `SinkKind` and one more arm in `server::serve`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use probesim_collector::model::{AgentId, AgentInfo, Batch, Sink, SinkError};

/// Counts what it is given and keeps nothing: ingest's own cost.
#[derive(Debug, Default)]
pub struct CountingSink {
    pub batches: AtomicU64,
    pub events: AtomicU64,
    pub agents: AtomicU64,
}

impl Sink for CountingSink {
    fn agent_connected(&self, _agent: &AgentInfo) {
        self.agents.fetch_add(1, Relaxed);
    }

    fn agent_disconnected(&self, _agent: &AgentId, _at: SystemTime) {
        self.agents.fetch_sub(1, Relaxed);
    }

    fn last_sequence(&self, _agent: &AgentId) -> Option<u64> {
        None
    }

    async fn accept(&self, batch: Batch) -> Result<(), SinkError> {
        self.batches.fetch_add(1, Relaxed);
        self.events.fetch_add(batch.events.len() as u64, Relaxed);
        Ok(())
    }
}
