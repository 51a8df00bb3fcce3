use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::lb::outcome::Outcome;
use proptest::prelude::*;

use super::*;
use crate::store::synthetic::{self, at_ms};

const T0: u64 = 1_700_000_000_000;

fn batch(sequence: u64, dropped: DropCounts, events: Vec<Event>) -> Batch {
    Batch {
        agent: synthetic::agent_id("n1"),
        sequence,
        sent_at: at_ms(T0 + sequence * 1000),
        events,
        dropped,
    }
}

fn result_at(backend: u64, ms: u64) -> Event {
    let spec = synthetic::alb_spec("200");
    Event::Result(synthetic::result(
        &spec,
        backend,
        0,
        at_ms(ms),
        Outcome::HttpStatus(200),
        Duration::ZERO,
    ))
}

#[test]
fn increased_drop_counters_leave_a_gap_between_the_two_batches() {
    let (mut live, mut pending) = (Registry::default(), Pending::default());
    let b = synthetic::backend(1, "web", "n1", 1);
    apply(
        &mut live,
        &mut pending,
        batch(1, DropCounts::default(), vec![Event::Backend(b)]),
    )
    .unwrap();
    let dropped = DropCounts {
        results: 500,
        transitions: 1,
        lifecycle: 0,
    };
    apply(
        &mut live,
        &mut pending,
        batch(2, dropped, vec![result_at(1, T0 + 1500)]),
    )
    .unwrap();
    assert_eq!(pending.gaps.len(), 1);
    let gap = &pending.gaps[0];
    assert_eq!(
        (gap.from, gap.to, gap.dropped),
        (at_ms(T0 + 1000), at_ms(T0 + 1500), dropped)
    );
    // Counters that went down: the agent restarted, everything counted is new.
    let again = DropCounts {
        results: 7,
        transitions: 0,
        lifecycle: 0,
    };
    apply(&mut live, &mut pending, batch(3, again, vec![])).unwrap();
    assert_eq!(pending.gaps[1].dropped, again);
}

#[test]
fn a_hole_in_the_sequence_leaves_a_gap_even_without_drop_counts() {
    let (mut live, mut pending) = (Registry::default(), Pending::default());
    apply(
        &mut live,
        &mut pending,
        batch(1, DropCounts::default(), vec![]),
    )
    .unwrap();
    apply(
        &mut live,
        &mut pending,
        batch(4, DropCounts::default(), vec![]),
    )
    .unwrap();
    assert_eq!(pending.gaps.len(), 1);
    assert_eq!(live.agents[&synthetic::agent_id("n1")].last_sequence, 4);
}

#[test]
fn a_backend_is_first_seen_at_the_first_event_after_its_declaration() {
    let (mut live, mut pending) = (Registry::default(), Pending::default());
    let b = synthetic::backend(3, "web", "n1", 1);
    let events = vec![Event::Backend(b.clone()), result_at(3, T0 + 42)];
    apply(
        &mut live,
        &mut pending,
        batch(1, DropCounts::default(), events),
    )
    .unwrap();
    let row = live.row_of(&synthetic::agent_id("n1"), 3).unwrap();
    assert_eq!(live.backends[&row].first_seen, at_ms(T0 + 42));
    // Declared again (new spec, same key): same stored backend, first seen unchanged.
    apply(
        &mut live,
        &mut pending,
        batch(2, DropCounts::default(), vec![Event::Backend(b)]),
    )
    .unwrap();
    assert_eq!(live.row_of(&synthetic::agent_id("n1"), 3), Some(row));
    assert_eq!(live.backends[&row].first_seen, at_ms(T0 + 42));
}

#[test]
fn an_unknown_backend_refuses_the_whole_batch_and_changes_nothing() {
    let (mut live, mut pending) = (Registry::default(), Pending::default());
    let b = synthetic::backend(1, "web", "n1", 1);
    let events = vec![Event::Backend(b), result_at(1, T0), result_at(9, T0)];
    let err = apply(
        &mut live,
        &mut pending,
        batch(1, DropCounts::default(), events),
    )
    .unwrap_err();
    assert!(matches!(err, SinkError::UnknownBackend { backend: 9, .. }));
    assert!(pending.is_empty());
    assert!(live.agents.is_empty() && live.backends.is_empty());
}

#[test]
fn a_result_before_its_backends_declaration_in_the_same_batch_is_unknown() {
    let (mut live, mut pending) = (Registry::default(), Pending::default());
    let b = synthetic::backend(1, "web", "n1", 1);
    let events = vec![result_at(1, T0), Event::Backend(b)];
    assert!(
        apply(
            &mut live,
            &mut pending,
            batch(1, DropCounts::default(), events)
        )
        .is_err()
    );
}

proptest! {
    #[test]
    fn splitting_batches_across_flushes_adds_up_to_the_same_rollups(
        offsets in prop::collection::vec((0..3u64, 0..5_000u64), 1..300),
        cut in any::<prop::sample::Index>(),
    ) {
        let declared: Vec<Event> = (0..3).map(|id| Event::Backend(synthetic::backend(id, "s", "n1", id as u8))).collect();
        let mut events = declared;
        events.extend(offsets.iter().map(|(b, ms)| result_at(*b, T0 + ms)));
        let cut = cut.index(events.len() + 1).max(3);

        let (mut live, mut whole) = (Registry::default(), Pending::default());
        apply(&mut live, &mut whole, batch(1, DropCounts::default(), events.clone())).unwrap();

        let (mut live, mut first) = (Registry::default(), Pending::default());
        let mut second = Pending::default();
        apply(&mut live, &mut first, batch(1, DropCounts::default(), events[..cut].to_vec())).unwrap();
        apply(&mut live, &mut second, batch(2, DropCounts::default(), events[cut..].to_vec())).unwrap();
        let mut merged = first.rollups;
        for (key, acc) in second.rollups {
            merged.entry(key).or_default().merge(&acc);
        }
        prop_assert_eq!(merged, whole.rollups);
    }
}
