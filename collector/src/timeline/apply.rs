//! One batch folded into the next flush: checked first, so that a batch is taken whole or not at
//! all, then applied event by event in the agent's order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use probesim_agent::event::{BackendId, Event};

use super::rollup::second_of;
use super::{AgentRow, BackendRow, Pending, Registry, TransitionRow};
use crate::model::{Batch, DropCounts, Gap, SinkError};

/// What became of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Its events are in the pending flush.
    Taken,
    /// Its sequence was already taken: it changed nothing.
    Duplicate,
}

/// Checks `batch` against the live registry and folds it into `pending`. A batch that refers to
/// a backend neither declared earlier nor in the batch itself changes nothing.
pub fn apply(
    live: &mut Registry,
    pending: &mut Pending,
    batch: Batch,
) -> Result<Applied, SinkError> {
    let previous = live
        .agents
        .get(&batch.agent)
        .cloned()
        .unwrap_or_else(|| AgentRow::new(batch.agent.clone()));
    if batch.sequence <= previous.last_sequence {
        return Ok(Applied::Duplicate);
    }
    let scan = scan(live, &batch)?;

    let agent = batch.agent.clone();
    let mut rows = live.bindings_of(&agent).cloned().unwrap_or_default();
    let mut results = 0;
    for event in batch.events {
        match event {
            Event::Backend(declared) => {
                let key = Arc::new(declared.key.clone());
                let existing = live.row_of_key(&key);
                let id = existing.unwrap_or_else(|| live.allocate());
                let first_seen = existing
                    .and_then(|row| live.backends.get(&row))
                    .map(|b| b.first_seen)
                    .or_else(|| scan.first_seen.get(&declared.id).copied())
                    .unwrap_or(batch.sent_at);
                let row = BackendRow {
                    id,
                    agent: agent.clone(),
                    key,
                    spec: declared.spec.clone(),
                    probers: declared.probers,
                    also_for: declared.also_for.clone(),
                    first_seen,
                    removed_at: None,
                };
                live.put_backend(row.clone());
                pending.backends.insert(id, row);
                live.bind(agent.clone(), declared.id, id);
                rows.insert(declared.id, id);
                pending.bindings.push((agent.clone(), declared.id, id));
            }
            Event::BackendRemoved { id, at } => {
                if let Some(row) = rows.get(&id)
                    && let Some(backend) = live.backends.get_mut(row)
                {
                    backend.removed_at = Some(at);
                    pending.backends.insert(*row, backend.clone());
                }
            }
            Event::Result(result) => {
                if let Some(row) = rows.get(&result.backend) {
                    let second = second_of(result.started_at);
                    pending
                        .rollups
                        .entry((*row, second))
                        .or_default()
                        .add(&result);
                    results += 1;
                }
            }
            Event::Transition(change) => {
                if let Some(row) = rows.get(&change.backend) {
                    pending.transitions.push(TransitionRow {
                        backend: *row,
                        change,
                    });
                }
            }
            Event::Lifecycle(lifecycle) => pending.lifecycle.push((agent.clone(), lifecycle)),
        }
    }

    let dropped = dropped_since(previous.dropped, batch.dropped);
    let hole = previous.last_sequence > 0 && batch.sequence > previous.last_sequence + 1;
    if dropped != DropCounts::default() || hole {
        let to = scan.earliest.unwrap_or(batch.sent_at);
        let from = previous.last_batch_at.unwrap_or(to).min(to);
        pending.gaps.push(Gap {
            agent: agent.clone(),
            from,
            to,
            dropped,
        });
    }
    let row = AgentRow {
        last_sequence: batch.sequence,
        last_batch_at: Some(batch.sent_at),
        dropped: batch.dropped,
        ..previous
    };
    live.agents.insert(agent.clone(), row.clone());
    pending.agents.insert(agent, row);
    pending.batches += 1;
    pending.results += results;
    Ok(Applied::Taken)
}

/// What the check of a batch learnt on the way.
struct Scan {
    /// The earliest time of any event in the batch.
    earliest: Option<SystemTime>,
    /// For backends declared in the batch: the time of the first event after the declaration
    /// (declarations carry no time of their own).
    first_seen: HashMap<BackendId, SystemTime>,
}

fn scan(live: &Registry, batch: &Batch) -> Result<Scan, SinkError> {
    let bound = live.bindings_of(&batch.agent);
    let mut declared: HashSet<BackendId> = HashSet::new();
    let mut awaiting: Vec<BackendId> = Vec::new();
    let mut scan = Scan {
        earliest: None,
        first_seen: HashMap::new(),
    };
    for event in &batch.events {
        let (referred, at) = match event {
            Event::Backend(backend) => {
                declared.insert(backend.id);
                awaiting.push(backend.id);
                continue;
            }
            Event::BackendRemoved { id, at } => (Some(*id), *at),
            Event::Result(result) => (Some(result.backend), result.started_at),
            Event::Transition(change) => (Some(change.backend), change.at),
            // When the agent saw it: an object's own time may be days old (a pod's creation).
            Event::Lifecycle(lifecycle) => (None, lifecycle.seen_at),
        };
        if let Some(id) = referred {
            let known = bound.is_some_and(|ids| ids.contains_key(&id));
            if !known && !declared.contains(&id) {
                return Err(SinkError::UnknownBackend {
                    agent: batch.agent.clone(),
                    sequence: batch.sequence,
                    backend: id,
                });
            }
        }
        scan.earliest = Some(scan.earliest.map_or(at, |e| e.min(at)));
        for id in awaiting.drain(..) {
            scan.first_seen.insert(id, at);
        }
    }
    Ok(scan)
}

/// What an agent dropped between two batches, from its counters since it started. Counters
/// that went down mean the agent restarted: everything counted since is new.
pub fn dropped_since(before: DropCounts, now: DropCounts) -> DropCounts {
    let restarted = now.results < before.results
        || now.transitions < before.transitions
        || now.lifecycle < before.lifecycle;
    if restarted {
        return now;
    }
    DropCounts {
        results: now.results - before.results,
        transitions: now.transitions - before.transitions,
        lifecycle: now.lifecycle - before.lifecycle,
    }
}

#[cfg(test)]
mod tests;
