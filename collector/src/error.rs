//! The collector's errors. Each names the object it is about: the database file and the operation
//! that failed, the stored row and field that did not decode, the setting and its value.

use std::path::PathBuf;

/// Everything that can go wrong in the collector's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused an operation (full disk, read-only file, corrupt database...).
    #[error("database {path}: {op}: {source}")]
    Storage {
        path: PathBuf,
        /// What the store was doing (`open`, `migrate to schema 1`, `insert rollups`...).
        op: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer build with a schema this build does not know.
    #[error("database {path}: schema version {found} is newer than this build's {supported}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A stored value that does not decode: the database was edited or is damaged.
    #[error("database {path}: {table}.{field} = {value:?}: {reason}")]
    Decode {
        path: PathBuf,
        table: &'static str,
        field: &'static str,
        value: String,
        reason: String,
    },
    /// The file system refused something around the database (its directory).
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// A blocking storage task did not finish (the runtime shut down under it).
    #[error("database {path}: {op}: the storage task stopped: {reason}")]
    TaskStopped {
        path: PathBuf,
        op: String,
        reason: String,
    },
    /// A setting with a value that cannot be used.
    #[error("setting {setting} = {value:?}: {reason}")]
    Config {
        setting: &'static str,
        value: String,
        reason: String,
    },
    /// The HTTP listener could not start or stopped on an error.
    #[error("HTTP listener {addr}: {source}")]
    Http {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The gRPC ingest could not start (TLS files) or stopped on an error.
    #[error("gRPC ingest: {0}")]
    Ingest(#[from] crate::ingest::IngestError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a stored value does not decode, before the store names the row it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value:?}: {reason}")]
pub struct DecodeError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl DecodeError {
    pub fn new(field: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError {
            field,
            value: value.into(),
            reason: reason.into(),
        }
    }
}
