//! The spool directory: the agent's instance id, its sequence mark, and one file per
//! batch that did not fit in memory.
//!
//! Files are written to a temporary name and renamed, so a crash leaves either the whole batch
//! or nothing. They are not fsynced unless [`FsyncPolicy::EveryBatch`] says so: the spool is
//! there to outlast a collector restart or a network cut, which the page cache survives; an
//! agent's host losing power loses what the kernel had not written yet.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use probesim_proto::v1;
use prost::Message;

/// Whether spool writes wait for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Rename only: survives a crash of the agent, not of its host.
    #[default]
    Never,
    /// fsync every batch file (and the directory): survives a power loss, at a disk flush per
    /// spilled batch.
    EveryBatch,
}

const INSTANCE_FILE: &str = "instance";
const SEQUENCE_FILE: &str = "sequence";
const BATCH_PREFIX: &str = "batch-";
const BATCH_SUFFIX: &str = ".pb";

#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
    fsync: FsyncPolicy,
}

/// What a spool directory held when it was opened.
#[derive(Debug)]
pub struct Opened {
    pub spool: Spool,
    pub instance: String,
    /// The highest sequence an earlier process may have used (the sequence file's mark or a
    /// batch file's).
    pub last_sequence: u64,
    /// Spooled batches, by sequence, with their file sizes.
    pub batches: Vec<(u64, u64)>,
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Spool {
    /// Opens (creating) `dir`, its instance id and its batch files; leftover temporary files
    /// of an interrupted write are removed.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> io::Result<Opened> {
        std::fs::create_dir_all(dir).map_err(|e| annotate(dir, e))?;
        let spool = Spool {
            dir: dir.to_owned(),
            fsync,
        };
        let instance_path = dir.join(INSTANCE_FILE);
        let instance = match std::fs::read_to_string(&instance_path) {
            Ok(s) if valid_instance(s.trim()) => s.trim().to_owned(),
            Ok(_) | Err(_) => {
                let id = format!("{:016x}", fastrand::u64(..));
                spool.write_atomic(&instance_path, id.as_bytes())?;
                id
            }
        };
        let mut last_sequence = std::fs::read_to_string(dir.join(SEQUENCE_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut batches = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| annotate(dir, e))? {
            let entry = entry.map_err(|e| annotate(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(seq) = name
                .strip_prefix(BATCH_PREFIX)
                .and_then(|s| s.strip_suffix(BATCH_SUFFIX))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            batches.push((seq, len));
            last_sequence = last_sequence.max(seq);
        }
        batches.sort_unstable();
        Ok(Opened {
            spool,
            instance,
            last_sequence,
            batches,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn batch_path(&self, seq: u64) -> PathBuf {
        self.dir
            .join(format!("{BATCH_PREFIX}{seq:020}{BATCH_SUFFIX}"))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            if self.fsync == FsyncPolicy::EveryBatch {
                f.sync_all()?;
            }
            std::fs::rename(&tmp, path)?;
            if self.fsync == FsyncPolicy::EveryBatch {
                std::fs::File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| annotate(path, e))
    }

    /// Writes one batch; returns its size on disk.
    pub fn write(&self, batch: &v1::Batch) -> io::Result<u64> {
        let bytes = batch.encode_to_vec();
        self.write_atomic(&self.batch_path(batch.sequence), &bytes)?;
        Ok(bytes.len() as u64)
    }

    pub fn read(&self, seq: u64) -> io::Result<v1::Batch> {
        let path = self.batch_path(seq);
        let bytes = std::fs::read(&path).map_err(|e| annotate(&path, e))?;
        v1::Batch::decode(bytes.as_slice())
            .map_err(|e| annotate(&path, io::Error::new(io::ErrorKind::InvalidData, e)))
    }

    pub fn remove(&self, seq: u64) -> io::Result<()> {
        let path = self.batch_path(seq);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(annotate(&path, e)),
            _ => Ok(()),
        }
    }

    /// Records a mark no sequence number handed out exceeds, so that a restarted agent continues
    /// after it (see [`super::sequence`]).
    pub fn save_sequence(&self, seq: u64) -> io::Result<()> {
        self.write_atomic(&self.dir.join(SEQUENCE_FILE), seq.to_string().as_bytes())
    }
}

fn valid_instance(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
