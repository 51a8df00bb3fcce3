//! The batches the collector has not acknowledged yet, oldest first: in memory up to a byte
//! bound, then in the spool up to its own bound. Beyond both, the oldest batches lose their
//! results (then their transitions and lifecycle events), counted per kind; backend
//! declarations are never dropped, so they may exceed the bounds.
//!
//! Drop counts: each batch remembers what was stripped from it (its `own` drops). A batch is
//! sent with the agent's cumulative count up to and including it, so the collector sees the
//! counter grow exactly at the batch whose time range lost data. A batch stripped after it was
//! sent (and before its ack) may be counted as dropped although the collector got it whole.

use std::collections::VecDeque;
use std::sync::Arc;

use probesim_proto::v1;
use prost::Message;

use super::drops::DropCounts;
use super::metrics::{StreamMetrics, add, set};
use super::spool::Spool;
use super::wire::{Counts, StripLevel, counts, strip};

#[derive(Debug)]
enum Place {
    Memory(Box<v1::Batch>),
    Spool,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    place: Place,
    /// Encoded size (in memory) or file size (spooled).
    bytes: u64,
    /// `None` for batches spooled by an earlier process, until they are read.
    counts: Option<Counts>,
    own: DropCounts,
    level: Option<StripLevel>,
}

/// Bounds of the window.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub memory_bytes: u64,
    pub spool_bytes: u64,
}

#[derive(Debug)]
pub struct Window {
    entries: VecDeque<Entry>,
    /// `entries[..sent]` are in flight on the current stream.
    sent: usize,
    memory_bytes: u64,
    spool_bytes: u64,
    bounds: Bounds,
    spool: Option<Spool>,
    /// Own drops of acknowledged batches.
    acked_drops: DropCounts,
    /// `acked_drops` plus the own drops of the batches in flight.
    sent_drops: DropCounts,
    metrics: Arc<StreamMetrics>,
}

impl Window {
    /// A window over `spool`, starting with the batches spooled by an earlier process.
    pub fn new(
        bounds: Bounds,
        spool: Option<Spool>,
        spooled: &[(u64, u64)],
        metrics: Arc<StreamMetrics>,
    ) -> Window {
        let mut w = Window {
            entries: VecDeque::new(),
            sent: 0,
            memory_bytes: 0,
            spool_bytes: 0,
            bounds,
            spool,
            acked_drops: DropCounts::default(),
            sent_drops: DropCounts::default(),
            metrics,
        };
        for &(seq, bytes) in spooled {
            w.entries.push_back(Entry {
                seq,
                place: Place::Spool,
                bytes,
                counts: None,
                own: DropCounts::default(),
                level: None,
            });
            w.spool_bytes += bytes;
        }
        w.publish();
        w
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn in_flight(&self) -> usize {
        self.sent
    }

    pub fn has_unsent(&self) -> bool {
        self.sent < self.entries.len()
    }

    fn publish(&self) {
        set(&self.metrics.window_batches, self.entries.len() as u64);
        set(&self.metrics.memory_bytes, self.memory_bytes);
        set(&self.metrics.spool_bytes, self.spool_bytes);
    }

    /// Adds a sealed batch whose `dropped` field holds its own drops (those of producers).
    pub fn push(&mut self, batch: v1::Batch) {
        let own = batch.dropped.map(DropCounts::from).unwrap_or_default();
        let bytes = batch.encoded_len() as u64;
        self.memory_bytes += bytes;
        self.entries.push_back(Entry {
            seq: batch.sequence,
            counts: Some(counts(&batch)),
            place: Place::Memory(Box::new(batch)),
            bytes,
            own,
            level: None,
        });
        self.enforce_bounds();
        self.publish();
    }

    /// Spills, then strips, the oldest batches until the memory bound holds (or only backend
    /// declarations are left).
    fn enforce_bounds(&mut self) {
        let mut spool_failed = false;
        while self.memory_bytes > self.bounds.memory_bytes {
            let oldest_in_memory = self
                .entries
                .iter()
                .position(|e| matches!(e.place, Place::Memory(_)));
            if let (Some(i), Some(_), false) = (oldest_in_memory, &self.spool, spool_failed)
                && self.spool_bytes + self.entries[i].bytes <= self.bounds.spool_bytes
            {
                if self.spill(i) {
                    continue;
                }
                spool_failed = true;
            }
            let strippable = |level: StripLevel| {
                move |e: &Entry| match level {
                    StripLevel::Results => e.level.is_none(),
                    StripLevel::AllButBackends => e.level != Some(StripLevel::AllButBackends),
                }
            };
            let target = [StripLevel::Results, StripLevel::AllButBackends]
                .into_iter()
                .find_map(|level| {
                    self.entries
                        .iter()
                        .position(strippable(level))
                        .map(|i| (i, level))
                });
            match target {
                Some((i, level)) => self.strip_entry(i, level),
                None => break,
            }
        }
    }

    /// Moves one batch from memory to the spool; false when the spool write failed.
    fn spill(&mut self, i: usize) -> bool {
        let (Some(spool), Some(entry)) = (&self.spool, self.entries.get_mut(i)) else {
            return false;
        };
        let Place::Memory(batch) = &mut entry.place else {
            return true;
        };
        batch.dropped = Some(entry.own.into());
        match spool.write(batch) {
            Ok(len) => {
                self.memory_bytes -= entry.bytes;
                entry.bytes = len;
                self.spool_bytes += len;
                entry.place = Place::Spool;
                add(&self.metrics.spilled, 1);
                true
            }
            Err(e) => {
                add(&self.metrics.spool_errors, 1);
                tracing::error!(error = %e, seq = entry.seq, "stream: cannot spool a batch; keeping it in memory");
                false
            }
        }
    }

    fn strip_entry(&mut self, i: usize, level: StripLevel) {
        let in_flight = i < self.sent;
        let spool = self.spool.as_ref();
        let Some(entry) = self.entries.get_mut(i) else {
            return;
        };
        let was_spooled = matches!(entry.place, Place::Spool);
        let read = match std::mem::replace(&mut entry.place, Place::Spool) {
            Place::Memory(b) => Some(*b),
            Place::Spool => spool.and_then(|s| s.read(entry.seq).ok()),
        };
        if was_spooled {
            self.spool_bytes -= entry.bytes;
            if let Some(spool) = spool
                && let Err(e) = spool.remove(entry.seq)
            {
                add(&self.metrics.spool_errors, 1);
                tracing::warn!(error = %e, "stream: cannot remove a spooled batch");
            }
        } else {
            self.memory_bytes -= entry.bytes;
        }
        let (mut batch, removed) = match read {
            Some(mut batch) => {
                let removed = strip(&mut batch, level);
                (batch, removed)
            }
            None => {
                // Unreadable: its content is lost, counted as what it was known to hold.
                add(&self.metrics.spool_errors, 1);
                let lost = DropCounts::all_of(entry.counts.unwrap_or_default());
                let empty = v1::Batch {
                    sequence: entry.seq,
                    ..v1::Batch::default()
                };
                (empty, lost)
            }
        };
        self.metrics.dropped.add(removed);
        entry.own += removed;
        if in_flight {
            self.sent_drops += removed;
        }
        entry.level = Some(level);
        entry.counts = Some(counts(&batch));
        batch.dropped = Some(entry.own.into());
        // A batch that was spooled stays spooled (what is left are backend declarations).
        if was_spooled && let Some(Ok(len)) = spool.map(|s| s.write(&batch)) {
            entry.bytes = len;
            self.spool_bytes += len;
            entry.place = Place::Spool;
            return;
        }
        entry.bytes = batch.encoded_len() as u64;
        self.memory_bytes += entry.bytes;
        entry.place = Place::Memory(Box::new(batch));
    }

    /// The next batch to send, with the cumulative drop count up to it; `None` when every
    /// batch is in flight.
    pub fn next_to_send(&mut self) -> Option<v1::Batch> {
        if self.sent < self.entries.len() {
            let i = self.sent;
            let entry = &mut self.entries[i];
            let batch = match &entry.place {
                Place::Memory(b) => Some((**b).clone()),
                Place::Spool => match self.spool.as_ref().map(|s| s.read(entry.seq)) {
                    Some(Ok(b)) => {
                        if entry.counts.is_none() {
                            entry.counts = Some(counts(&b));
                            entry.own = b.dropped.map(DropCounts::from).unwrap_or_default();
                        }
                        Some(b)
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "stream: spooled batch unreadable; sending it empty");
                        add(&self.metrics.spool_errors, 1);
                        None
                    }
                    None => None,
                },
            };
            let mut batch = batch.unwrap_or_else(|| v1::Batch {
                sequence: entry.seq,
                ..v1::Batch::default()
            });
            self.sent_drops += entry.own;
            batch.dropped = Some(self.sent_drops.into());
            self.sent += 1;
            return Some(batch);
        }
        None
    }

    /// The collector has every batch up to `seq`: forget them.
    pub fn acknowledge(&mut self, seq: u64) -> (u64, u64) {
        let (mut batches, mut events) = (0, 0);
        while let Some(front) = self.entries.front() {
            if front.seq > seq {
                break;
            }
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            if self.sent > 0 {
                self.sent -= 1;
            } else {
                // Never sent on this stream (a welcome's last sequence): its drops move into the
                // base without having been sent.
                self.sent_drops += e.own;
            }
            self.acked_drops += e.own;
            match e.place {
                Place::Memory(_) => self.memory_bytes -= e.bytes,
                Place::Spool => {
                    self.spool_bytes -= e.bytes;
                    if let Some(spool) = &self.spool
                        && let Err(err) = spool.remove(e.seq)
                    {
                        add(&self.metrics.spool_errors, 1);
                        tracing::warn!(error = %err, "stream: cannot remove a spooled batch");
                    }
                }
            }
            batches += 1;
            events += e.counts.map_or(0, |c| {
                c.backends + c.removed + c.results + c.transitions + c.lifecycle
            });
        }
        self.publish();
        (batches, events)
    }

    /// The stream broke: every batch in flight is sent again on the next one.
    pub fn rewind(&mut self) {
        self.sent = 0;
        self.sent_drops = self.acked_drops;
    }

    /// Moves every batch still in memory to the spool (before the agent exits).
    pub fn spill_all(&mut self) {
        for i in 0..self.entries.len() {
            if matches!(self.entries[i].place, Place::Memory(_)) && !self.spill(i) {
                break;
            }
        }
        self.publish();
    }
}

#[cfg(test)]
mod tests;
