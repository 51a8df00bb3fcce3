use std::time::SystemTime;

use super::*;
use crate::daemon::metrics::Metrics;
use crate::event::LifecycleKind;
use crate::model::ObjectRef;

fn events(n: usize) -> Vec<Lifecycle> {
    (0..n)
        .map(|i| Lifecycle {
            kind: LifecycleKind::PodReady,
            object: ObjectRef::new("Pod", "default", &format!("web-{i}")),
            node: Some("n1".into()),
            address: None,
            object_time: None,
            seen_at: SystemTime::UNIX_EPOCH,
            detail: Vec::new(),
        })
        .collect()
}

fn rendered(metrics: &Metrics, name: &str) -> Option<String> {
    metrics
        .render()
        .lines()
        .find(|l| l.starts_with(name))
        .map(str::to_owned)
}

#[test]
fn lifecycle_events_dropped_by_a_full_channel_are_counted_in_metrics_and_in_the_stream() {
    let (shared, _rx) = Shared::new("n1", 2);
    // Dropped before the daemon attached: counted, then forwarded at once.
    shared.emit(events(5));
    assert_eq!(shared.dropped_lifecycle(), 3);

    let metrics = Metrics::new();
    assert_eq!(
        rendered(&metrics, "probesim_watch_dropped_lifecycle_total"),
        None,
        "nothing rendered before the watches are attached"
    );
    let stream = Arc::new(DropCounter::default());
    metrics.attach_watch(&shared, Some(stream.clone()));
    assert_eq!(
        stream.take(),
        DropCounts {
            lifecycle: 3,
            ..DropCounts::default()
        }
    );

    shared.emit(events(4));
    assert_eq!(shared.dropped_lifecycle(), 7);
    assert_eq!(stream.take().lifecycle, 4, "later drops as they happen");
    assert_eq!(
        rendered(&metrics, "probesim_watch_dropped_lifecycle_total").as_deref(),
        Some("probesim_watch_dropped_lifecycle_total 7")
    );
}

#[test]
fn without_a_stream_the_drops_are_only_in_metrics_and_a_second_stream_is_ignored() {
    let (shared, _rx) = Shared::new("n1", 1);
    let metrics = Metrics::new();
    metrics.attach_watch(&shared, None);
    shared.emit(events(3));
    assert_eq!(
        rendered(&metrics, "probesim_watch_dropped_lifecycle_total").as_deref(),
        Some("probesim_watch_dropped_lifecycle_total 2")
    );
    let first = Arc::new(DropCounter::default());
    let second = Arc::new(DropCounter::default());
    shared.forward_drops(first.clone());
    shared.forward_drops(second.clone());
    shared.emit(events(1));
    assert_eq!(first.take().lifecycle, 3);
    assert!(second.take().is_empty());
}

#[test]
fn events_that_fit_are_delivered_and_not_counted() {
    let (shared, mut rx) = Shared::new("n1", 8);
    let stream = Arc::new(DropCounter::default());
    shared.forward_drops(stream.clone());
    shared.emit(events(8));
    assert_eq!(shared.dropped_lifecycle(), 0);
    assert!(stream.take().is_empty());
    let mut got = 0;
    while rx.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, 8);
}
