//! Finding and removing what a crashed run left: each run writes a state file naming its process
//! (pid and start time, so a reused pid is not mistaken for it) before it creates anything, and
//! removes it after everything is gone.

use std::path::{Path, PathBuf};

use probesim_agent::netns::{NETNS_DIR, run};
use serde::{Deserialize, Serialize};

use super::NETNS_PREFIX;
use crate::net::{NetError, Result};

/// Where runs record themselves (on tmpfs, like the namespaces: both go at reboot).
pub const STATE_DIR: &str = "/run/probesim-lab";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Owner {
    pid: u32,
    /// Field 22 of `/proc/<pid>/stat`, in clock ticks since boot.
    start_time: u64,
}

/// The state file of prefix `prefix`.
pub fn state_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.json"))
}

/// This run's state file; removed when dropped.
#[derive(Debug)]
pub(super) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub(super) fn write(prefix: &str) -> Result<StateFile> {
        let path = state_path(prefix);
        let err = |source| NetError::State {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(STATE_DIR).map_err(err)?;
        let pid = std::process::id();
        let owner = Owner {
            pid,
            start_time: start_time(pid).unwrap_or(0),
        };
        let text = serde_json::to_string(&owner).map_err(|e| err(e.into()))?;
        std::fs::write(&path, text).map_err(err)?;
        Ok(StateFile { path })
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn alive(owner: &Owner) -> bool {
    start_time(owner.pid).is_some_and(|t| owner.start_time == 0 || t == owner.start_time)
}

/// The lab namespaces of `prefix` that exist now.
fn namespaces_of(prefix: &str) -> Vec<String> {
    let start = format!("{NETNS_PREFIX}{prefix}-");
    std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with(&start))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a state file or a namespace already uses `prefix`.
pub(super) fn prefix_in_use(prefix: &str) -> bool {
    state_path(prefix).exists() || !namespaces_of(prefix).is_empty()
}

/// Removes the namespaces and state files of runs whose process is gone; returns the names of
/// the namespaces removed. Runs of live processes, this one's included, are left alone.
pub fn remove_leftovers() -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(STATE_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(NetError::State {
                path: STATE_DIR.into(),
                source,
            });
        }
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(prefix) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let owner = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<Owner>(&text).ok());
        match owner {
            Some(owner) if alive(&owner) => continue,
            Some(_) => {}
            None => {
                tracing::warn!(path = %path.display(), "unreadable lab state file left alone");
                continue;
            }
        }
        // Pods first, then nodes, the LB and the fabric: the order links were made in, reversed.
        let mut names = namespaces_of(prefix);
        names.sort_by_key(|n| (!n.contains("-pod"), !n.contains("-node-"), n.clone()));
        for name in names {
            match run("ip", &["netns", "delete", &name]) {
                Ok(_) => removed.push(name),
                Err(e) => tracing::warn!(namespace = %name, error = %e, "leftover not removed"),
            }
        }
        if namespaces_of(prefix).is_empty() {
            std::fs::remove_file(&path).map_err(|source| NetError::State {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(removed)
}
