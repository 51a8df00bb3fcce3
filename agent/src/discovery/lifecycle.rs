//! Lifecycle events: what changed between an object's last seen state and its new one, with the
//! object's own timestamps. Pure: the watchers call these with old and new objects.
//!
//! Times: a condition's `lastTransitionTime`, `creationTimestamp` and `deletionTimestamp` as
//! Kubernetes wrote them (whole seconds). `deletionTimestamp` is when the pod will be gone at the
//! latest (the delete request's time plus the grace period), not when it was deleted; the grace
//! period travels in the detail (`grace_period_s`) so consumers can compute the request's time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::node;
use crate::event::{Lifecycle, LifecycleKind};
use crate::model::ObjectRef;

fn wall(time: &Time) -> SystemTime {
    let ms = time.0.as_millisecond();
    match u64::try_from(ms) {
        Ok(ms) => SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

fn event(kind: LifecycleKind, object: ObjectRef, seen_at: SystemTime) -> Lifecycle {
    Lifecycle {
        kind,
        object,
        node: None,
        address: None,
        object_time: None,
        seen_at,
        detail: Vec::new(),
    }
}

fn pod_ref(pod: &Pod) -> ObjectRef {
    ObjectRef::from_meta("Pod", &pod.metadata)
}

/// The pod's conditions: type → (status is True, lastTransitionTime).
fn conditions(pod: &Pod) -> BTreeMap<&str, (bool, Option<SystemTime>)> {
    pod.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .map(|c| {
            (
                c.type_.as_str(),
                (
                    c.status == "True",
                    c.last_transition_time.as_ref().map(wall),
                ),
            )
        })
        .collect()
}

/// What a container's preStop hook does, in kubectl's words.
fn pre_stop(container: &Container) -> Option<String> {
    let hook = container.lifecycle.as_ref()?.pre_stop.as_ref()?;
    if let Some(exec) = &hook.exec {
        return Some(format!(
            "exec {}",
            exec.command
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if let Some(sleep) = &hook.sleep {
        return Some(format!("sleep {}", sleep.seconds));
    }
    if let Some(http) = &hook.http_get {
        return Some(format!("httpGet {}", http.path.as_deref().unwrap_or("/")));
    }
    hook.tcp_socket.as_ref().map(|_| "tcpSocket".to_owned())
}

/// Lifecycle events of one pod between two of its states (`None`: not yet seen, or deleted).
pub fn pod(old: Option<&Pod>, new: Option<&Pod>, seen_at: SystemTime) -> Vec<Lifecycle> {
    let Some(current) = new.or(old) else {
        return Vec::new();
    };
    let object = pod_ref(current);
    let node = current.spec.as_ref().and_then(|s| s.node_name.clone());
    let address: Option<IpAddr> = current
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let mut events = Vec::new();
    let mut push = |kind, time: Option<SystemTime>, detail: Vec<(String, String)>| {
        let mut e = event(kind, object.clone(), seen_at);
        e.node = node.clone();
        e.address = address;
        e.object_time = time;
        e.detail = detail;
        events.push(e);
    };
    let Some(new) = new else {
        push(LifecycleKind::PodDeleted, None, Vec::new());
        return events;
    };
    if old.is_none() {
        push(
            LifecycleKind::PodCreated,
            new.metadata.creation_timestamp.as_ref().map(wall),
            Vec::new(),
        );
    }
    let before = old.map(conditions).unwrap_or_default();
    let after = conditions(new);
    let gates: Vec<&str> = new
        .spec
        .iter()
        .flat_map(|s| s.readiness_gates.iter().flatten())
        .map(|g| g.condition_type.as_str())
        .collect();
    for (type_, (status, time)) in &after {
        let was = before.get(type_).map(|(s, _)| *s);
        if was == Some(*status) {
            continue;
        }
        let kind = match (*type_, *status) {
            ("PodScheduled", true) => LifecycleKind::PodScheduled,
            ("ContainersReady", true) => LifecycleKind::ContainersReady,
            ("Ready", true) => LifecycleKind::PodReady,
            // A pod that was never ready is not news; one that stops being ready is.
            ("Ready", false) if was == Some(true) => LifecycleKind::PodNotReady,
            (gate, _) if gates.contains(&gate) => LifecycleKind::ReadinessGate,
            _ => continue,
        };
        let detail = if kind == LifecycleKind::ReadinessGate {
            vec![
                ("condition".to_owned(), (*type_).to_owned()),
                ("status".to_owned(), status.to_string()),
            ]
        } else {
            Vec::new()
        };
        push(kind, *time, detail);
    }
    let terminating_now = new.metadata.deletion_timestamp.as_ref();
    let terminating_before = old.and_then(|o| o.metadata.deletion_timestamp.as_ref());
    if let (Some(at), None) = (terminating_now, terminating_before) {
        let mut detail = Vec::new();
        if let Some(grace) = new.metadata.deletion_grace_period_seconds {
            detail.push(("grace_period_s".to_owned(), grace.to_string()));
        }
        if let Some(spec) = new.spec.as_ref() {
            if let Some(grace) = spec.termination_grace_period_seconds {
                detail.push(("termination_grace_period_s".to_owned(), grace.to_string()));
            }
            for container in &spec.containers {
                if let Some(hook) = pre_stop(container) {
                    detail.push(("pre_stop".to_owned(), format!("{}: {hook}", container.name)));
                }
            }
        }
        push(LifecycleKind::PodTerminating, Some(wall(at)), detail);
    }
    // Conditions come by name; tell them in the order they happened (a stable sort keeps
    // creation first among equal seconds).
    events.sort_by_key(|e| e.object_time);
    events
}

/// An endpoint's conditions, as `ready`, `serving`, `terminating` (unset `ready`/`serving`
/// mean true, unset `terminating` false, as the API says).
fn endpoint_state(e: &Endpoint) -> (bool, bool, bool) {
    let c = e.conditions.as_ref();
    (
        c.and_then(|c| c.ready) != Some(false),
        c.and_then(|c| c.serving).or(c.and_then(|c| c.ready)) != Some(false),
        c.and_then(|c| c.terminating) == Some(true),
    )
}

/// This node's endpoints of a slice, by address.
fn local_endpoints<'a>(
    slice: Option<&'a EndpointSlice>,
    node: &str,
) -> BTreeMap<&'a str, &'a Endpoint> {
    slice
        .into_iter()
        .flat_map(|s| &s.endpoints)
        .filter(|e| e.node_name.as_deref() == Some(node))
        .filter_map(|e| e.addresses.first().map(|a| (a.as_str(), e)))
        .collect()
}

/// Changes of this node's endpoints between two states of one EndpointSlice.
pub fn endpoint_slice(
    old: Option<&EndpointSlice>,
    new: Option<&EndpointSlice>,
    node: &str,
    seen_at: SystemTime,
) -> Vec<Lifecycle> {
    let Some(current) = new.or(old) else {
        return Vec::new();
    };
    let object = ObjectRef::from_meta("EndpointSlice", &current.metadata);
    let service = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(super::targets::SERVICE_NAME_LABEL));
    let before = local_endpoints(old, node);
    let after = local_endpoints(new, node);
    let mut events = Vec::new();
    let describe = |address: &str, e: &Endpoint| {
        let mut detail = vec![("address".to_owned(), address.to_owned())];
        if let Some(service) = service {
            detail.push(("service".to_owned(), service.clone()));
        }
        if let Some(pod) = e.target_ref.as_ref().and_then(|r| r.name.as_ref()) {
            detail.push(("pod".to_owned(), pod.clone()));
        }
        detail
    };
    for (address, endpoint) in &after {
        let state = endpoint_state(endpoint);
        if before.get(address).map(|e| endpoint_state(e)) == Some(state) {
            continue;
        }
        let mut e = event(LifecycleKind::EndpointConditions, object.clone(), seen_at);
        e.node = Some(node.to_owned());
        e.address = address.parse().ok();
        e.detail = describe(address, endpoint);
        e.detail.push(("ready".to_owned(), state.0.to_string()));
        e.detail.push(("serving".to_owned(), state.1.to_string()));
        e.detail
            .push(("terminating".to_owned(), state.2.to_string()));
        events.push(e);
    }
    for (address, endpoint) in &before {
        if after.contains_key(address) {
            continue;
        }
        let mut e = event(LifecycleKind::EndpointRemoved, object.clone(), seen_at);
        e.node = Some(node.to_owned());
        e.address = address.parse().ok();
        e.detail = describe(address, endpoint);
        events.push(e);
    }
    events
}

/// Cordon, taints and deletion of the agent's node.
pub fn node(old: Option<&Node>, new: Option<&Node>, seen_at: SystemTime) -> Vec<Lifecycle> {
    let Some(current) = new.or(old) else {
        return Vec::new();
    };
    let name = current.metadata.name.clone().unwrap_or_default();
    let object = ObjectRef::new("Node", "", &name);
    let mut events = Vec::new();
    let mut push = |kind, detail: Vec<(String, String)>| {
        let mut e = event(kind, object.clone(), seen_at);
        e.node = Some(name.clone());
        e.detail = detail;
        events.push(e);
    };
    let Some(new) = new else {
        push(LifecycleKind::NodeDeleted, Vec::new());
        return events;
    };
    let was_cordoned = old.is_some_and(node::is_cordoned);
    match (was_cordoned, node::is_cordoned(new)) {
        (false, true) => push(LifecycleKind::NodeCordoned, Vec::new()),
        (true, false) => push(LifecycleKind::NodeUncordoned, Vec::new()),
        _ => {}
    }
    let before = old.map(node::taints).unwrap_or_default();
    let after = node::taints(new);
    for taint in after.iter().filter(|t| !before.contains(t)) {
        push(
            LifecycleKind::NodeTainted,
            vec![("taint".to_owned(), taint.clone())],
        );
    }
    for taint in before.iter().filter(|t| !after.contains(t)) {
        push(
            LifecycleKind::NodeUntainted,
            vec![("taint".to_owned(), taint.clone())],
        );
    }
    events
}

#[cfg(test)]
mod tests;
