//! A Deployment's `status`: counts and the Available and Progressing conditions, as
//! `calculateStatus` and `syncRolloutStatus` write them.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::jiff::Timestamp;

use super::rollout::Group;
use super::template::Params;
use crate::controllers::objects::time;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const REASON_PAUSED: &str = "DeploymentPaused";
pub const REASON_RESUMED: &str = "DeploymentResumed";

/// What this sync knows beyond the pods.
#[derive(Debug)]
pub struct Sync<'s, 'a> {
    pub deployment: &'s Deployment,
    pub params: &'s Params,
    pub new: &'s Group<'a>,
    pub old: &'s [Group<'a>],
    /// The name upstream's new ReplicaSet would have.
    pub new_rs_name: &'s str,
    /// This sync creates the first pods of the new template.
    pub creating_new: bool,
    pub now: Timestamp,
}

/// The status this sync leaves the Deployment with.
pub fn compute(sync: &Sync<'_, '_>) -> DeploymentStatus {
    let Sync {
        deployment,
        params,
        new,
        old,
        new_rs_name,
        creating_new,
        now,
    } = *sync;
    let previous = deployment.status.clone().unwrap_or_default();
    let mut conditions = previous.conditions.clone().unwrap_or_default();
    let has_deadline = params.progress_deadline_seconds.is_some();

    // checkPausedConditions
    let progressing_reason = find(&conditions, PROGRESSING).and_then(|c| c.reason.clone());
    if params.paused && progressing_reason.as_deref() != Some(REASON_PAUSED) {
        set(
            &mut conditions,
            condition(
                PROGRESSING,
                "Unknown",
                REASON_PAUSED,
                "Deployment is paused",
                now,
            ),
        );
    } else if !params.paused && progressing_reason.as_deref() == Some(REASON_PAUSED) {
        set(
            &mut conditions,
            condition(
                PROGRESSING,
                "Unknown",
                REASON_RESUMED,
                "Deployment is resumed",
                now,
            ),
        );
    }
    // getNewReplicaSet's conditions.
    if has_deadline && !params.paused {
        if creating_new {
            let message = format!("Created new replica set {new_rs_name:?}");
            set(
                &mut conditions,
                condition(PROGRESSING, "True", REASON_NEW_RS_CREATED, &message, now),
            );
        } else if !new.pods.is_empty() && find(&conditions, PROGRESSING).is_none() {
            let message = format!("Found new replica set {new_rs_name:?}");
            set(
                &mut conditions,
                condition(PROGRESSING, "True", REASON_FOUND_NEW_RS, &message, now),
            );
        }
    }
    let current_progressing = find(&conditions, PROGRESSING).cloned();

    // calculateStatus
    let available: i32 =
        new.available(params, now) + old.iter().map(|g| g.available(params, now)).sum::<i32>();
    let replicas = new.replicas() + old.iter().map(Group::replicas).sum::<i32>();
    let updated = new.replicas();
    let ready = new.ready() + old.iter().map(Group::ready).sum::<i32>();
    let terminating = new.terminating() + old.iter().map(Group::terminating).sum::<i32>();
    let unavailable = (params.replicas - available).max(0);
    if available >= params.replicas - params.max_unavailable {
        let c = condition(
            AVAILABLE,
            "True",
            REASON_MIN_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        );
        set(&mut conditions, c);
    } else {
        let c = condition(
            AVAILABLE,
            "False",
            REASON_MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        );
        set(&mut conditions, c);
    }
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation.filter(|g| *g != 0),
        replicas: nonzero(replicas),
        updated_replicas: nonzero(updated),
        ready_replicas: nonzero(ready),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero(unavailable),
        terminating_replicas: Some(terminating),
        collision_count: previous.collision_count,
        conditions: None,
    };

    // syncRolloutStatus (paused Deployments skip it upstream).
    if !has_deadline {
        conditions.retain(|c| c.type_ != PROGRESSING);
    }
    let complete_before = replicas == updated
        && current_progressing
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(REASON_NEW_RS_AVAILABLE));
    if has_deadline && !params.paused && !complete_before {
        if updated == params.replicas && replicas == params.replicas && available == params.replicas
        {
            let message = format!("ReplicaSet {new_rs_name:?} has successfully progressed.");
            set(
                &mut conditions,
                condition(PROGRESSING, "True", REASON_NEW_RS_AVAILABLE, &message, now),
            );
        } else if made_progress(&previous, updated, replicas - updated, ready, available) {
            let message = format!("ReplicaSet {new_rs_name:?} is progressing.");
            let mut c = condition(PROGRESSING, "True", REASON_RS_UPDATED, &message, now);
            if let Some(current) = current_progressing.as_ref().filter(|c| c.status == "True") {
                c.last_transition_time = current.last_transition_time.clone();
            }
            conditions.retain(|c| c.type_ != PROGRESSING);
            conditions.push(c);
        } else if timed_out(params, &conditions, now) {
            let message = format!("ReplicaSet {new_rs_name:?} has timed out progressing.");
            set(
                &mut conditions,
                condition(PROGRESSING, "False", REASON_TIMED_OUT, &message, now),
            );
        }
    }
    status.conditions = Some(conditions);
    status
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// `deploymentutil.DeploymentProgressing`.
fn made_progress(
    previous: &DeploymentStatus,
    updated: i32,
    old: i32,
    ready: i32,
    available: i32,
) -> bool {
    let before_updated = previous.updated_replicas.unwrap_or(0);
    let before_old = previous.replicas.unwrap_or(0) - before_updated;
    updated > before_updated
        || old < before_old
        || ready > previous.ready_replicas.unwrap_or(0)
        || available > previous.available_replicas.unwrap_or(0)
}

/// `deploymentutil.DeploymentTimedOut`.
fn timed_out(params: &Params, conditions: &[DeploymentCondition], now: Timestamp) -> bool {
    let (Some(deadline), Some(c)) = (
        params.progress_deadline_seconds,
        find(conditions, PROGRESSING),
    ) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(REASON_NEW_RS_AVAILABLE) => false,
        Some(REASON_TIMED_OUT) => true,
        _ => c
            .last_update_time
            .as_ref()
            .is_some_and(|from| from.0.as_second() + i64::from(deadline) < now.as_second()),
    }
}

/// When a rollout that is still going would time out, if it is going.
pub fn deadline(params: &Params, status: &DeploymentStatus) -> Option<Timestamp> {
    let seconds = params.progress_deadline_seconds?;
    let c = find(status.conditions.as_deref().unwrap_or(&[]), PROGRESSING)?;
    let going = c.status == "True" && c.reason.as_deref() != Some(REASON_NEW_RS_AVAILABLE);
    let from = c.last_update_time.as_ref().filter(|_| going)?;
    Timestamp::from_second(from.0.as_second() + i64::from(seconds) + 1).ok()
}

fn find<'c>(conditions: &'c [DeploymentCondition], kind: &str) -> Option<&'c DeploymentCondition> {
    conditions.iter().find(|c| c.type_ == kind)
}

fn condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_update_time: Some(time(now)),
        last_transition_time: Some(time(now)),
    }
}

/// `deploymentutil.SetDeploymentCondition`: nothing changes when status and reason are the same;
/// `lastTransitionTime` stays when only the reason changes; the condition moves to the end.
fn set(conditions: &mut Vec<DeploymentCondition>, mut new: DeploymentCondition) {
    if let Some(current) = find(conditions, &new.type_) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    conditions.retain(|c| c.type_ != new.type_);
    conditions.push(new);
}
