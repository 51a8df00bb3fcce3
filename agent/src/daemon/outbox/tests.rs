use std::sync::Arc;

use tokio::sync::mpsc;

use super::*;
use crate::stream::{DropCounts, fixtures};

fn outbox(capacity: usize) -> (Outbox, mpsc::Receiver<Event>, Arc<DropCounter>) {
    let (tx, rx) = mpsc::channel(capacity);
    let drops = Arc::new(DropCounter::default());
    let events = Events {
        tx,
        drops: Some(drops.clone()),
    };
    (
        Outbox::new(Some(events), Arc::new(Metrics::new())),
        rx,
        drops,
    )
}

fn label(event: &Event) -> String {
    match event {
        Event::Backend(b) => format!("backend {}", b.id),
        Event::BackendRemoved { id, .. } => format!("removed {}", id),
        Event::Result(r) => format!("result {}", r.backend),
        Event::Transition(_) => "transition".to_owned(),
        Event::Lifecycle(_) => "lifecycle".to_owned(),
    }
}

fn drain(rx: &mut mpsc::Receiver<Event>) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(event) = rx.try_recv() {
        got.push(label(&event));
    }
    got
}

#[test]
fn a_full_channel_drops_results_with_counts_but_keeps_declarations_in_order() {
    let (mut outbox, mut rx, drops) = outbox(1);
    outbox.send(Event::Result(fixtures::success(1, 0)));
    // The channel is full from here on.
    outbox.send(Event::Result(fixtures::success(1, 1)));
    outbox.send(Event::Backend(fixtures::backend(2)));
    outbox.send(Event::Result(fixtures::success(2, 2)));
    outbox.send(Event::BackendRemoved {
        id: 1,
        at: fixtures::time(3),
    });
    assert_eq!(outbox.backlog(), 2);
    assert_eq!(
        drops.take(),
        DropCounts {
            results: 2,
            ..DropCounts::default()
        }
    );

    assert_eq!(drain(&mut rx), ["result 1"]);
    outbox.flush();
    assert_eq!(drain(&mut rx), ["backend 2"]);
    outbox.flush();
    assert_eq!(drain(&mut rx), ["removed 1"]);
    assert_eq!(outbox.backlog(), 0);
    outbox.send(Event::Result(fixtures::success(2, 4)));
    assert_eq!(drain(&mut rx), ["result 2"]);
}

#[test]
fn results_after_a_waiting_declaration_are_dropped_not_sent_ahead_of_it() {
    let (mut outbox, mut rx, drops) = outbox(2);
    outbox.send(Event::Lifecycle(fixtures::lifecycle(0)));
    outbox.send(Event::Lifecycle(fixtures::lifecycle(1)));
    outbox.send(Event::Backend(fixtures::backend(7)));
    assert_eq!(drain(&mut rx), ["lifecycle", "lifecycle"]);
    // Room now, but the declaration goes first: the flush in send hands it over, then the result.
    outbox.send(Event::Result(fixtures::success(7, 1)));
    assert_eq!(drain(&mut rx), ["backend 7", "result 7"]);
    assert!(drops.take().is_empty());
}

#[test]
fn a_closed_channel_forgets_the_backlog_and_without_a_channel_nothing_is_kept() {
    let (mut outbox, rx, _) = outbox(1);
    outbox.send(Event::Result(fixtures::success(1, 0)));
    outbox.send(Event::Backend(fixtures::backend(1)));
    assert_eq!(outbox.backlog(), 1);
    drop(rx);
    outbox.flush();
    assert_eq!(outbox.backlog(), 0);

    let mut none = Outbox::new(None, Arc::new(Metrics::new()));
    none.send(Event::Backend(fixtures::backend(1)));
    assert_eq!(none.backlog(), 0);
}
