//! The streaming client's counters, for the agent's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::drops::{AtomicDropCounts, DropCounts};

/// Live counters; read them with [`StreamMetrics::snapshot`].
#[derive(Debug, Default)]
pub struct StreamMetrics {
    pub(crate) connected: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) batches_sealed: AtomicU64,
    pub(crate) batches_sent: AtomicU64,
    pub(crate) batches_acked: AtomicU64,
    pub(crate) events_acked: AtomicU64,
    pub(crate) last_acked: AtomicU64,
    pub(crate) window_batches: AtomicU64,
    pub(crate) memory_bytes: AtomicU64,
    pub(crate) spool_bytes: AtomicU64,
    pub(crate) spilled: AtomicU64,
    pub(crate) spool_errors: AtomicU64,
    /// Events dropped from the oldest unacknowledged batches, and those producers dropped.
    pub(crate) dropped: AtomicDropCounts,
}

/// A reading of [`StreamMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// 1 while a stream to the collector is up and welcomed (a gauge).
    pub connected: u64,
    /// Streams welcomed by the collector.
    pub connects: u64,
    /// Attempts that failed (connect, TLS, hello) or streams that broke.
    pub connect_failures: u64,
    pub batches_sealed: u64,
    /// Batches sent, resends included.
    pub batches_sent: u64,
    pub batches_acked: u64,
    /// Events of acknowledged batches.
    pub events_acked: u64,
    /// The highest sequence the collector acknowledged.
    pub last_acked: u64,
    /// Unacknowledged batches (a gauge), in memory and spooled.
    pub window_batches: u64,
    /// Bytes of unacknowledged batches in memory (a gauge).
    pub memory_bytes: u64,
    /// Bytes of spooled batches (a gauge).
    pub spool_bytes: u64,
    /// Batches written to the spool.
    pub spilled: u64,
    /// Spool reads and writes that failed (a full disk); the data is kept in memory or dropped
    /// and counted.
    pub spool_errors: u64,
    pub dropped_results: u64,
    pub dropped_transitions: u64,
    pub dropped_lifecycle: u64,
}

impl StreamMetrics {
    pub fn snapshot(&self) -> StreamCounters {
        let dropped = self.dropped.load();
        StreamCounters {
            connected: self.connected.load(Relaxed),
            connects: self.connects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            batches_sealed: self.batches_sealed.load(Relaxed),
            batches_sent: self.batches_sent.load(Relaxed),
            batches_acked: self.batches_acked.load(Relaxed),
            events_acked: self.events_acked.load(Relaxed),
            last_acked: self.last_acked.load(Relaxed),
            window_batches: self.window_batches.load(Relaxed),
            memory_bytes: self.memory_bytes.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            spilled: self.spilled.load(Relaxed),
            spool_errors: self.spool_errors.load(Relaxed),
            dropped_results: dropped.results,
            dropped_transitions: dropped.transitions,
            dropped_lifecycle: dropped.lifecycle,
        }
    }
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

pub(crate) fn set(counter: &AtomicU64, n: u64) {
    counter.store(n, Relaxed);
}

/// What producers dropped before their events reached the client (a full channel): counted
/// here, the counts travel with the next batch.
#[derive(Debug, Default)]
pub struct DropCounter(AtomicDropCounts);

impl DropCounter {
    /// Counts one event that could not be handed to the client. Backend declarations must
    /// never be dropped: their producer waits for room instead.
    pub fn count(&self, event: &crate::event::Event) {
        match DropCounts::one(event) {
            Some(one) => self.0.add(one),
            None => tracing::error!("stream: a backend declaration or removal was dropped"),
        }
    }

    /// Counts events dropped on their way to the producer (lifecycle events the watches could
    /// not hand to the daemon).
    pub fn add(&self, dropped: DropCounts) {
        self.0.add(dropped);
    }

    /// Whether anything was counted since the last [`DropCounter::take`].
    pub(crate) fn pending(&self) -> bool {
        !self.0.load().is_empty()
    }

    /// Takes the counts since the last call.
    pub(crate) fn take(&self) -> DropCounts {
        self.0.take()
    }
}
