//! The collector's `/metrics` (Prometheus text format 0.0.4).
//!
//! Label cardinality is bounded by construction: every label takes its values from a closed set
//! (`lb`: 4 LB kinds, `state`: 10 LB states, `hop`: 4 hops, `outcome`: the 17 outcome kinds,
//! `verdict`: 3, `kind`: 3 drop kinds), except `service`, which takes at most
//! [`MAX_SERVICE_LABELS`] values (the Services with the most backends; the rest are summed under
//! `service="other"`). No metric has a per-pod, per-node, per-agent or per-address label.
//! Probe counters count what was stored since the collector started.

pub mod render;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use probesim_agent::model::LbKind;

use crate::ingest::IngestMetrics;
use crate::store::codec::LB_KINDS;
use crate::timeline::{Pending, RollupAcc};
pub use render::render;

/// Services with a label of their own in backend state metrics; 200 Services × their LB's few
/// states stays far below the series count a Prometheus scrape handles without notice.
pub const MAX_SERVICE_LABELS: usize = 200;

/// Counters of the write path, updated by ingest and the writer.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Batches taken (duplicates excluded), once stored.
    pub batches: AtomicU64,
    /// Probe results stored.
    pub results: AtomicU64,
    /// Batches whose sequence was already taken.
    pub duplicates: AtomicU64,
    /// Batches refused for naming an unknown backend.
    pub rejected: AtomicU64,
    /// Commits that failed; their batches were not acknowledged.
    pub storage_errors: AtomicU64,
    /// Batches failed by a failed commit.
    pub failed_batches: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_seconds_micros: AtomicU64,
    /// Rows deleted by retention.
    pub retention_deleted_rows: AtomicU64,
    /// Used bytes of the database at the last retention run.
    pub db_used_bytes: AtomicU64,
    /// The gRPC ingest's counters (streams, bytes, bad messages), shared with the ingest service
    /// that serves this store ([`crate::ingest::IngestService::with_metrics`]).
    pub ingest: Arc<IngestMetrics>,
    probes: Mutex<ProbeCounters>,
}

/// Probe outcomes and latencies per LB kind, since the collector started.
#[derive(Clone, Debug, Default)]
pub struct ProbeCounters {
    /// Indexed like [`LB_KINDS`].
    pub per_lb: [RollupAcc; 4],
}

impl Metrics {
    /// Counts a stored flush: `lb_of` names the LB kind of each backend in it.
    pub fn stored(&self, pending: &Pending, took: Duration, lb_of: impl Fn(i64) -> Option<LbKind>) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.flush_seconds_micros
            .fetch_add(micros, Ordering::Relaxed);
        self.batches.fetch_add(pending.batches, Ordering::Relaxed);
        self.results.fetch_add(pending.results, Ordering::Relaxed);
        let Ok(mut probes) = self.probes.lock() else {
            return;
        };
        for ((backend, _), acc) in &pending.rollups {
            if let Some(slot) =
                lb_of(*backend).and_then(|lb| LB_KINDS.iter().position(|k| *k == lb))
            {
                probes.per_lb[slot].merge(acc);
            }
        }
    }

    pub fn probes(&self) -> ProbeCounters {
        self.probes.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
