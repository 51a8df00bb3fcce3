//! probesim-lab: the product's own small cluster, for its tests and for reproducing load-balancer
//! failures without a cloud account (design.md, "The lab").
//!
//! - [`api`]: the object store and the fake Kubernetes API server.
//! - [`backend`]: programmable pod backends: per-path HTTP status codes and delays, HTTPS with a
//!   self-signed certificate, gRPC health answers, resets, black holes, and behaviour that changes
//!   while they run.
//! - [`apps`]: how the applications in the lab's pods behave (scenario `apps`).
//! - [`cluster`]: a whole lab cluster: network, API server, controllers, kube-proxy, kubelets.
//! - [`agents`]: probesim's agents on the lab's nodes; [`collector`]: its collector beside them.
//! - [`kubelet`]: runs each node's pods: network, application, readiness, termination.
//! - [`scenario`]: scenario files and the runner that plays them.
//! - [`truth`]: the ground truth of what really happened, and when.
//! - [`sandbox`]: a throwaway network namespace with a black hole, for network tests.

pub mod agents;
pub mod api;
pub mod apps;
pub mod backend;
pub mod cluster;
pub mod collector;
pub mod controllers;
pub mod kubelet;
pub mod net;
pub mod sandbox;
pub mod scenario;
pub mod truth;
