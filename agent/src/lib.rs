//! probesim-agent: what a cloud load balancer would probe, and how it would judge the answers.
//!
//! - [`lb`]: the clouds' semantics, pure (no I/O): how cloud-provider-azure and the AWS
//!   controllers derive probes from Kubernetes objects, which outcomes count as success, and the
//!   LB state machines.
//! - [`manifest`]: reading Kubernetes manifests (YAML, JSON, `kubectl get -o yaml` Lists).
//! - [`explain`]: the `explain` command's views of derived probes (table, JSON contract, compare).
//! - [`source`], [`observe`]: where probes come from (the node, the LB's address through the
//!   node's packet path, raw SYNs) and the real LB's probes seen arriving.

pub mod clock;
pub mod daemon;
pub mod discovery;
pub mod duration;
pub mod engine;
pub mod error;
pub mod event;
pub mod explain;
pub mod lb;
pub mod manifest;
pub mod model;
pub mod netns;
pub mod observe;
pub mod probe;
pub mod source;
pub mod stream;
pub mod view;

pub use error::{Error, Result};
