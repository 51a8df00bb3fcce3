//! Failures as the API server reports them: a `Status` object whose `message` kubectl prints.

use serde_json::{Value, json};

use crate::api::resource::Resource;
use crate::api::selector::SelectorError;
use crate::api::store::StoreError;

/// A request that failed, with the HTTP code and `reason` a real API server gives.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn not_found(resource: Resource, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource)),
        )
    }

    /// A path that names nothing the server serves (kube-apiserver answers `404 page not found`
    /// as plain text there; a Status tells the client the same and stays JSON).
    pub fn no_route(path: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn method_not_allowed(method: &hyper::Method, path: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {path})"
            ),
        )
    }

    /// A list or watch asked for history the store no longer keeps.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// The store's refusal of a write or read of `resource` `name`, worded as kube-apiserver's.
    pub fn from_store(error: StoreError, resource: Resource, name: &str) -> ApiError {
        match error {
            StoreError::NotFound { .. } => ApiError::not_found(resource, name),
            StoreError::AlreadyExists { .. } => ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", qualified(resource)),
            ),
            StoreError::Conflict { .. } => ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    qualified(resource)
                ),
            ),
            StoreError::Gone { asked, oldest } => {
                ApiError::expired(format!("too old resource version: {asked} ({oldest})"))
            }
            other @ (StoreError::UnknownKind { .. }
            | StoreError::MissingName { .. }
            | StoreError::Invalid { .. }) => ApiError::bad_request(other.to_string()),
        }
    }

    /// The `Status` object for the body of a response or an ERROR watch event.
    pub fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}

impl From<SelectorError> for ApiError {
    fn from(error: SelectorError) -> ApiError {
        ApiError::bad_request(error.to_string())
    }
}

/// `pods`, `deployments.apps`: how kube-apiserver names a resource in its messages.
pub fn qualified(resource: Resource) -> String {
    match resource.group() {
        "" => resource.plural().to_owned(),
        group => format!("{}.{group}", resource.plural()),
    }
}
