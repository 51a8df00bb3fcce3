//! The lab's Kubernetes API: the object store and the HTTP server that real clients (kubectl,
//! kube-rs) list and watch.

pub mod resource;
pub mod store;

pub use resource::Resource;
pub use store::{Event, EventType, Store, StoreError};
