//! The scheduler: binds pods without `spec.nodeName` to a node, as kube-scheduler's default
//! profile would for the lab's pods (no resources, no volumes, no inter-pod affinity).
//!
//! Filters, in kube-scheduler's plugin order: NodeUnschedulable (`spec.unschedulable` unless
//! tolerated), TaintToleration (NoSchedule and NoExecute taints, plus the `not-ready` or
//! `unreachable` taint the node lifecycle controller puts on a node that is not Ready), NodeAffinity
//! (`nodeSelector` and required node affinity). Among the nodes left it prefers the one with the
//! fewest active pods of the same controller (spreading), then the fewest pods, then the name.
//! A pod that fits nowhere stays Pending with `PodScheduled=False`, reason `Unschedulable` and
//! the message kube-scheduler writes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;

use super::objects::{self, controller_of, name_of, namespace_of};
use super::run::{RETRY_AFTER, Reconcile};
use crate::api::{Resource, Store, StoreError};

mod filter;

use filter::filter;
pub use filter::{
    TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, effective_taints, tolerates,
};

/// The scheduler name pods ask for by default (an empty `schedulerName` means this one).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// One decision: bind the pod to `node`, or say why it cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Bind {
        namespace: String,
        name: String,
        node: String,
    },
    Unschedulable {
        namespace: String,
        name: String,
        message: String,
    },
}

/// The pure core: what to do with every pending pod, given all nodes and pods. An
/// `Unschedulable` decision is only returned when the pod does not already say so.
pub fn plan(nodes: &[Node], pods: &[Pod]) -> Vec<Decision> {
    let mut nodes: Vec<&Node> = nodes.iter().collect();
    nodes.sort_by(|a, b| name_of(&a.metadata).cmp(name_of(&b.metadata)));
    let mut load = Load::default();
    for pod in pods.iter().filter(|p| !objects::node_name(p).is_empty()) {
        load.add(pod, objects::node_name(pod));
    }
    let mut pending: Vec<&Pod> = pods.iter().filter(|p| needs_scheduling(p)).collect();
    // kube-scheduler's queue: higher priority first, then older first.
    pending.sort_by_key(|p| {
        let priority = p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (
            std::cmp::Reverse(priority),
            created,
            namespace_of(&p.metadata).to_owned(),
            name_of(&p.metadata).to_owned(),
        )
    });
    let mut decisions = Vec::new();
    for pod in pending {
        let namespace = namespace_of(&pod.metadata).to_owned();
        let name = name_of(&pod.metadata).to_owned();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut best: Option<((usize, usize), &str)> = None;
        for node in &nodes {
            let node_name = name_of(&node.metadata);
            match filter(pod, node) {
                Err(reason) => *reasons.entry(reason).or_default() += 1,
                Ok(()) => {
                    let score = load.score(pod, node_name);
                    if best.is_none_or(|(b, _)| score < b) {
                        best = Some((score, node_name));
                    }
                }
            }
        }
        match best {
            Some((_, node)) => {
                load.add(pod, node);
                decisions.push(Decision::Bind {
                    namespace,
                    name,
                    node: node.to_owned(),
                });
            }
            None => {
                let message = unschedulable_message(nodes.len(), &reasons);
                if !already_unschedulable(pod, &message) {
                    decisions.push(Decision::Unschedulable {
                        namespace,
                        name,
                        message,
                    });
                }
            }
        }
    }
    decisions
}

fn needs_scheduling(pod: &Pod) -> bool {
    let scheduler = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref());
    objects::node_name(pod).is_empty()
        && !objects::is_terminating(pod)
        && !objects::is_terminal(pod)
        && scheduler.is_none_or(|s| s.is_empty() || s == DEFAULT_SCHEDULER_NAME)
}

fn already_unschedulable(pod: &Pod, message: &str) -> bool {
    objects::pod_condition(pod, "PodScheduled").is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
            && c.message.as_deref() == Some(message)
    })
}

/// kube-scheduler's FitError text, with the preemption postfilter's verdict (no pod of the lab
/// can preempt its way past these filters).
fn unschedulable_message(nodes: usize, reasons: &BTreeMap<String, usize>) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".to_owned();
    }
    let mut counted: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    counted.sort();
    format!(
        "0/{nodes} nodes are available: {}. preemption: 0/{nodes} nodes are available: {nodes} Preemption is not helpful for scheduling.",
        counted.join(", ")
    )
}

/// Pods per node, and per node and controller, as the scheduler counts them for spreading.
#[derive(Default)]
struct Load {
    pods: HashMap<String, usize>,
    by_owner: HashMap<(String, String), usize>,
}

impl Load {
    fn add(&mut self, pod: &Pod, node: &str) {
        if objects::is_terminal(pod) {
            return;
        }
        *self.pods.entry(node.to_owned()).or_default() += 1;
        // Spreading ignores pods on their way out, as PodTopologySpread does.
        if let (Some(owner), false) = (owner(pod), objects::is_terminating(pod)) {
            *self.by_owner.entry((node.to_owned(), owner)).or_default() += 1;
        }
    }

    fn score(&self, pod: &Pod, node: &str) -> (usize, usize) {
        let siblings = owner(pod)
            .and_then(|o| self.by_owner.get(&(node.to_owned(), o)).copied())
            .unwrap_or(0);
        (siblings, self.pods.get(node).copied().unwrap_or(0))
    }
}

fn owner(pod: &Pod) -> Option<String> {
    controller_of(&pod.metadata).map(|o| o.uid.clone())
}

/// The scheduler as a controller on the store.
#[derive(Debug, Default)]
pub struct Scheduler;

impl Reconcile for Scheduler {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    fn follows(&self, resource: Resource) -> bool {
        matches!(resource, Resource::Pod | Resource::Node)
    }

    fn reconcile(&mut self, store: &Store) -> Option<Duration> {
        let nodes: Vec<Node> = store.list_typed(None);
        let pods: Vec<Pod> = store.list_typed(None);
        let now = objects::now();
        let mut failed = false;
        for decision in plan(&nodes, &pods) {
            match apply(store, &decision, now) {
                // Deleted meanwhile: nothing to schedule.
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(?decision, error = %e, "scheduler could not write its decision");
                    failed = true;
                }
            }
        }
        failed.then_some(RETRY_AFTER)
    }
}

fn apply(store: &Store, decision: &Decision, now: Timestamp) -> Result<(), StoreError> {
    match decision {
        Decision::Bind {
            namespace,
            name,
            node,
        } => {
            store.modify(Resource::Pod, namespace, name, |pod| {
                let unbound = pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
                if unbound {
                    pod["spec"]["nodeName"] = serde_json::json!(node);
                    objects::set_pod_condition(pod, "PodScheduled", "True", None, None, now);
                }
            })?;
            tracing::debug!(%namespace, %name, %node, "scheduled");
        }
        Decision::Unschedulable {
            namespace,
            name,
            message,
        } => {
            store.modify(Resource::Pod, namespace, name, |pod| {
                if pod["status"]["phase"].is_null() {
                    pod["status"]["phase"] = serde_json::json!("Pending");
                }
                objects::set_pod_condition(
                    pod,
                    "PodScheduled",
                    "False",
                    Some("Unschedulable"),
                    Some(message),
                    now,
                );
            })?;
            tracing::debug!(%namespace, %name, %message, "unschedulable");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
