//! The watches' figures in the agent's `/metrics` (`probesim_watch_*`), read at each scrape.

use std::sync::Arc;

use super::{Metrics, Sample, Scraped};
use crate::discovery::watch::Shared;
use crate::stream::DropCounter;

impl Scraped for Shared {
    fn counters(&self) -> Vec<Sample> {
        vec![(
            "watch_dropped_lifecycle",
            "Lifecycle events the watches dropped because the daemon was behind",
            self.dropped_lifecycle(),
        )]
    }
}

impl Metrics {
    /// Renders the watches' figures from now on and, with a collector stream, counts the
    /// lifecycle events they drop in the stream's drop counts as well (as the daemon's own drops
    /// are), so that the collector shows the loss as a gap.
    pub fn attach_watch(&self, watch: &Arc<Shared>, stream: Option<Arc<DropCounter>>) {
        self.watch.attach(watch.clone());
        if let Some(stream) = stream {
            watch.forward_drops(stream);
        }
    }
}
