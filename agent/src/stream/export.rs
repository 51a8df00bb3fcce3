//! The streaming client's counters in the agent's `/metrics` (`probesim_stream_*`), read at each
//! scrape. Registered before the client starts (the HTTP listener comes first); until
//! [`StreamExport::attach`], and without a collector, nothing is rendered.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::metrics::{StreamCounters, StreamMetrics};

#[derive(Debug, Default)]
pub struct StreamExport {
    metrics: OnceLock<Arc<StreamMetrics>>,
}

impl StreamExport {
    /// Renders this client's counters from now on (the first call wins).
    pub fn attach(&self, metrics: Arc<StreamMetrics>) {
        let _ = self.metrics.set(metrics);
    }
}

fn gauges(c: &StreamCounters) -> [(&'static str, &'static str, u64); 4] {
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

fn counters(c: &StreamCounters) -> [(&'static str, &'static str, u64); 10] {
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
            "Results dropped from the oldest unacknowledged batches when memory and spool were full",
            c.dropped_results,
        ),
        (
            "stream_dropped_transitions",
            "State changes dropped from the oldest unacknowledged batches when memory and spool were full",
            c.dropped_transitions,
        ),
        (
            "stream_dropped_lifecycle",
            "Lifecycle events dropped from the oldest unacknowledged batches when memory and spool were full",
            c.dropped_lifecycle,
        ),
    ]
}

impl Collector for StreamExport {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(metrics) = self.metrics.get() else {
            return Ok(());
        };
        let c = metrics.snapshot();
        for (name, help, value) in gauges(&c) {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        for (name, help, value) in counters(&c) {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use prometheus_client::registry::Registry;

    use super::*;

    fn render(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn stream_counters_appear_once_a_client_is_attached() {
        let export = Arc::new(StreamExport::default());
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
