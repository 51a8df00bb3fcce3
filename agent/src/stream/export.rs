//! The streaming client's figures in the agent's `/metrics` (`probesim_stream_*`), read at each
//! scrape through the daemon's [`Attached`](crate::daemon::metrics::Attached) exporter.

use crate::daemon::metrics::{Sample, Scraped};

use super::metrics::{StreamCounters, StreamMetrics};

impl Scraped for StreamMetrics {
    fn gauges(&self) -> Vec<Sample> {
        gauges(&self.snapshot()).to_vec()
    }

    fn counters(&self) -> Vec<Sample> {
        counters(&self.snapshot()).to_vec()
    }
}

fn gauges(c: &StreamCounters) -> [Sample; 4] {
    [
        (
            "stream_connected",
            "Whether a stream to the collector is up and welcomed (1) or not (0)",
            c.connected,
        ),
        (
            "stream_unacked_batches",
            "Batches the collector has not acknowledged yet, in memory and spooled",
            c.window_batches,
        ),
        (
            "stream_memory_bytes",
            "Bytes of unacknowledged batches held in memory",
            c.memory_bytes,
        ),
        (
            "stream_spool_bytes",
            "Bytes of unacknowledged batches in the spool directory",
            c.spool_bytes,
        ),
    ]
}

fn counters(c: &StreamCounters) -> [Sample; 10] {
    [
        (
            "stream_connects",
            "Streams the collector welcomed",
            c.connects,
        ),
        (
            "stream_connect_failures",
            "Connections, TLS handshakes or hellos that failed, and streams that broke",
            c.connect_failures,
        ),
        (
            "stream_batches_sent",
            "Batches sent to the collector, resends included",
            c.batches_sent,
        ),
        (
            "stream_batches_acked",
            "Batches the collector acknowledged as stored",
            c.batches_acked,
        ),
        (
            "stream_events_acked",
            "Events in batches the collector acknowledged",
            c.events_acked,
        ),
        (
            "stream_spilled_batches",
            "Batches written to the spool because memory's bound was reached",
            c.spilled,
        ),
        (
            "stream_spool_errors",
            "Spool reads and writes that failed (a full disk)",
            c.spool_errors,
        ),
        (
            "stream_dropped_results",
            "Results that never reached the collector: dropped on their way to the stream while it was behind, or from the oldest unacknowledged batches when memory and spool were full",
            c.dropped_results,
        ),
        (
            "stream_dropped_transitions",
            "State changes that never reached the collector: dropped on their way to the stream while it was behind, or from the oldest unacknowledged batches when memory and spool were full",
            c.dropped_transitions,
        ),
        (
            "stream_dropped_lifecycle",
            "Lifecycle events that never reached the collector: dropped on their way to the stream while it was behind, or from the oldest unacknowledged batches when memory and spool were full",
            c.dropped_lifecycle,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use std::sync::Arc;

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::daemon::metrics::Attached;

    fn render(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn stream_counters_appear_once_a_client_is_attached() {
        let export = Arc::new(Attached::<StreamMetrics>::default());
        let mut registry = Registry::with_prefix("probesim");
        registry.register_collector(Box::new(export.clone()));
        assert!(!render(&registry).contains("stream_"));

        let metrics = Arc::new(StreamMetrics::default());
        metrics.connected.store(1, Relaxed);
        metrics.batches_acked.store(42, Relaxed);
        metrics.spool_bytes.store(4096, Relaxed);
        export.attach(metrics);
        let text = render(&registry);
        for line in [
            "probesim_stream_connected 1",
            "probesim_stream_batches_acked_total 42",
            "probesim_stream_spool_bytes 4096",
            "probesim_stream_connect_failures_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
