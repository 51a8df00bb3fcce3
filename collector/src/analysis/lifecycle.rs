//! What Kubernetes said, per pod, Service and node, with the moments analysis computes from.
//!
//! Kubernetes timestamps have whole-second precision (`metav1.Time`), while the agent's
//! `seen_at` is precise but later. A moment is the object's timestamp, sharpened to `seen_at`
//! when the agent saw the event within the timestamp's second.
//!
//! Terminating: the API server sets `deletionTimestamp` to the time of the delete request plus
//! the grace period (the kubelet kills the pod at `deletionTimestamp`), so the moment a pod
//! went Terminating, the one preStop and drains count from, is
//! `deletionTimestamp - grace_period_s`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use probesim_agent::event::{Lifecycle, LifecycleKind};

/// A pod's moments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodMoments {
    pub node: Option<String>,
    pub address: Option<IpAddr>,
    /// Every Ready moment, in time order.
    pub ready: Vec<SystemTime>,
    pub terminating: Option<Terminating>,
    /// When its endpoint turned terminating or not ready after Terminating, or was removed.
    pub endpoint_leaves: Option<SystemTime>,
}

/// The pod's deletion, as the agent reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminating {
    /// The delete request: `deletionTimestamp - grace_period_s` (see the module's doc).
    pub at: SystemTime,
    pub grace_period_s: Option<u32>,
    pub pre_stop: Option<String>,
}

/// A Service's ready endpoint count at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub ready: Option<u32>,
    pub total: Option<u32>,
    pub selector: Option<String>,
    pub at: SystemTime,
}

/// The lifecycle of a range, indexed.
#[derive(Clone, Debug, Default)]
pub struct Moments {
    /// By `namespace/name`.
    pub pods: BTreeMap<String, PodMoments>,
    /// The latest count per Service, by `namespace/name`.
    pub endpoints: BTreeMap<String, Endpoints>,
    /// When each node was deleted.
    pub nodes_deleted: BTreeMap<String, SystemTime>,
}

pub fn detail<'a>(l: &'a Lifecycle, key: &str) -> Option<&'a str> {
    l.detail
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The object's timestamp sharpened by `seen_at` (see the module's doc).
pub fn moment(object_time: Option<SystemTime>, seen_at: SystemTime) -> SystemTime {
    match object_time {
        Some(t) if seen_at >= t && seen_at < t + Duration::from_secs(1) => seen_at,
        Some(t) => t,
        None => seen_at,
    }
}

fn ns_name(l: &Lifecycle) -> String {
    format!("{}/{}", l.object.namespace, l.object.name)
}

impl Moments {
    pub fn new(lifecycle: &[Lifecycle]) -> Moments {
        let mut m = Moments::default();
        for l in lifecycle.iter().filter(|l| l.object.kind == "Pod") {
            let pod = m.pods.entry(ns_name(l)).or_default();
            pod.node = pod.node.take().or_else(|| l.node.clone());
            pod.address = pod.address.or(l.address);
            match l.kind {
                LifecycleKind::PodReady => {
                    let at = moment(l.object_time, l.seen_at);
                    if !pod.ready.contains(&at) {
                        pod.ready.push(at);
                    }
                }
                LifecycleKind::PodTerminating if pod.terminating.is_none() => {
                    pod.terminating = Some(terminating(l));
                }
                _ => {}
            }
        }
        for pod in m.pods.values_mut() {
            pod.ready.sort();
        }
        for l in lifecycle {
            match l.kind {
                LifecycleKind::EndpointConditions | LifecycleKind::EndpointRemoved => {
                    m.endpoint_event(l)
                }
                LifecycleKind::ServiceEndpoints => {
                    let count = |k| detail(l, k).and_then(|v| v.trim().parse().ok());
                    m.endpoints.insert(
                        ns_name(l),
                        Endpoints {
                            ready: count("ready"),
                            total: count("total"),
                            selector: detail(l, "selector").map(str::to_owned),
                            at: moment(l.object_time, l.seen_at),
                        },
                    );
                }
                LifecycleKind::NodeDeleted => {
                    let node = l.node.clone().unwrap_or_else(|| l.object.name.clone());
                    let at = moment(l.object_time, l.seen_at);
                    m.nodes_deleted.entry(node).or_insert(at);
                }
                _ => {}
            }
        }
        m
    }

    /// An endpoint that stops being ready (or serving) or goes away after its pod went
    /// Terminating: what the LB controller deregisters on.
    fn endpoint_event(&mut self, l: &Lifecycle) {
        let leaves = l.kind == LifecycleKind::EndpointRemoved
            || ["ready", "serving"]
                .iter()
                .any(|k| detail(l, k) == Some("false"))
            || detail(l, "terminating") == Some("true");
        let Some(address) = l.address.filter(|_| leaves) else {
            return;
        };
        let at = moment(l.object_time, l.seen_at);
        let pod = self.pods.values_mut().find(|p| {
            p.address == Some(address) && p.terminating.as_ref().is_some_and(|t| t.at <= at)
        });
        if let Some(pod) = pod
            && pod.endpoint_leaves.is_none()
        {
            pod.endpoint_leaves = Some(at);
        }
    }
}

fn terminating(l: &Lifecycle) -> Terminating {
    let grace_period_s = detail(l, "grace_period_s").and_then(|v| v.trim().parse::<u32>().ok());
    let grace = Duration::from_secs(u64::from(grace_period_s.unwrap_or(0)));
    let request = l.object_time.and_then(|t| t.checked_sub(grace));
    Terminating {
        at: moment(request, l.seen_at),
        grace_period_s,
        pre_stop: detail(l, "pre_stop").map(str::to_owned),
    }
}
