//! Discovery: what this node's agent probes, derived from the cluster's own objects.
//!
//! - [`watch`]: kube-runtime watchers on the node, its pods, Services, EndpointSlices, Ingresses
//!   and IngressClasses, feeding one [`Snapshot`].
//! - [`targets`]: pure; the snapshot in, the backends this node can honestly probe out (node
//!   targets, pod targets, inside-out hops, what-if versions).
//! - [`lifecycle`]: pure; an object's old and new state in, the lifecycle events between them out.
//! - [`node`]: the cloud, addresses and state of the agent's own node.

pub mod lifecycle;
pub mod node;
pub mod sources;
pub mod targets;
pub mod watch;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// `namespace/name` (or `name` for cluster-scoped objects): how the snapshot keys objects.
pub type Key = String;

/// The key of an object, from its metadata.
pub fn key_of(meta: &ObjectMeta) -> Key {
    match meta.namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or("")),
        None => meta.name.clone().unwrap_or_default(),
    }
}

/// An endpoint's conditions with the API's defaults: unset `ready` and `serving` mean true
/// (`serving` falls back to `ready`), unset `terminating` means false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointState {
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

impl EndpointState {
    pub fn of(endpoint: &k8s_openapi::api::discovery::v1::Endpoint) -> EndpointState {
        let c = endpoint.conditions.as_ref();
        let ready = c.and_then(|c| c.ready);
        EndpointState {
            ready: ready != Some(false),
            serving: c.and_then(|c| c.serving).or(ready) != Some(false),
            terminating: c.and_then(|c| c.terminating) == Some(true),
        }
    }
}

/// The objects the agent watches, as last seen.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The agent's own Node (the only one watched); empty until it is seen, or after it was
    /// deleted.
    pub nodes: BTreeMap<Key, Node>,
    /// Pods bound to this node.
    pub pods: BTreeMap<Key, Pod>,
    pub services: BTreeMap<Key, Service>,
    pub slices: BTreeMap<Key, EndpointSlice>,
    pub ingresses: BTreeMap<Key, Ingress>,
    pub ingress_classes: BTreeMap<Key, IngressClass>,
}

impl Snapshot {
    /// The agent's own Node, if seen.
    pub fn node(&self) -> Option<&Node> {
        self.nodes.values().next()
    }

    /// The objects that decide what a cloud LB probes, for [`crate::lb::derive`].
    pub fn lb_objects(&self) -> crate::lb::Objects {
        crate::lb::Objects {
            services: self.services.values().cloned().collect(),
            ingresses: self.ingresses.values().cloned().collect(),
            ingress_classes: self.ingress_classes.values().cloned().collect(),
        }
    }
}
