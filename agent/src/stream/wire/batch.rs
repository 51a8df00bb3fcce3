//! Batches: the agent's events in order, as typed lists plus the runs that interleave them
//! ([`v1::Batch::order`]).

use std::time::SystemTime;

use crate::event::Event;
use crate::stream::drops::DropCounts;

use super::backend::{
    backend_from_wire, backend_to_wire, lifecycle_from_wire, lifecycle_to_wire, removed_to_wire,
    transition_from_wire, transition_to_wire,
};
use super::error::{Error, Result};
use super::results::{push_result, results_from_wire};
use super::time::{from_ns, to_ns};
use probesim_proto::v1;
use probesim_proto::v1::EventKind;

/// Bits of an `order` entry that hold the kind; the rest is the run's length.
const KIND_BITS: u32 = 3;
const KIND_MASK: u32 = (1 << KIND_BITS) - 1;
const MAX_RUN: u32 = u32::MAX >> KIND_BITS;

/// Builds one batch event by event.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    batch: v1::Batch,
    last_start_ns: i64,
    events: usize,
}

impl BatchBuilder {
    pub fn new() -> Self {
        BatchBuilder::default()
    }

    pub fn push(&mut self, event: &Event) {
        let b = &mut self.batch;
        let kind = match event {
            Event::Backend(backend) => {
                b.backends.push(backend_to_wire(backend));
                EventKind::Backend
            }
            Event::BackendRemoved { id, at } => {
                b.removed.push(removed_to_wire(*id, *at));
                EventKind::BackendRemoved
            }
            Event::Result(r) => {
                let cols = b.results.get_or_insert_with(Default::default);
                push_result(cols, &mut self.last_start_ns, r);
                EventKind::Result
            }
            Event::Transition(c) => {
                b.transitions.push(transition_to_wire(c));
                EventKind::Transition
            }
            Event::Lifecycle(l) => {
                b.lifecycle.push(lifecycle_to_wire(l));
                EventKind::Lifecycle
            }
        };
        push_run(&mut b.order, kind, 1);
        self.events += 1;
    }

    /// Events pushed so far.
    pub fn len(&self) -> usize {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The batch, stamped with its sequence, its send time and the agent's drop counters.
    pub fn finish(self, sequence: u64, sent_at: SystemTime, dropped: v1::Drops) -> v1::Batch {
        v1::Batch {
            sequence,
            sent_at_ns: to_ns(sent_at),
            dropped: Some(dropped),
            ..self.batch
        }
    }
}

fn push_run(order: &mut Vec<u32>, kind: EventKind, count: u32) {
    if let Some(last) = order.last_mut()
        && *last & KIND_MASK == kind as u32
        && (*last >> KIND_BITS) + count <= MAX_RUN
    {
        *last += count << KIND_BITS;
        return;
    }
    order.push(count << KIND_BITS | kind as u32);
}

/// How many events of each kind a batch holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub backends: u64,
    pub removed: u64,
    pub results: u64,
    pub transitions: u64,
    pub lifecycle: u64,
}

pub fn counts(batch: &v1::Batch) -> Counts {
    Counts {
        backends: batch.backends.len() as u64,
        removed: batch.removed.len() as u64,
        results: batch.results.as_ref().map_or(0, |r| r.backend.len()) as u64,
        transitions: batch.transitions.len() as u64,
        lifecycle: batch.lifecycle.len() as u64,
    }
}

/// The batch's events, in the order the agent produced them.
pub fn events_from_wire(batch: &v1::Batch) -> Result<Vec<Event>> {
    let results = match &batch.results {
        Some(cols) => results_from_wire(cols)?,
        None => Vec::new(),
    };
    let mut cursor = [0usize; 6];
    let lens = [
        0,
        batch.backends.len(),
        batch.removed.len(),
        results.len(),
        batch.transitions.len(),
        batch.lifecycle.len(),
    ];
    let names = [
        "",
        "backends",
        "removed",
        "results",
        "transitions",
        "lifecycle",
    ];
    let mut events = Vec::with_capacity(lens.iter().sum());
    for (run_index, &run) in batch.order.iter().enumerate() {
        let kind = EventKind::try_from((run & KIND_MASK) as i32)
            .ok()
            .filter(|k| *k != EventKind::Unspecified)
            .ok_or(Error::UnknownEnum {
                field: format!("batch.order[{run_index}]"),
                kind: "probesim.v1.EventKind",
                value: (run & KIND_MASK) as i32,
            })?;
        let k = kind as usize;
        let count = (run >> KIND_BITS) as usize;
        let (from, to) = (cursor[k], cursor[k] + count);
        if to > lens[k] {
            return Err(Error::Length {
                field: format!("batch.{}", names[k]),
                expected: to,
                got: lens[k],
            });
        }
        // `i` indexes whichever list `kind` names.
        #[allow(clippy::needless_range_loop)]
        for i in from..to {
            let field = || format!("batch.{}[{i}]", names[k]);
            events.push(match kind {
                EventKind::Backend => Event::Backend(std::sync::Arc::new(backend_from_wire(
                    &batch.backends[i],
                    &field(),
                )?)),
                EventKind::BackendRemoved => Event::BackendRemoved {
                    id: batch.removed[i].id,
                    at: from_ns(batch.removed[i].at_ns),
                },
                EventKind::Result => Event::Result(results[i]),
                EventKind::Transition => {
                    Event::Transition(transition_from_wire(&batch.transitions[i], &field())?)
                }
                EventKind::Lifecycle => {
                    Event::Lifecycle(lifecycle_from_wire(&batch.lifecycle[i], &field())?)
                }
                EventKind::Unspecified => return Err(Error::missing("batch.order kind")),
            });
        }
        cursor[k] = to;
    }
    for k in 1..6 {
        if cursor[k] != lens[k] {
            return Err(Error::Length {
                field: format!("batch.order ({})", names[k]),
                expected: lens[k],
                got: cursor[k],
            });
        }
    }
    Ok(events)
}

/// Which events [`strip`] removes. Backend declarations and removals are never removed: results
/// of later batches refer to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripLevel {
    Results,
    /// Results, transitions and lifecycle events.
    AllButBackends,
}

/// Removes events from a batch to make room, keeping the order of what remains; returns what
/// it removed.
pub fn strip(batch: &mut v1::Batch, level: StripLevel) -> DropCounts {
    let c = counts(batch);
    let mut removed = DropCounts {
        results: c.results,
        ..DropCounts::default()
    };
    let mut drop_kinds = vec![EventKind::Result as u32];
    batch.results = None;
    if level == StripLevel::AllButBackends {
        removed.transitions = c.transitions;
        removed.lifecycle = c.lifecycle;
        batch.transitions.clear();
        batch.lifecycle.clear();
        drop_kinds.extend([EventKind::Transition as u32, EventKind::Lifecycle as u32]);
    }
    let old = std::mem::take(&mut batch.order);
    for run in old {
        if drop_kinds.contains(&(run & KIND_MASK)) {
            continue;
        }
        let kind = EventKind::try_from((run & KIND_MASK) as i32).unwrap_or(EventKind::Unspecified);
        push_run(&mut batch.order, kind, run >> KIND_BITS);
    }
    removed
}

#[cfg(test)]
mod tests;
