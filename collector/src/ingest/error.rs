//! Why the ingest server could not run.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: TLS: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("ingest server failed: {message}")]
    Serve { message: String },
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
