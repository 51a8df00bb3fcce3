//! A full disk: `accept` fails with an error naming the database and the operation, nothing is
//! acknowledged that is not stored, and the store carries on once there is room again.
//!
//! Needs root: the database lives on a tiny tmpfs the test mounts and unmounts.

// Helpers of this test crate unwrap like its tests do.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use probesim_agent::event::Event;
use probesim_agent::lb::outcome::Outcome;
use probesim_agent::netns::test_may_run;
use probesim_collector::model::{Batch, DropCounts, Sink, SinkError};
use probesim_collector::store::synthetic::{self, at_ms};
use probesim_collector::store::{Filter, SqliteStore, Store, StoreConfig, TimeRange};

const T0: u64 = 1_700_000_000_000;

fn ready() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return Err("needs root to mount a tmpfs".to_owned());
    }
    Command::new("mount")
        .arg("--version")
        .output()
        .map_err(|e| format!("needs the mount command (util-linux): {e}"))?;
    Ok(())
}

/// A tmpfs of `size`, unmounted on drop (also when the test panics).
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::Builder::new()
            .prefix("probesim-test-diskfull-")
            .tempdir()
            .unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "probesim-test-diskfull",
            ])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        Tmpfs {
            dir,
            _parent: parent,
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Fills the file system with a file until it is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

fn batch(sequence: u64, events: Vec<Event>) -> Batch {
    Batch {
        agent: synthetic::agent_id("node-1"),
        sequence,
        sent_at: at_ms(T0),
        events,
        dropped: DropCounts::default(),
    }
}

/// Results of 40 backends over 300 seconds: thousands of rollup rows.
fn big_batch(sequence: u64) -> Batch {
    let spec = synthetic::alb_spec("200");
    let mut events = Vec::new();
    for s in 0..300 {
        for id in 0..40 {
            let at = at_ms(T0 + 10_000_000 * sequence + s * 1000);
            let r = synthetic::result(
                &spec,
                id,
                0,
                at,
                Outcome::HttpStatus(200),
                Duration::from_millis(2),
            );
            events.push(Event::Result(r));
        }
    }
    batch(sequence, events)
}

#[tokio::test]
async fn a_full_disk_fails_accept_with_the_database_path_and_acknowledges_nothing_unstored() {
    if !test_may_run("a_full_disk_fails_accept", ready()) {
        return;
    }
    let fs = Tmpfs::mount("4m");
    let db = fs.path().join("probesim.db");
    let store = SqliteStore::open(&db, StoreConfig::default())
        .await
        .unwrap();
    let agent = synthetic::agent_id("node-1");
    let declared: Vec<Event> = (0..40)
        .map(|id| Event::Backend(synthetic::backend(id, "web", "node-1", id as u8)))
        .collect();
    store.accept(batch(1, declared)).await.unwrap();
    assert_eq!(store.last_sequence(&agent), Some(1));

    let filler = fs.path().join("filler");
    fill(&filler);
    let err = store.accept(big_batch(2)).await.unwrap_err();
    let SinkError::Storage(message) = &err else {
        panic!("expected a storage error, got {err}");
    };
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains("full"), "{message}");
    assert_eq!(
        store.last_sequence(&agent),
        Some(1),
        "nothing unstored is acknowledged"
    );

    // Room again. A later batch that was pipelined behind the refused one waits for its
    // resend: taken first, it would make the resend look like a duplicate.
    std::fs::remove_file(&filler).unwrap();
    let err = store.accept(big_batch(3)).await.unwrap_err().to_string();
    assert!(err.contains("batch 2 was not stored"), "{err}");
    // The agent resends from the refused batch on: each stored, once.
    store.accept(big_batch(2)).await.unwrap();
    store.accept(big_batch(3)).await.unwrap();
    assert_eq!(store.last_sequence(&agent), Some(3));
    let range = TimeRange {
        from: at_ms(0),
        to: at_ms(T0 + 100_000_000),
    };
    let history = store.history(range, Filter::default()).await.unwrap();
    let stored: u64 = history
        .backends
        .iter()
        .flat_map(|b| &b.rollups)
        .map(|r| r.successes)
        .sum();
    assert_eq!(stored, 2 * 300 * 40);
    store.close().await;
}
