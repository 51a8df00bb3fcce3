//! Ingest counters, for the collector's `/metrics` to render.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters (monotonic unless said otherwise); read them with [`IngestMetrics::snapshot`].
#[derive(Debug, Default)]
pub struct IngestMetrics {
    pub(crate) streams_open: AtomicU64,
    pub(crate) streams: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) results: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) sink_errors: AtomicU64,
}

/// A reading of [`IngestMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestCounters {
    /// Agent streams open now (a gauge).
    pub streams_open: u64,
    /// Agent streams that sent a valid hello, ever.
    pub streams: u64,
    /// Batches stored (duplicates excluded).
    pub batches: u64,
    /// Probe results stored.
    pub results: u64,
    /// Batches dropped as duplicates of stored ones.
    pub duplicates: u64,
    /// Encoded bytes of the batches received, duplicates included.
    pub bytes: u64,
    /// Messages that were not valid protobuf, too large, or did not convert (a bad enum value,
    /// a missing field).
    pub decode_errors: u64,
    /// Streams that broke the protocol (no hello first, a second hello).
    pub protocol_errors: u64,
    /// Batches the sink refused.
    pub sink_errors: u64,
}

impl IngestMetrics {
    pub fn snapshot(&self) -> IngestCounters {
        IngestCounters {
            streams_open: self.streams_open.load(Relaxed),
            streams: self.streams.load(Relaxed),
            batches: self.batches.load(Relaxed),
            results: self.results.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            decode_errors: self.decode_errors.load(Relaxed),
            protocol_errors: self.protocol_errors.load(Relaxed),
            sink_errors: self.sink_errors.load(Relaxed),
        }
    }
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}
