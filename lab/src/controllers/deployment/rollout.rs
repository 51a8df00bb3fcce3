//! How many pods of each template to add or remove: the Deployment controller's rolling and
//! recreate strategies and the ReplicaSet controller's choice of which pods go, over the lab's
//! "virtual ReplicaSets" (a Deployment's pods grouped by pod-template-hash).
//!
//! A virtual ReplicaSet's `spec.replicas` is its count of active pods: the state a real one
//! reaches once its ReplicaSet controller has caught up, which in the lab is at once.

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::template::{POD_TEMPLATE_HASH_LABEL, Params, Strategy};
use crate::controllers::objects::{self, is_active, is_ready, ready_since};

/// Pod annotation that makes a pod cheaper or dearer to delete on scale-down.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The pods of one template.
#[derive(Debug)]
pub struct Group<'a> {
    pub hash: String,
    pub pods: Vec<&'a Pod>,
}

impl<'a> Group<'a> {
    pub fn active(&self) -> impl Iterator<Item = &'a Pod> + '_ {
        self.pods.iter().copied().filter(|p| is_active(p))
    }

    pub fn replicas(&self) -> i32 {
        count(self.active())
    }

    pub fn ready(&self) -> i32 {
        count(self.active().filter(|p| is_ready(p)))
    }

    pub fn available(&self, params: &Params, now: Timestamp) -> i32 {
        count(
            self.active()
                .filter(|p| objects::is_available(p, params.min_ready_seconds, now)),
        )
    }

    pub fn terminating(&self) -> i32 {
        count(
            self.pods
                .iter()
                .filter(|p| objects::is_terminating(p) && !objects::is_terminal(p)),
        )
    }

    /// When the oldest pod was created: the lab's stand-in for the ReplicaSet's age.
    fn created(&self) -> Option<Timestamp> {
        self.pods
            .iter()
            .filter_map(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .min()
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}

/// The new template's group and the old ones, oldest first.
pub fn group<'a>(pods: &[&'a Pod], new_hash: &str) -> (Group<'a>, Vec<Group<'a>>) {
    let mut by_hash: HashMap<String, Vec<&'a Pod>> = HashMap::new();
    for pod in pods {
        let hash = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .cloned()
            .unwrap_or_default();
        by_hash.entry(hash).or_default().push(pod);
    }
    let new = Group {
        hash: new_hash.to_owned(),
        pods: by_hash.remove(new_hash).unwrap_or_default(),
    };
    let mut old: Vec<Group<'a>> = by_hash
        .into_iter()
        .map(|(hash, pods)| Group { hash, pods })
        .collect();
    old.sort_by(|a, b| {
        a.created()
            .cmp(&b.created())
            .then_with(|| a.hash.cmp(&b.hash))
    });
    (new, old)
}

/// One step of a rollout: pods of the new template to create, pods of each group to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub create: i32,
    /// `(hash, how many)`.
    pub remove: Vec<(String, i32)>,
}

impl Step {
    fn remove(&mut self, hash: &str, n: i32) {
        if n <= 0 {
            return;
        }
        match self.remove.iter_mut().find(|(h, _)| h == hash) {
            Some((_, total)) => *total += n,
            None => self.remove.push((hash.to_owned(), n)),
        }
    }
}

/// The Deployment controller's decision for this sync.
pub fn step(params: &Params, new: &Group<'_>, old: &[Group<'_>], now: Timestamp) -> Step {
    if params.paused {
        return Step::default();
    }
    match params.strategy {
        Strategy::RollingUpdate => rolling(params, new, old, now),
        Strategy::Recreate => recreate(params, new, old),
    }
}

/// `rolloutRolling`: scale the new group up within the surge; otherwise scale old groups down
/// within the availability budget, unhealthy pods first.
fn rolling(params: &Params, new: &Group<'_>, old: &[Group<'_>], now: Timestamp) -> Step {
    let mut step = Step::default();
    let new_replicas = new.replicas();
    let old_replicas: i32 = old.iter().map(Group::replicas).sum();
    let all = new_replicas + old_replicas;
    if new_replicas > params.replicas {
        step.remove(&new.hash, new_replicas - params.replicas);
        return step;
    }
    if new_replicas < params.replicas {
        let max_total = params.replicas + params.max_surge;
        let up = (max_total - all).min(params.replicas - new_replicas);
        if up > 0 {
            step.create = up;
            return step;
        }
    }
    if old_replicas == 0 {
        return step;
    }
    let min_available = params.replicas - params.max_unavailable;
    let new_unavailable = new_replicas - new.available(params, now);
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return step;
    }
    // cleanupUnhealthyReplicas
    let mut left: Vec<i32> = old.iter().map(Group::replicas).collect();
    let mut cleaned = 0;
    for (i, group) in old.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = left[i] - group.available(params, now);
        if left[i] == 0 || unhealthy <= 0 {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(unhealthy);
        left[i] -= n;
        cleaned += n;
        step.remove(&group.hash, n);
    }
    // scaleDownOldReplicaSetsForRollingUpdate
    let available: i32 =
        new.available(params, now) + old.iter().map(|g| g.available(params, now)).sum::<i32>();
    if available <= min_available {
        return step;
    }
    let budget = available - min_available;
    let mut done = 0;
    for (i, group) in old.iter().enumerate() {
        if done >= budget {
            break;
        }
        let n = left[i].min(budget - done);
        left[i] -= n;
        done += n;
        step.remove(&group.hash, n);
    }
    step
}

/// `rolloutRecreate`: every old pod goes, and the new ones come only once none runs.
fn recreate(params: &Params, new: &Group<'_>, old: &[Group<'_>]) -> Step {
    let mut step = Step::default();
    let mut scaled_down = false;
    for group in old {
        let replicas = group.replicas();
        if replicas > 0 {
            step.remove(&group.hash, replicas);
            scaled_down = true;
        }
    }
    let old_running = old
        .iter()
        .flat_map(|g| g.pods.iter())
        .any(|p| !objects::is_terminal(p));
    if scaled_down || old_running {
        return step;
    }
    let replicas = new.replicas();
    if replicas < params.replicas {
        step.create = params.replicas - replicas;
    } else {
        step.remove(&new.hash, replicas - params.replicas);
    }
    step
}

/// The `n` active pods of `group` the ReplicaSet controller deletes first (`getPodsToDelete`):
/// ranked against `related` (all the Deployment's pods) by how many share their node.
pub fn victims<'a>(group: &Group<'a>, n: i32, related: &[&Pod], now: Timestamp) -> Vec<&'a Pod> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(objects::node_name(pod)).or_default() += 1;
    }
    let rank = |p: &Pod| on_node.get(objects::node_name(p)).copied().unwrap_or(0);
    let mut candidates: Vec<&'a Pod> = group.active().collect();
    candidates.sort_by(|a, b| {
        deletion_order(a, rank(a), b, rank(b), now)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    candidates.truncate(usize::try_from(n.max(0)).unwrap_or(0));
    candidates
}

/// `ActivePodsWithRanks.Less` as an ordering: `Less` means `a` is deleted before `b`.
pub fn deletion_order(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: Timestamp) -> Ordering {
    let (node_a, node_b) = (objects::node_name(a), objects::node_name(b));
    // 1. Unassigned before assigned.
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 2. Pending before Unknown before Running.
    let ordinal = |p: &Pod| match objects::phase(p) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let by_phase = ordinal(a).cmp(&ordinal(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    // 3. Not ready before ready.
    if is_ready(a) != is_ready(b) {
        return if is_ready(a) {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    // 4. Lower pod-deletion-cost first.
    let by_cost = deletion_cost(a).cmp(&deletion_cost(b));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    // 5. Doubled up before alone.
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    // 6. Ready for less time first (logarithmic buckets, then uid).
    if is_ready(a) && is_ready(b) {
        let (ta, tb) = (ready_since(a), ready_since(b));
        if ta != tb {
            return later_first(ta, tb, a, b, now);
        }
    }
    // 7. More container restarts first.
    let by_restarts = restarts(b).cmp(&restarts(a));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    // 8. Newer first.
    let (ca, cb) = (
        a.metadata.creation_timestamp.as_ref().map(|t| t.0),
        b.metadata.creation_timestamp.as_ref().map(|t| t.0),
    );
    if ca != cb {
        return later_first(ca, cb, a, b, now);
    }
    Ordering::Equal
}

/// A missing time first, then the later time first, compared in log2 buckets of age as with
/// upstream's LogarithmicScaleDown (on by default); same bucket: by uid.
fn later_first(
    ta: Option<Timestamp>,
    tb: Option<Timestamp>,
    a: &Pod,
    b: &Pod,
    now: Timestamp,
) -> Ordering {
    let (Some(ta), Some(tb)) = (ta, tb) else {
        return if ta.is_none() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    };
    let bucket = |t: Timestamp| {
        let age = now.as_nanosecond() - t.as_nanosecond();
        if age > 0 {
            // Truncation is upstream's: int64(math.Log2(float64(d))).
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let log = (age as f64).log2() as i64;
            log
        } else {
            -1
        }
    };
    match bucket(ta).cmp(&bucket(tb)) {
        Ordering::Equal => a.metadata.uid.cmp(&b.metadata.uid),
        other => other,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.iter().map(|c| c.restart_count).max())
        .unwrap_or(0)
}
