//! Why the streaming client could not start or connect.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("collector address {value:?} ({env}): {message}")]
    Collector {
        value: String,
        env: &'static str,
        message: String,
    },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spool directory {path}: {source}")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config field {field}: {value}: {message}")]
    Config {
        field: &'static str,
        value: String,
        message: String,
    },
    #[error("connecting to {collector}: {message}")]
    Connect { collector: String, message: String },
}
