use prost::Message;

use super::*;
use crate::stream::fixtures;

fn debug(events: &[Event]) -> String {
    format!("{events:#?}")
}

fn built(events: &[Event]) -> v1::Batch {
    let mut b = BatchBuilder::new();
    for e in events {
        b.push(e);
    }
    b.finish(7, fixtures::time(0), v1::Drops::default())
}

#[test]
fn every_event_kind_survives_encoding_and_decoding_in_order() {
    let events = fixtures::mixed_events();
    let batch = built(&events);
    let bytes = batch.encode_to_vec();
    let decoded = v1::Batch::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.sequence, 7);
    assert_eq!(debug(&events_from_wire(&decoded).unwrap()), debug(&events));
}

#[test]
fn runs_of_the_same_kind_share_one_order_entry() {
    let batch = built(&fixtures::mixed_events());
    // backend x2, results x25, transition, result, lifecycle, result, removal
    let kinds: Vec<(u32, u32)> = batch
        .order
        .iter()
        .map(|r| (r & KIND_MASK, r >> KIND_BITS))
        .collect();
    assert_eq!(
        kinds,
        vec![(1, 2), (3, 25), (4, 1), (3, 1), (5, 1), (3, 1), (2, 1)]
    );
}

#[test]
fn a_tcp_success_takes_about_twenty_bytes_on_the_wire() {
    let events: Vec<Event> = (0..1000)
        .map(|i| Event::Result(fixtures::success(i % 50, i)))
        .collect();
    let bytes = built(&events).encoded_len();
    assert!(bytes < 1000 * 20, "{bytes} bytes for 1000 results");
}

#[test]
fn stripping_results_keeps_backends_and_counts_what_it_removed() {
    let mut batch = built(&fixtures::mixed_events());
    let removed = strip(&mut batch, StripLevel::Results);
    assert_eq!(
        removed,
        DropCounts {
            results: 27,
            transitions: 0,
            lifecycle: 0
        }
    );
    let kinds: Vec<&str> = events_from_wire(&batch)
        .unwrap()
        .iter()
        .map(|e| match e {
            Event::Backend(_) => "backend",
            Event::BackendRemoved { .. } => "removed",
            Event::Result(_) => "result",
            Event::Transition(_) => "transition",
            Event::Lifecycle(_) => "lifecycle",
        })
        .collect();
    assert_eq!(
        kinds,
        ["backend", "backend", "transition", "lifecycle", "removed"]
    );
    let removed = strip(&mut batch, StripLevel::AllButBackends);
    assert_eq!((removed.transitions, removed.lifecycle), (1, 1));
    assert_eq!(events_from_wire(&batch).unwrap().len(), 3);
}

#[test]
fn bad_batches_are_rejected_with_the_field_and_value() {
    type Breaker = fn(&mut v1::Batch);
    let cases: [(&str, Breaker, &str); 7] = [
        (
            "unknown outcome",
            |b| b.results.as_mut().unwrap().outcome[3] = 99,
            "results.outcome[3]: unknown probesim.v1.Outcome value 99",
        ),
        (
            "short column",
            |b| {
                b.results.as_mut().unwrap().prober.pop();
            },
            "results.prober: 26 entries where 27 are needed",
        ),
        (
            "missing status",
            |b| b.results.as_mut().unwrap().status.clear(),
            "results.status: 0 entries where 1 are needed",
        ),
        (
            "missing spec",
            |b| b.backends[1].spec = None,
            "batch.backends[1].spec: missing",
        ),
        (
            "bad target",
            |b| b.backends[0].target = "nowhere".into(),
            "batch.backends[0].target: \"nowhere\": not an address:port",
        ),
        (
            "order longer than the lists",
            |b| b.order.push(5 << KIND_BITS | EventKind::Lifecycle as u32),
            "batch.lifecycle: 1 entries where 6 are needed",
        ),
        (
            "unknown event kind",
            |b| b.order.push(1 << KIND_BITS | 7),
            "batch.order[7]: unknown probesim.v1.EventKind value 7",
        ),
    ];
    for (name, breaker, expected) in cases {
        let mut batch = built(&fixtures::mixed_events());
        breaker(&mut batch);
        let err = events_from_wire(&batch).unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
}
