//! The Deployment controller, with the ReplicaSet controller folded in: the lab keeps no
//! ReplicaSet objects, so a Deployment creates its pods itself (named
//! `<deployment>-<pod-template-hash>-<5 chars>`, labelled `pod-template-hash`, owned by the
//! Deployment) and its pods grouped by template hash play the ReplicaSets
//! ([`rollout`]). Rollouts follow upstream's RollingUpdate (maxSurge rounds up, maxUnavailable
//! rounds down, 25%/25% by default) and Recreate; a pod counts as available once Ready for
//! `minReadySeconds`; scale-down picks pods as the ReplicaSet controller does.
//!
//! Terminating pods (with a `deletionTimestamp`) are not replicas, as upstream's
//! `FilterActivePods` has it: a rollout creates their replacements without waiting for them to
//! go, and they count toward neither `maxSurge` nor `maxUnavailable`. They are reported in
//! `status.terminatingReplicas` (the DeploymentReplicaSetTerminatingReplicas feature). Recreate
//! alone waits until every old pod is gone.

pub mod rollout;
pub mod status;
pub mod template;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::objects::{self, controller_of, name_of, namespace_of};
use super::run::{RETRY_AFTER, Reconcile};
use crate::api::{Resource, Store, StoreError};

pub use template::{POD_TEMPLATE_HASH_LABEL, Params, Strategy, template_hash};

/// What one sync of a Deployment changes.
#[derive(Debug, Default)]
pub struct Plan {
    /// Pods to create (with `generateName`).
    pub create: Vec<Pod>,
    /// Names of pods to delete gracefully.
    pub delete: Vec<String>,
    /// The new status, when it differs from the current one.
    pub status: Option<DeploymentStatus>,
    /// Look again after this long even if nothing changes (a pod becoming available after
    /// `minReadySeconds`, a progress deadline).
    pub requeue_after: Option<Duration>,
}

/// The pure core: one sync of `deployment`, given the pods of its namespace.
pub fn plan(deployment: &Deployment, pods: &[Pod], now: Timestamp) -> Plan {
    let params = Params::of(deployment);
    let uid = deployment.metadata.uid.as_deref().unwrap_or("");
    let owned: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            controller_of(&p.metadata).is_some_and(|o| o.kind == "Deployment" && o.uid == uid)
        })
        .collect();
    let hash = template_hash(deployment);
    let (new, old) = rollout::group(&owned, &hash);
    let step = rollout::step(&params, &new, &old, now);

    let mut plan = Plan::default();
    let fresh = template::new_pod(deployment, &hash);
    plan.create = (0..step.create).map(|_| fresh.clone()).collect();
    for (group_hash, n) in &step.remove {
        let group = std::iter::once(&new)
            .chain(old.iter())
            .find(|g| &g.hash == group_hash);
        if let Some(group) = group {
            let victims = rollout::victims(group, *n, &owned, now);
            plan.delete
                .extend(victims.iter().map(|p| name_of(&p.metadata).to_owned()));
        }
    }

    let new_rs_name = template::replica_set_name(deployment, &hash);
    let computed = status::compute(&status::Sync {
        deployment,
        params: &params,
        new: &new,
        old: &old,
        new_rs_name: &new_rs_name,
        creating_new: new.pods.is_empty() && step.create > 0,
        now,
    });
    let wake = [
        next_available(&params, &owned, now),
        status::deadline(&params, &computed),
    ]
    .into_iter()
    .flatten()
    .min();
    plan.requeue_after = wake.map(|at| objects::until(now, at));
    if deployment.status.as_ref() != Some(&computed) {
        plan.status = Some(computed);
    }
    plan
}

/// Pods whose controlling Deployment is gone, as `(namespace, name)`: the garbage collector
/// deletes them (background propagation, the default of `kubectl delete`).
pub fn orphans(deployments: &[Deployment], pods: &[Pod]) -> Vec<(String, String)> {
    let alive: std::collections::HashSet<&str> = deployments
        .iter()
        .filter_map(|d| d.metadata.uid.as_deref())
        .collect();
    pods.iter()
        .filter(|p| !objects::is_terminating(p))
        .filter(|p| {
            controller_of(&p.metadata).is_some_and(|o| {
                o.kind == "Deployment"
                    && o.api_version == "apps/v1"
                    && !alive.contains(o.uid.as_str())
            })
        })
        .map(|p| {
            (
                namespace_of(&p.metadata).to_owned(),
                name_of(&p.metadata).to_owned(),
            )
        })
        .collect()
}

/// When the next Ready pod becomes available, if one is waiting out `minReadySeconds`.
fn next_available(params: &Params, pods: &[&Pod], now: Timestamp) -> Option<Timestamp> {
    if params.min_ready_seconds <= 0 {
        return None;
    }
    pods.iter()
        .filter(|p| {
            objects::is_active(p) && !objects::is_available(p, params.min_ready_seconds, now)
        })
        .filter_map(|p| objects::ready_since(p))
        .filter_map(|since| {
            Timestamp::from_second(since.as_second() + i64::from(params.min_ready_seconds) + 1).ok()
        })
        .min()
}

/// The Deployment controller as a controller on the store.
#[derive(Debug, Default)]
pub struct DeploymentController;

impl Reconcile for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn follows(&self, resource: Resource) -> bool {
        matches!(resource, Resource::Deployment | Resource::Pod)
    }

    fn reconcile(&mut self, store: &Store) -> Option<Duration> {
        let deployments: Vec<Deployment> = store.list_typed(None);
        let pods: Vec<Pod> = store.list_typed(None);
        let now = objects::now();
        let mut wake: Option<Duration> = None;
        for deployment in &deployments {
            let namespace = namespace_of(&deployment.metadata);
            let mine: Vec<Pod> = pods
                .iter()
                .filter(|p| namespace_of(&p.metadata) == namespace)
                .cloned()
                .collect();
            let plan = plan(deployment, &mine, now);
            let after = match apply(store, deployment, &plan) {
                Ok(()) => plan.requeue_after,
                Err(e) => {
                    tracing::warn!(deployment = %name_of(&deployment.metadata), %namespace, error = %e, "deployment sync failed");
                    Some(RETRY_AFTER)
                }
            };
            wake = [wake, after].into_iter().flatten().min();
        }
        for (namespace, name) in orphans(&deployments, &pods) {
            match store.delete_gracefully(Resource::Pod, &namespace, &name, None) {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(pod = %name, %namespace, error = %e, "could not delete an orphaned pod");
                    wake = Some(RETRY_AFTER);
                }
            }
        }
        wake
    }
}

fn apply(store: &Store, deployment: &Deployment, plan: &Plan) -> Result<(), StoreError> {
    let namespace = namespace_of(&deployment.metadata);
    let name = name_of(&deployment.metadata);
    for pod in &plan.create {
        let value = serde_json::to_value(pod).map_err(|e| StoreError::Invalid {
            what: format!("Pod for Deployment {namespace}/{name}: {e}"),
        })?;
        let created = store.create(value)?;
        tracing::debug!(deployment = %name, %namespace, pod = %created["metadata"]["name"], "created pod");
    }
    for pod in &plan.delete {
        match store.delete_gracefully(Resource::Pod, namespace, pod, None) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        tracing::debug!(deployment = %name, %namespace, %pod, "deleted pod");
    }
    if let Some(status) = &plan.status {
        let value = serde_json::to_value(status).map_err(|e| StoreError::Invalid {
            what: format!("status of Deployment {namespace}/{name}: {e}"),
        })?;
        match store.modify(Resource::Deployment, namespace, name, |d| {
            d["status"] = value
        }) {
            // Deleted meanwhile: its status no longer matters.
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
