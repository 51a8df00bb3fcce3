//! Counts of dropped events by kind, in one shape wherever they are kept: what producers
//! dropped before the client ([`DropCounter`](super::DropCounter)), what making room stripped
//! from a batch ([`super::wire::strip`]), a batch's own and cumulative drops (the window), the
//! totals in `/metrics`, and [`v1::Drops`] on the wire. Backend declarations are never dropped,
//! so they have no count.

use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use probesim_proto::v1;

use super::wire::Counts;
use crate::event::Event;

/// Dropped events by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub results: u64,
    pub transitions: u64,
    pub lifecycle: u64,
}

impl DropCounts {
    pub fn is_empty(&self) -> bool {
        *self == DropCounts::default()
    }

    /// One event of `event`'s kind; `None` for backend declarations and removals, which are
    /// never dropped.
    pub fn one(event: &Event) -> Option<DropCounts> {
        let none = DropCounts::default();
        match event {
            Event::Result(_) => Some(DropCounts { results: 1, ..none }),
            Event::Transition(_) => Some(DropCounts {
                transitions: 1,
                ..none
            }),
            Event::Lifecycle(_) => Some(DropCounts {
                lifecycle: 1,
                ..none
            }),
            Event::Backend(_) | Event::BackendRemoved { .. } => None,
        }
    }

    /// Everything droppable that a batch of `counts` holds (a batch lost whole).
    pub fn all_of(counts: Counts) -> DropCounts {
        DropCounts {
            results: counts.results,
            transitions: counts.transitions,
            lifecycle: counts.lifecycle,
        }
    }
}

impl AddAssign for DropCounts {
    fn add_assign(&mut self, other: DropCounts) {
        self.results += other.results;
        self.transitions += other.transitions;
        self.lifecycle += other.lifecycle;
    }
}

impl From<v1::Drops> for DropCounts {
    fn from(d: v1::Drops) -> Self {
        DropCounts {
            results: d.results,
            transitions: d.transitions,
            lifecycle: d.lifecycle,
        }
    }
}

impl From<DropCounts> for v1::Drops {
    fn from(d: DropCounts) -> Self {
        v1::Drops {
            results: d.results,
            transitions: d.transitions,
            lifecycle: d.lifecycle,
        }
    }
}

/// [`DropCounts`] that several tasks add to.
#[derive(Debug, Default)]
pub struct AtomicDropCounts {
    results: AtomicU64,
    transitions: AtomicU64,
    lifecycle: AtomicU64,
}

impl AtomicDropCounts {
    /// Adds `d`; a drop of one event touches one counter.
    pub fn add(&self, d: DropCounts) {
        for (counter, n) in [
            (&self.results, d.results),
            (&self.transitions, d.transitions),
            (&self.lifecycle, d.lifecycle),
        ] {
            if n != 0 {
                counter.fetch_add(n, Relaxed);
            }
        }
    }

    pub fn load(&self) -> DropCounts {
        DropCounts {
            results: self.results.load(Relaxed),
            transitions: self.transitions.load(Relaxed),
            lifecycle: self.lifecycle.load(Relaxed),
        }
    }

    /// The counts since the last call.
    pub fn take(&self) -> DropCounts {
        DropCounts {
            results: self.results.swap(0, Relaxed),
            transitions: self.transitions.swap(0, Relaxed),
            lifecycle: self.lifecycle.swap(0, Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::fixtures;

    #[test]
    fn drop_counts_go_to_the_wire_and_back_unchanged() {
        let d = DropCounts {
            results: 1,
            transitions: 2,
            lifecycle: 3,
        };
        let wire: v1::Drops = d.into();
        assert_eq!((wire.results, wire.transitions, wire.lifecycle), (1, 2, 3));
        assert_eq!(DropCounts::from(wire), d);
    }

    #[test]
    fn each_droppable_event_counts_once_under_its_kind_and_declarations_never() {
        let none = DropCounts::default();
        let cases = [
            (
                Event::Result(fixtures::success(1, 0)),
                Some(DropCounts { results: 1, ..none }),
            ),
            (Event::Backend(fixtures::backend(1)), None),
        ];
        for (event, expected) in cases {
            assert_eq!(DropCounts::one(&event), expected, "{event:?}");
        }
    }

    #[test]
    fn atomic_counts_add_up_and_take_resets_them() {
        let counts = AtomicDropCounts::default();
        let d = DropCounts {
            results: 4,
            transitions: 0,
            lifecycle: 1,
        };
        counts.add(d);
        counts.add(d);
        let mut twice = d;
        twice += d;
        assert_eq!(counts.load(), twice);
        assert_eq!(counts.take(), twice);
        assert!(counts.load().is_empty());
    }
}
