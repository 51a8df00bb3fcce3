//! The daemon's way out for events: a bounded channel to the stream client (or the lab) that
//! never makes the daemon wait.
//!
//! A full channel drops results, transitions and lifecycle events, counted in the daemon's
//! `/metrics` and in the stream's drop counts (so the collector shows the loss as a gap). Backend
//! declarations and removals are never dropped: they wait in a backlog, in order, and while one
//! waits every later result, transition or lifecycle event is dropped too, because the collector
//! refuses results of a backend it has not been told about.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc::{self, error::TrySendError};

use super::metrics::{KindLabels, Metrics};
use crate::event::Event;
use crate::stream::DropCounter;

/// Where the daemon's events go.
#[derive(Clone, Debug)]
pub struct Events {
    pub tx: mpsc::Sender<Event>,
    /// Counts of what was dropped, for the consumer to report (the stream client's
    /// [`crate::stream::Handle::drop_counter`]); `None` when only `/metrics` counts them.
    pub drops: Option<Arc<DropCounter>>,
}

impl Events {
    pub fn new(tx: mpsc::Sender<Event>) -> Self {
        Events { tx, drops: None }
    }
}

#[derive(Debug)]
pub(crate) struct Outbox {
    events: Option<Events>,
    metrics: Arc<Metrics>,
    backlog: VecDeque<Event>,
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Result(_) => "result",
        Event::Transition(_) => "transition",
        Event::Lifecycle(_) => "lifecycle",
        Event::Backend(_) | Event::BackendRemoved { .. } => "backend",
    }
}

fn must_arrive(event: &Event) -> bool {
    matches!(event, Event::Backend(_) | Event::BackendRemoved { .. })
}

impl Outbox {
    pub(crate) fn new(events: Option<Events>, metrics: Arc<Metrics>) -> Self {
        Outbox {
            events,
            metrics,
            backlog: VecDeque::new(),
        }
    }

    /// Declarations waiting for room in the channel.
    #[cfg(test)]
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.len()
    }

    pub(crate) fn send(&mut self, event: Event) {
        if self.events.is_none() {
            return;
        }
        self.flush();
        let Some(events) = &self.events else { return };
        if !self.backlog.is_empty() {
            if must_arrive(&event) {
                self.backlog.push_back(event);
            } else {
                dropped(&self.metrics, events, &event);
            }
            return;
        }
        match events.tx.try_send(event) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(event)) if must_arrive(&event) => self.backlog.push_back(event),
            Err(TrySendError::Full(event)) => dropped(&self.metrics, events, &event),
        }
    }

    /// Hands waiting declarations over as far as the channel takes them; called with every
    /// event and on the daemon's tick.
    pub(crate) fn flush(&mut self) {
        let Some(events) = &self.events else { return };
        while let Some(event) = self.backlog.pop_front() {
            match events.tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.backlog.push_front(event);
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }
}

fn dropped(metrics: &Metrics, events: &Events, event: &Event) {
    if let Some(drops) = &events.drops {
        drops.count(event);
    }
    metrics
        .dropped
        .get_or_create(&KindLabels {
            kind: kind(event).to_owned(),
        })
        .inc();
}

#[cfg(test)]
mod tests;
