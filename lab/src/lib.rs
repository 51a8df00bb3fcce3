//! probesim-lab: the product's own small cluster, for its tests and for reproducing load-balancer
//! failures without a cloud account (design.md, "The lab").
//!
//! - [`backend`]: programmable pod backends: per-path HTTP status codes and delays, HTTPS with a
//!   self-signed certificate, gRPC health answers, resets, black holes, and behaviour that changes
//!   while they run.
//! - [`sandbox`]: a throwaway network namespace with a black hole, for network tests.

pub mod backend;
pub mod sandbox;
