//! The EndpointSlice controller, as kube-controller-manager runs it: for every Service with a
//! selector, `discovery.k8s.io/v1` EndpointSlices listing the matching pods that have an address,
//! with their ready/serving/terminating conditions, node, zone and ports; at most
//! [`DEFAULT_MAX_ENDPOINTS_PER_SLICE`] endpoints per slice; slices written only when they change
//! and removed with their Service. Services without a selector are left alone.

pub mod desired;
pub mod slices;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::objects::{name_of, namespace_of};
use super::run::{RETRY_AFTER, Reconcile};
use crate::api::{Resource, Store, StoreError};

pub use slices::Changes;

/// kube-controller-manager's `--max-endpoints-per-slice` default.
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// The `managed-by` value of kube-controller-manager's EndpointSlice controller.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// Whether this controller keeps slices for `service`: it has a non-empty selector and is not an
/// ExternalName Service.
pub fn manages(service: &Service) -> bool {
    let spec = service.spec.as_ref();
    let external = spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName");
    let selector = spec
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    selector && !external
}

/// The pure core for one Service: the writes that bring its slices (`existing`, the ones labelled
/// with its name and managed by this controller) in line with `pods` and `nodes`.
pub fn reconcile(
    service: &Service,
    pods: &[Pod],
    nodes: &[Node],
    existing: &[EndpointSlice],
    max_per_slice: usize,
) -> Changes {
    let mut changes = Changes::default();
    if !manages(service) {
        return changes;
    }
    let nodes: HashMap<&str, &Node> = nodes.iter().map(|n| (name_of(&n.metadata), n)).collect();
    let types = desired::address_types(service);
    for address_type in &types {
        let mine: Vec<EndpointSlice> = existing
            .iter()
            .filter(|s| s.address_type == *address_type)
            .cloned()
            .collect();
        let wanted = desired::desired(service, pods, &nodes, address_type);
        let c = slices::reconcile(service, address_type, &mine, wanted, max_per_slice);
        changes.create.extend(c.create);
        changes.update.extend(c.update);
        changes.delete.extend(c.delete);
    }
    // Slices of an address type the Service no longer has.
    changes.delete.extend(
        existing
            .iter()
            .filter(|s| !types.contains(&s.address_type.as_str()))
            .map(|s| name_of(&s.metadata).to_owned()),
    );
    changes
}

/// Whether a slice is this controller's and belongs to the Service `name`.
fn managed_for(slice: &EndpointSlice, name: Option<&str>) -> bool {
    let labels = slice.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    get(LABEL_MANAGED_BY) == Some(MANAGED_BY)
        && name.is_none_or(|n| get(LABEL_SERVICE_NAME) == Some(n))
}

/// The EndpointSlice controller as a controller on the store.
#[derive(Debug)]
pub struct EndpointSliceController {
    max_per_slice: usize,
}

impl EndpointSliceController {
    pub fn new(max_per_slice: usize) -> EndpointSliceController {
        EndpointSliceController { max_per_slice }
    }
}

impl Default for EndpointSliceController {
    fn default() -> Self {
        EndpointSliceController::new(DEFAULT_MAX_ENDPOINTS_PER_SLICE)
    }
}

impl Reconcile for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    fn follows(&self, resource: Resource) -> bool {
        matches!(
            resource,
            Resource::Service | Resource::Pod | Resource::Node | Resource::EndpointSlice
        )
    }

    fn reconcile(&mut self, store: &Store) -> Option<Duration> {
        let services: Vec<Service> = store.list_typed(None);
        let pods: Vec<Pod> = store.list_typed(None);
        let nodes: Vec<Node> = store.list_typed(None);
        let all_slices: Vec<EndpointSlice> = store.list_typed(None);
        let mut failed = false;
        let mut services_seen: HashSet<(&str, &str)> = HashSet::new();
        for service in &services {
            let namespace = namespace_of(&service.metadata);
            let name = name_of(&service.metadata);
            services_seen.insert((namespace, name));
            if !manages(service) {
                continue;
            }
            let existing: Vec<EndpointSlice> = all_slices
                .iter()
                .filter(|s| namespace_of(&s.metadata) == namespace && managed_for(s, Some(name)))
                .cloned()
                .collect();
            let changes = reconcile(service, &pods, &nodes, &existing, self.max_per_slice);
            if let Err(e) = apply(store, namespace, &changes) {
                tracing::warn!(service = %name, %namespace, error = %e, "endpointslice sync failed");
                failed = true;
            }
        }
        // The garbage collector's part: slices whose Service is gone.
        for slice in &all_slices {
            let namespace = namespace_of(&slice.metadata);
            let service = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SERVICE_NAME))
                .map_or("", String::as_str);
            if managed_for(slice, None) && !services_seen.contains(&(namespace, service)) {
                match store.delete(Resource::EndpointSlice, namespace, name_of(&slice.metadata)) {
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not delete an orphaned EndpointSlice");
                        failed = true;
                    }
                }
            }
        }
        failed.then_some(RETRY_AFTER)
    }
}

fn apply(store: &Store, namespace: &str, changes: &Changes) -> Result<(), StoreError> {
    let invalid = |e: serde_json::Error| StoreError::Invalid {
        what: format!("EndpointSlice in {namespace}: {e}"),
    };
    for slice in &changes.create {
        store.create(serde_json::to_value(slice).map_err(invalid)?)?;
    }
    for slice in &changes.update {
        let labels = json!(slice.metadata.labels);
        let owners = json!(slice.metadata.owner_references);
        let ports = serde_json::to_value(&slice.ports).map_err(invalid)?;
        let endpoints = serde_json::to_value(&slice.endpoints).map_err(invalid)?;
        store.modify(
            Resource::EndpointSlice,
            namespace,
            name_of(&slice.metadata),
            |s| {
                s["metadata"]["labels"] = labels;
                s["metadata"]["ownerReferences"] = owners;
                s["endpoints"] = endpoints;
                match s.as_object_mut() {
                    Some(object) if ports.is_null() => {
                        object.remove("ports");
                    }
                    _ => s["ports"] = ports,
                }
            },
        )?;
    }
    for name in &changes.delete {
        match store.delete(Resource::EndpointSlice, namespace, name) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
