//! Fitting desired endpoints into EndpointSlices with as few writes as possible, as upstream's
//! reconciler does: endpoints stay in the slice they are in and are updated in place; new ones
//! fill slices already being written, then the fullest unchanged slice that fits them, then new
//! slices; an emptied slice is reused rather than deleted and recreated; a Service with no
//! endpoints keeps one empty placeholder slice.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::desired::{Group, endpoint_key, port_key};
use super::{LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY};
use crate::controllers::objects::{name_of, namespace_of};

/// The writes that bring a Service's slices to the desired state.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// New slices (with `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Slices to rewrite (labels, owner, ports, endpoints), by name.
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

/// Reconciles `existing` (the Service's slices of `address_type`) with `desired`.
pub fn reconcile(
    service: &Service,
    address_type: &str,
    existing: &[EndpointSlice],
    desired: BTreeMap<String, Group>,
    max_per_slice: usize,
) -> Changes {
    let max = max_per_slice.max(1);
    let mut create: Vec<EndpointSlice> = Vec::new();
    let mut update: Vec<EndpointSlice> = Vec::new();
    let mut delete: Vec<EndpointSlice> = Vec::new();
    let mut by_ports: BTreeMap<String, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        if owned_by(slice, service) {
            by_ports
                .entry(port_key(slice.ports.as_deref()))
                .or_default()
                .push(slice);
        } else {
            delete.push(slice.clone());
        }
    }
    for (key, group) in &desired {
        let slices = by_ports.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let (c, u, d) = by_port_mapping(service, address_type, slices, group, max);
        create.extend(c);
        update.extend(u);
        delete.extend(d);
    }
    for (key, slices) in &by_ports {
        if !desired.contains_key(key) {
            delete.extend(slices.iter().map(|s| (*s).clone()));
        }
    }
    if existing.len() == delete.len() && create.is_empty() {
        let placeholder = new_slice(service, address_type, &[]);
        if delete.len() == 1 && same_placeholder(&delete[0], &placeholder) {
            delete.clear();
        } else {
            create.push(placeholder);
        }
    }
    // A slice about to be deleted is reused for one about to be created.
    let mut i = 0;
    while i < delete.len() && !create.is_empty() {
        if delete[i].address_type == address_type && owned_by(&delete[i], service) {
            if let Some(mut slice) = create.pop() {
                slice.metadata.name = delete[i].metadata.name.clone();
                slice.metadata.generate_name = None;
                update.push(slice);
                delete.remove(i);
            }
        } else {
            i += 1;
        }
    }
    Changes {
        create,
        update,
        delete: delete
            .iter()
            .map(|s| name_of(&s.metadata).to_owned())
            .collect(),
    }
}

/// `reconcileByPortMapping`: creates, updates, deletes for the slices sharing one set of ports.
fn by_port_mapping(
    service: &Service,
    address_type: &str,
    existing: &[&EndpointSlice],
    group: &Group,
    max: usize,
) -> (Vec<EndpointSlice>, Vec<EndpointSlice>, Vec<EndpointSlice>) {
    let mut wanted: Vec<Option<&Endpoint>> = group.endpoints.iter().map(Some).collect();
    let index: HashMap<_, usize> = group
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (endpoint_key(e), i))
        .collect();
    let mut to_update: Vec<EndpointSlice> = Vec::new();
    let mut to_delete: Vec<EndpointSlice> = Vec::new();
    let mut unchanged: Vec<EndpointSlice> = Vec::new();
    // 1. Keep, refresh or drop the endpoints already in slices.
    for slice in existing {
        let mut kept: Vec<Endpoint> = Vec::new();
        let mut changed = false;
        for endpoint in &slice.endpoints {
            let Some(&i) = index.get(&endpoint_key(endpoint)) else {
                continue;
            };
            if let Some(want) = wanted[i].take() {
                changed |= want != endpoint;
                kept.push(want.clone());
            }
        }
        let labels = slice_labels(service);
        let labels_changed = slice.metadata.labels.as_ref() != Some(&labels);
        if changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                to_delete.push((*slice).clone());
            } else {
                let mut copy = (*slice).clone();
                copy.endpoints = kept;
                copy.metadata.labels = Some(labels);
                to_update.push(copy);
            }
        } else if labels_changed {
            let mut copy = (*slice).clone();
            copy.metadata.labels = Some(labels);
            to_update.push(copy);
        } else {
            unchanged.push((*slice).clone());
        }
    }
    let mut left: std::collections::VecDeque<Endpoint> =
        wanted.into_iter().flatten().cloned().collect();
    // 2. Fill the slices being written anyway, fullest first.
    if !left.is_empty() && !to_update.is_empty() {
        to_update.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
        for slice in &mut to_update {
            while slice.endpoints.len() < max {
                let Some(endpoint) = left.pop_front() else {
                    break;
                };
                slice.endpoints.push(endpoint);
            }
        }
    }
    // 3. Then the unchanged slice they fit best, or new slices.
    let mut to_create: Vec<EndpointSlice> = Vec::new();
    while !left.is_empty() {
        let fill = if left.len() < max {
            slice_to_fill(&unchanged, left.len(), max)
        } else {
            None
        };
        let mut slice = match fill {
            Some(i) => unchanged.remove(i),
            None => new_slice(service, address_type, &group.ports),
        };
        while slice.endpoints.len() < max {
            let Some(endpoint) = left.pop_front() else {
                break;
            };
            slice.endpoints.push(endpoint);
        }
        if slice.metadata.name.is_some() {
            to_update.push(slice);
        } else {
            to_create.push(slice);
        }
    }
    (to_create, to_update, to_delete)
}

/// `getSliceToFill`: the slice that will be closest to full with `n` more endpoints.
fn slice_to_fill(slices: &[EndpointSlice], n: usize, max: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, slice) in slices.iter().enumerate() {
        let total = n + slice.endpoints.len();
        if total > max {
            continue;
        }
        let room = max - total;
        if best.is_none_or(|(_, r)| room < r) {
            best = Some((i, room));
            if room == 0 {
                break;
            }
        }
    }
    best.map(|(i, _)| i)
}

/// The labels a Service's slices carry: the Service's own (except reserved keys), the headless
/// mark, the Service's name and the manager.
///
/// Upstream marks a slice headless when the Service has no cluster IP at all; the lab's API
/// server does not allocate cluster IPs, so only an explicit `clusterIP: None` counts here.
pub fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let reserved = [LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS];
    let mut labels: BTreeMap<String, String> = service
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let headless = service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        labels.insert(LABEL_HEADLESS.to_owned(), String::new());
    }
    labels.insert(
        LABEL_SERVICE_NAME.to_owned(),
        name_of(&service.metadata).to_owned(),
    );
    labels.insert(LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
    labels
}

/// `newEndpointSlice`.
fn new_slice(service: &Service, address_type: &str, ports: &[EndpointPort]) -> EndpointSlice {
    let name = name_of(&service.metadata);
    // A name prefix longer than a DNS subdomain allows loses its dash, as upstream.
    let prefix = if name.len() < 253 {
        format!("{name}-")
    } else {
        name.to_owned()
    };
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: Some(namespace_of(&service.metadata).to_owned()),
            labels: Some(slice_labels(service)),
            owner_references: Some(vec![owner(service)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.to_owned(),
        endpoints: Vec::new(),
        ports: (!ports.is_empty()).then(|| ports.to_vec()),
    }
}

fn owner(service: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Service".to_owned(),
        name: name_of(&service.metadata).to_owned(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    let uid = service.metadata.uid.as_deref().unwrap_or("");
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.kind == "Service" && o.api_version == "v1")
}

/// `placeholderSliceCompare`: namespace, labels, owners, address type, and no ports nor endpoints.
fn same_placeholder(slice: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    slice.metadata.namespace == placeholder.metadata.namespace
        && slice.metadata.labels == placeholder.metadata.labels
        && slice.metadata.owner_references == placeholder.metadata.owner_references
        && slice.address_type == placeholder.address_type
        && slice.endpoints.is_empty()
        && slice.ports.as_deref().unwrap_or(&[]).is_empty()
}
