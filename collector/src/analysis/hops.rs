//! The path from the pod to the LB, inside out (spec/scenarios.md S3): pod IP:targetPort ->
//! ClusterIP:port -> NodePort on each node -> the LB's probe. The first hop whose backends
//! fail while the hops before it pass is where to look.

use std::collections::BTreeSet;

use probesim_agent::event::Hop;

use super::Backend;
use super::lifecycle::Endpoints;
use crate::report::{Finding, FindingKind, HopReport, Rotation, Severity, words};

/// The hops in path order, inside out.
pub const PATH: [Hop; 4] = [Hop::Pod, Hop::ClusterIp, Hop::NodePort, Hop::Lb];

/// Whether a backend passes at the end of the range: LB backends by their rotation, the plain
/// checks of the other hops by their last counted second.
fn passing(b: &Backend<'_>) -> Option<bool> {
    if b.history.key.hop == Hop::Lb {
        match b.rotation() {
            Rotation::In => return Some(true),
            Rotation::Out | Rotation::Mixed => return Some(false),
            Rotation::Unknown => {}
        }
    }
    b.failing().map(|f| !f)
}

/// The hops probed for the Service (the cluster's version; what-if versions change only the
/// LB's probe).
pub fn hops(backends: &[&Backend<'_>]) -> Vec<HopReport> {
    PATH.iter()
        .filter_map(|hop| {
            let of_hop: Vec<&&Backend<'_>> = backends
                .iter()
                .filter(|b| b.history.key.hop == *hop && !b.history.key.version.what_if)
                .collect();
            if of_hop.is_empty() {
                return None;
            }
            let states: Vec<Option<bool>> = of_hop.iter().map(|b| passing(b)).collect();
            let reasons: BTreeSet<String> = of_hop
                .iter()
                .filter(|b| passing(b) == Some(false))
                .filter_map(|b| {
                    let run = b.runs.last()?;
                    run.outcome.as_deref().map(words::outcome)
                })
                .collect();
            Some(HopReport {
                hop: hop.as_str().to_owned(),
                backends: of_hop.len(),
                passing: states.iter().filter(|s| **s == Some(true)).count(),
                failing: states.iter().filter(|s| **s == Some(false)).count(),
                unknown: states.iter().filter(|s| s.is_none()).count(),
                reasons: reasons.into_iter().collect(),
            })
        })
        .collect()
}

/// The first hop that fails while the ones before it pass.
pub fn first_failing(hops: &[HopReport]) -> Option<&HopReport> {
    hops.iter().find(|h| h.failing > 0)
}

/// The hop as the edge a user checks: `pod -> Service` for a ClusterIP that fails.
pub fn edge(hop: &str) -> &'static str {
    match hop {
        "pod" => "the pod itself (pod IP:targetPort)",
        "cluster-ip" => "pod → Service",
        "node-port" => "Service → NodePort",
        _ => "NodePort → LB probe",
    }
}

fn advice(hop: &HopReport, endpoints: Option<&Endpoints>) -> Option<String> {
    let no_endpoints = endpoints.is_some_and(|e| e.ready == Some(0));
    let refused = hop.reasons.iter().any(|r| r == "connection refused");
    Some(match hop.hop.as_str() {
        "pod" if refused => {
            "nothing listens on the targetPort: check the Service's targetPort against the \
             container's port"
                .to_owned()
        }
        "pod" => "the container does not answer on its targetPort: check the app".to_owned(),
        "cluster-ip" if no_endpoints => {
            "make the selector match the pods' labels, or the pods ready".to_owned()
        }
        "cluster-ip" => "check the Service's port, targetPort and endpoints".to_owned(),
        "node-port" => "check kube-proxy's NodePort rules, externalTrafficPolicy Local \
                        (no ready pod on the node) and NetworkPolicies"
            .to_owned(),
        _ => "the LB's probe differs from the traffic (path, port, protocol), or a \
              NetworkPolicy or NSG drops the LB's source address"
            .to_owned(),
    })
}

/// "Service default/web has no ready endpoints: selector app=web-1 matches no pod; the first
/// failing hop is pod → Service".
pub fn findings(service: &str, hops: &[HopReport], endpoints: Option<&Endpoints>) -> Vec<Finding> {
    let mut out = Vec::new();
    let no_endpoints = endpoints.filter(|e| e.ready == Some(0));
    let first = first_failing(hops);
    if let Some(e) = no_endpoints {
        let why = match (&e.selector, e.total) {
            (Some(sel), Some(0) | None) => format!("selector {sel} matches no pod"),
            (_, Some(total)) => format!("none of its {total} endpoints is ready"),
            (None, None) => "no pod backs it".to_owned(),
        };
        let mut message = format!("Service {service} has no ready endpoints: {why}");
        if let Some(h) = first {
            message.push_str(&format!("; the first failing hop is {}", edge(&h.hop)));
        }
        out.push(Finding {
            severity: Severity::Error,
            kind: FindingKind::NoReadyEndpoints,
            message,
            advice: first.and_then(|h| advice(h, Some(e))),
        });
        return out;
    }
    // With the LB's probe alone there is no path to walk: its backends out are said elsewhere.
    if let Some(h) = first.filter(|_| hops.len() > 1) {
        let passed: Vec<&str> = hops
            .iter()
            .take_while(|x| x.hop != h.hop)
            .map(|x| x.hop.as_str())
            .collect();
        let mut message = format!(
            "the first failing hop is {} ({} of {} failing",
            edge(&h.hop),
            h.failing,
            h.backends
        );
        if !h.reasons.is_empty() {
            message.push_str(&format!(": {}", h.reasons.join(", ")));
        }
        message.push(')');
        if !passed.is_empty() {
            message.push_str(&format!("; {} pass", passed.join(", ")));
        }
        out.push(Finding {
            severity: if h.failing == h.backends {
                Severity::Error
            } else {
                Severity::Warning
            },
            kind: FindingKind::FirstFailingHop,
            message,
            advice: advice(h, endpoints),
        });
    }
    out
}
