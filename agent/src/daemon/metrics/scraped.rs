//! Figures kept by other parts of the agent (the collector stream's, the passive observer's),
//! read and rendered at each scrape. The exporter is registered when the metrics are made, before
//! those parts start; until its source is attached (and without a collector or `--observe`)
//! nothing is rendered.

use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// A metric's name (after the registry's prefix), help text and value.
pub type Sample = (&'static str, &'static str, u64);

/// Live figures to render at a scrape.
pub trait Scraped: fmt::Debug + Send + Sync + 'static {
    fn gauges(&self) -> Vec<Sample> {
        Vec::new()
    }
    /// Counters, named without `_total` (the encoder adds it).
    fn counters(&self) -> Vec<Sample>;
}

/// The registered exporter of one [`Scraped`] source.
#[derive(Debug)]
pub struct Attached<T> {
    source: OnceLock<Arc<T>>,
}

impl<T> Default for Attached<T> {
    fn default() -> Self {
        Attached {
            source: OnceLock::new(),
        }
    }
}

impl<T: Scraped> Attached<T> {
    /// Renders this source's figures from now on (the first call wins).
    pub fn attach(&self, source: Arc<T>) {
        let _ = self.source.set(source);
    }
}

impl<T: Scraped> Collector for Attached<T> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let Some(source) = self.source.get() else {
            return Ok(());
        };
        for (name, help, value) in source.gauges() {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        for (name, help, value) in source.counters() {
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
