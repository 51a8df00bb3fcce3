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
    /// A source mode needs a capability this process lacks.
    #[error(
        "{mode} needs {capability} ({why}); grant it in the DaemonSet with \
         `securityContext.capabilities.add: [{grant}]`, or run with `--source node`"
    )]
    MissingCapability {
        mode: &'static str,
        /// As the kernel names it, e.g. `CAP_NET_ADMIN`.
        capability: &'static str,
        /// The name `capabilities.add` takes, e.g. `NET_ADMIN`.
        grant: &'static str,
        why: &'static str,
    },
    /// A source setting is out of range or inconsistent.
    #[error("{field}: {value}: {message}")]
    SourceConfig {
        /// The setting, e.g. `--lb-source-address` or `lb_source.fwmark`.
        field: String,
        value: String,
        message: String,
    },
    /// A step of setting up or removing a source namespace failed.
    #[error("lb-source {namespace}: {step}: {source}")]
    SourceSetup {
        namespace: String,
        step: String,
        #[source]
        source: crate::netns::NetnsError,
    },
    /// A socket the source modes need could not be made or configured.
    #[error("{what}: {source}")]
    Socket {
        /// What the socket is for and where, e.g. `raw TCP socket in psrc-1a2b3c4d`.
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
