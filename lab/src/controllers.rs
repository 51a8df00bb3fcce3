//! The control plane's controllers, acting on the lab's store: scheduler, Deployments,
//! EndpointSlices.
