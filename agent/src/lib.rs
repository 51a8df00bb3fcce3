//! probesim-agent: what a cloud load balancer would probe, and how it would judge the answers.
//!
//! - [`lb`]: the clouds' semantics, pure (no I/O): how cloud-provider-azure and the AWS
//!   controllers derive probes from Kubernetes objects, which outcomes count as success, and the
//!   LB state machines.
//! - [`manifest`]: reading Kubernetes manifests (YAML, JSON, `kubectl get -o yaml` Lists).
//! - [`explain`]: the `explain` command's views of derived probes (table, JSON contract, compare).

pub mod clock;
pub mod duration;
pub mod engine;
pub mod error;
pub mod event;
pub mod explain;
pub mod lb;
pub mod manifest;
pub mod model;
pub mod netns;
pub mod probe;
pub mod stream;
pub mod view;

pub use error::{Error, Result};
