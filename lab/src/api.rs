//! The lab's Kubernetes API: the object store and the HTTP server that real clients (kubectl,
//! kube-rs) list and watch.

pub mod resource;
pub mod selector;
pub mod server;
pub mod store;

pub use resource::Resource;
pub use selector::{FieldSelector, LabelSelector, Selector, SelectorError};
pub use server::{ApiError, ApiServer, ApiServerConfig, ConfigError};
pub use store::{Event, EventType, Store, StoreError};
