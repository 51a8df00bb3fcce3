//! Errors of the agent library.

use std::path::PathBuf;

/// A failure to read or understand input: every variant names where the input came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}: document {doc}: {message}")]
    Parse {
        source_name: String,
        /// 1-based index of the document in a multi-document stream.
        doc: usize,
        message: String,
    },
    #[error("{source_name}: {object}: {field}: {message}")]
    Object {
        source_name: String,
        /// `Kind/namespace/name` as far as it is known.
        object: String,
        /// The field path, e.g. `spec.ports[0].port`.
        field: String,
        message: String,
    },
    /// A flag or environment variable with a value the agent cannot use.
    #[error("{flag}: {value:?}: {message}")]
    Flag {
        flag: &'static str,
        value: String,
        message: String,
    },
    /// Something the daemon needs from the cluster is missing or unusable.
    #[error("{object}: {message}")]
    Cluster { object: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
