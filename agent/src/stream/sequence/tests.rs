use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::stream::spool::FsyncPolicy;

fn open(dir: &Path) -> Sequencer {
    let opened = Spool::open(dir, FsyncPolicy::EveryBatch).unwrap();
    Sequencer::new(opened.last_sequence, Some(opened.spool))
}

/// The sequence file's mark; 0 before the first write.
fn mark(dir: &Path) -> u64 {
    match std::fs::read_to_string(dir.join("sequence")) {
        Ok(text) => text.trim().parse().unwrap(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn restarts_after_any_number_of_seals_never_repeat_a_sequence_number() {
    let block = SEQUENCE_BLOCK;
    // Seals per process, then whether it stopped cleanly.
    let runs: [&[(u64, bool)]; 5] = [
        &[(1, false), (1, false), (1, false)],
        &[(block - 1, false), (1, false), (2, true)],
        &[(block, false), (block + 1, false), (3, true)],
        &[(3 * block + 7, true), (5, false), (block, false)],
        &[(0, false), (0, true), (7, false)],
    ];
    for (case, run) in runs.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut used = BTreeSet::new();
        let mut last = 0;
        for &(seals, clean) in run.iter() {
            let mut sequencer = open(dir.path());
            for _ in 0..seals {
                let (sequence, recorded) = sequencer.take();
                recorded.unwrap();
                assert!(used.insert(sequence), "case {case}: {sequence} repeated");
                assert!(sequence > last, "case {case}: {sequence} after {last}");
                assert!(mark(dir.path()) >= sequence, "case {case}: mark behind");
                last = sequence;
            }
            if clean {
                sequencer.finish().unwrap();
                assert_eq!(mark(dir.path()), last, "case {case}: clean stop");
            }
            // Dropped without `finish`: a crash.
        }
    }
}

#[test]
fn the_sequence_file_is_written_once_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut sequencer = open(dir.path());
    let seals = 3 * SEQUENCE_BLOCK + 1;
    let mut marks = Vec::new();
    for _ in 0..seals {
        let (sequence, recorded) = sequencer.take();
        recorded.unwrap();
        let now = mark(dir.path());
        if marks.last() != Some(&now) {
            marks.push(now);
            assert_eq!(sequence % SEQUENCE_BLOCK, 1, "a new mark at {sequence}");
        }
    }
    assert_eq!(sequencer.writes(), 4);
    assert_eq!(
        marks,
        (1..=4).map(|b| b * SEQUENCE_BLOCK).collect::<Vec<_>>()
    );
}

#[test]
fn a_clean_stop_lets_the_next_process_continue_without_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    let mut sequencer = open(dir.path());
    for _ in 0..10 {
        sequencer.take().1.unwrap();
    }
    sequencer.finish().unwrap();
    assert_eq!(sequencer.writes(), 2);
    assert_eq!(open(dir.path()).take().0, 11);
}

#[test]
fn a_crash_skips_to_the_end_of_the_reserved_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut sequencer = open(dir.path());
    for _ in 0..10 {
        sequencer.take().1.unwrap();
    }
    drop(sequencer);
    assert_eq!(open(dir.path()).take().0, SEQUENCE_BLOCK + 1);
}

#[test]
fn a_failed_reservation_is_reported_and_tried_again_at_the_next_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut sequencer = open(dir.path());
    // A directory where the file should be: the rename onto it fails.
    std::fs::create_dir(dir.path().join("sequence")).unwrap();
    let (first, recorded) = sequencer.take();
    assert_eq!(first, 1);
    let error = recorded.unwrap_err().to_string();
    assert!(error.contains("sequence"), "{error}");
    std::fs::remove_dir(dir.path().join("sequence")).unwrap();
    let (second, recorded) = sequencer.take();
    assert_eq!(second, 2);
    recorded.unwrap();
    assert_eq!(mark(dir.path()), 1 + SEQUENCE_BLOCK);
    assert_eq!(sequencer.writes(), 2);
}

#[test]
fn without_a_spool_nothing_is_written() {
    let mut sequencer = Sequencer::new(41, None);
    assert_eq!(sequencer.take().0, 42);
    sequencer.finish().unwrap();
    assert_eq!(sequencer.writes(), 0);
}
