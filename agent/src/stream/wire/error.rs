//! Why wire data could not be turned into the agent's event model. Every variant names the field
//! (a path such as `batch.results.outcome[42]` or `backends[0].spec.matcher`) and the value.

/// Bad input from the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{field}: unknown {kind} value {value}")]
    UnknownEnum {
        field: String,
        /// The proto enum, e.g. `probesim.v1.Outcome`.
        kind: &'static str,
        value: i32,
    },
    #[error("{field}: missing")]
    Missing { field: String },
    #[error("{field}: {value:?}: {message}")]
    Invalid {
        field: String,
        value: String,
        message: String,
    },
    #[error("{field}: {got} entries where {expected} are needed")]
    Length {
        field: String,
        expected: usize,
        got: usize,
    },
}

impl Error {
    pub(crate) fn missing(field: impl Into<String>) -> Error {
        Error::Missing {
            field: field.into(),
        }
    }

    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl ToString,
        message: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            field: field.into(),
            value: value.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
