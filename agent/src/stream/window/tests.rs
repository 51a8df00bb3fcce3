use std::sync::Arc;

use super::*;
use crate::event::Event;
use crate::stream::fixtures;
use crate::stream::spool::{FsyncPolicy, Spool};
use crate::stream::wire::BatchBuilder;

fn batch(seq: u64, results: u64, backend: bool) -> v1::Batch {
    let mut b = BatchBuilder::new();
    if backend {
        b.push(&Event::Backend(fixtures::backend(seq)));
    }
    for i in 0..results {
        b.push(&Event::Result(fixtures::success(1, seq * 1000 + i)));
    }
    b.finish(seq, fixtures::time(0), v1::Drops::default())
}

fn window(memory: u64, spool_bytes: u64, spool: Option<Spool>) -> (Window, Arc<StreamMetrics>) {
    let metrics = Arc::new(StreamMetrics::default());
    let bounds = Bounds {
        memory_bytes: memory,
        spool_bytes,
    };
    (Window::new(bounds, spool, &[], metrics.clone()), metrics)
}

fn sent_sequences(w: &mut Window) -> Vec<(u64, u64)> {
    std::iter::from_fn(|| w.next_to_send())
        .map(|b| (b.sequence, b.dropped.unwrap().results))
        .collect()
}

#[test]
fn batches_beyond_the_memory_bound_go_to_the_spool_and_are_sent_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), FsyncPolicy::EveryBatch)
        .unwrap()
        .spool;
    let size = batch(1, 100, false).encoded_len() as u64;
    let (mut w, metrics) = window(size * 2, u64::MAX, Some(spool));
    for seq in 1..=5 {
        w.push(batch(seq, 100, false));
    }
    let m = metrics.snapshot();
    assert_eq!((m.spilled, m.window_batches), (3, 5), "{m:?}");
    assert!(m.memory_bytes <= size * 2);
    assert_eq!(
        sent_sequences(&mut w),
        vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]
    );
    w.acknowledge(5);
    assert_eq!(metrics.snapshot().spool_bytes, 0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the instance file is left"
    );
}

#[test]
fn full_bounds_strip_the_oldest_results_first_and_keep_backend_declarations() {
    let size = batch(1, 100, true).encoded_len() as u64;
    let (mut w, metrics) = window(size * 7 / 2, 0, None);
    for seq in 1..=5 {
        w.push(batch(seq, 100, true));
    }
    let m = metrics.snapshot();
    assert_eq!(m.dropped_results, 200, "{m:?}");
    let sent: Vec<v1::Batch> = std::iter::from_fn(|| w.next_to_send()).collect();
    let results: Vec<u64> = sent.iter().map(|b| counts(b).results).collect();
    assert_eq!(results, vec![0, 0, 100, 100, 100]);
    assert!(
        sent.iter().all(|b| b.backends.len() == 1),
        "backends are never dropped"
    );
    // The counter grows at the batches that lost their results.
    let dropped: Vec<u64> = sent.iter().map(|b| b.dropped.unwrap().results).collect();
    assert_eq!(dropped, vec![100, 200, 200, 200, 200]);
}

#[test]
fn a_window_of_backend_declarations_only_exceeds_its_bound_rather_than_drop_them() {
    let (mut w, metrics) = window(10, 0, None);
    for seq in 1..=3 {
        w.push(batch(seq, 0, true));
    }
    let sent: Vec<v1::Batch> = std::iter::from_fn(|| w.next_to_send()).collect();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|b| b.backends.len() == 1));
    assert_eq!(metrics.snapshot().dropped_results, 0);
}

#[test]
fn a_spool_that_cannot_be_written_is_counted_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("spool"), FsyncPolicy::Never)
        .unwrap()
        .spool;
    std::fs::remove_dir_all(dir.path().join("spool")).unwrap();
    let size = batch(1, 100, false).encoded_len() as u64;
    let (mut w, metrics) = window(size * 5 / 2, u64::MAX, Some(spool));
    for seq in 1..=4 {
        w.push(batch(seq, 100, false));
    }
    let m = metrics.snapshot();
    assert!(m.spool_errors > 0, "{m:?}");
    assert_eq!(
        m.dropped_results, 200,
        "the oldest results made room: {m:?}"
    );
    assert_eq!(sent_sequences(&mut w).len(), 4);
}

#[test]
fn a_broken_stream_resends_every_unacknowledged_batch_in_order() {
    let (mut w, _) = window(u64::MAX, 0, None);
    for seq in 1..=4 {
        w.push(batch(seq, 10, false));
    }
    assert_eq!(sent_sequences(&mut w).len(), 4);
    assert_eq!(w.acknowledge(2), (2, 20));
    w.rewind();
    assert_eq!(sent_sequences(&mut w), vec![(3, 0), (4, 0)]);
    // A welcome that says the collector has batch 3 already: only 4 is left.
    w.rewind();
    w.acknowledge(3);
    assert_eq!(sent_sequences(&mut w), vec![(4, 0)]);
}

#[test]
fn batches_spooled_by_an_earlier_process_are_sent_first_with_their_drop_counts() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Spool::open(dir.path(), FsyncPolicy::Never).unwrap();
    let mut old = batch(7, 10, false);
    old.dropped = Some(v1::Drops {
        results: 5,
        ..Default::default()
    });
    opened.spool.write(&old).unwrap();
    let reopened = Spool::open(dir.path(), FsyncPolicy::Never).unwrap();
    assert_eq!(reopened.instance, opened.instance);
    assert_eq!(reopened.last_sequence, 7);
    let metrics = Arc::new(StreamMetrics::default());
    let bounds = Bounds {
        memory_bytes: u64::MAX,
        spool_bytes: u64::MAX,
    };
    let mut w = Window::new(bounds, Some(reopened.spool), &reopened.batches, metrics);
    w.push(batch(8, 10, false));
    assert_eq!(sent_sequences(&mut w), vec![(7, 5), (8, 5)]);
}
