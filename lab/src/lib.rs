//! probesim-lab: the product's own small cluster, for its tests and for reproducing load-balancer
//! failures without a cloud account (design.md, "The lab").
//!
//! - [`api`]: the object store and the fake Kubernetes API server.
//! - [`backend`]: programmable pod backends: per-path HTTP status codes and delays, HTTPS with a
//!   self-signed certificate, gRPC health answers, resets, black holes, and behaviour that changes
//!   while they run.
//! - [`sandbox`]: a throwaway network namespace with a black hole, for network tests.

pub mod api;
pub mod backend;
pub mod controllers;
pub mod net;
pub mod sandbox;
