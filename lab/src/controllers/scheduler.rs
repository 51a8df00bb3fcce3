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

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, Pod, Taint, Toleration};
use k8s_openapi::jiff::Timestamp;

use super::objects::{self, controller_of, name_of, namespace_of};
use super::run::{RETRY_AFTER, Reconcile};
use crate::api::{Resource, Store};

/// The scheduler name pods ask for by default (an empty `schedulerName` means this one).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// The taint of a node whose Ready condition is False or missing.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint a cordoned node carries.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

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

/// Whether `pod` may run on `node`, or the first filter's reason why not.
fn filter(pod: &Pod, node: &Node) -> Result<(), String> {
    let spec = pod.spec.as_ref();
    let tolerations: &[Toleration] = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    let cordon = Taint {
        key: TAINT_UNSCHEDULABLE.to_owned(),
        effect: "NoSchedule".to_owned(),
        ..Taint::default()
    };
    if cordoned && !tolerations.iter().any(|t| tolerates(t, &cordon)) {
        return Err("node(s) were unschedulable".to_owned());
    }
    for taint in effective_taints(node) {
        if !matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute") {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, &taint)) {
            return Err(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            ));
        }
    }
    if !fits_affinity(pod, node) {
        return Err("node(s) didn't match Pod's node affinity/selector".to_owned());
    }
    Ok(())
}

/// The node's taints, plus the one the node lifecycle controller adds when it is not Ready.
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let implied = match ready {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => Some(TAINT_NOT_READY),
    };
    if let Some(key) = implied
        && !taints
            .iter()
            .any(|t| t.key == key && t.effect == "NoSchedule")
    {
        taints.push(Taint {
            key: key.to_owned(),
            effect: "NoSchedule".to_owned(),
            ..Taint::default()
        });
    }
    taints
}

/// `Toleration.ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    let key = toleration.key.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// `nodeSelector` and `requiredDuringSchedulingIgnoredDuringExecution` node affinity.
fn fits_affinity(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let labels = node.metadata.labels.as_ref();
    if let Some(selector) = &spec.node_selector
        && !objects::labels_match(selector, labels)
    {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let Some(required) = required else {
        return true;
    };
    // Terms are ORed; an empty term matches nothing.
    required.node_selector_terms.iter().any(|term| {
        let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
        let fields = term.match_fields.as_deref().unwrap_or(&[]);
        (!expressions.is_empty() || !fields.is_empty())
            && expressions.iter().all(|r| {
                requirement_matches(r, |key| labels.and_then(|l| l.get(key)).map(String::as_str))
            })
            && fields.iter().all(|r| {
                requirement_matches(r, |key| {
                    (key == "metadata.name").then(|| name_of(&node.metadata))
                })
            })
    })
}

fn requirement_matches<'a>(
    requirement: &NodeSelectorRequirement,
    value_of: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    let values = requirement.values.as_deref().unwrap_or(&[]);
    let value = value_of(&requirement.key);
    let number = |s: &str| s.parse::<i64>().ok();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|s| number(s)),
            ) else {
                return false;
            };
            if requirement.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
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
            if let Err(e) = apply(store, &decision, now) {
                tracing::warn!(?decision, error = %e, "scheduler could not write its decision");
                failed = true;
            }
        }
        failed.then_some(RETRY_AFTER)
    }
}

fn apply(store: &Store, decision: &Decision, now: Timestamp) -> Result<(), crate::api::StoreError> {
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
