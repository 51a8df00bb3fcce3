//! The engine's own counters: what it scheduled, skipped, dropped, and how late it started.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Lateness histogram bucket bounds in microseconds (upper bounds; the last bucket is open).
pub const LATENESS_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

#[derive(Debug, Default)]
pub struct EngineStats {
    pub scheduled: AtomicU64,
    pub completed: AtomicU64,
    pub cancelled: AtomicU64,
    pub skipped_target_limit: AtomicU64,
    pub skipped_global_limit: AtomicU64,
    /// Probes that could not start within [`EngineConfig::max_lateness`](super::EngineConfig).
    pub skipped_late: AtomicU64,
    pub results_dropped: AtomicU64,
    lateness: [AtomicU64; LATENESS_BUCKETS_US.len() + 1],
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub scheduled: u64,
    pub completed: u64,
    pub cancelled: u64,
    pub skipped_target_limit: u64,
    pub skipped_global_limit: u64,
    pub skipped_late: u64,
    pub results_dropped: u64,
    /// Counts per bucket of [`LATENESS_BUCKETS_US`], then the overflow bucket.
    pub lateness: Vec<u64>,
}

impl StatsSnapshot {
    /// Every probe the engine scheduled and did not run, whatever the reason.
    pub fn skipped(&self) -> u64 {
        self.skipped_target_limit + self.skipped_global_limit + self.skipped_late
    }
}

impl EngineStats {
    pub fn record_lateness(&self, lateness: Duration) {
        let us = u64::try_from(lateness.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENESS_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(LATENESS_BUCKETS_US.len());
        self.lateness[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            scheduled: load(&self.scheduled),
            completed: load(&self.completed),
            cancelled: load(&self.cancelled),
            skipped_target_limit: load(&self.skipped_target_limit),
            skipped_global_limit: load(&self.skipped_global_limit),
            skipped_late: load(&self.skipped_late),
            results_dropped: load(&self.results_dropped),
            lateness: self.lateness.iter().map(load).collect(),
        }
    }
}
