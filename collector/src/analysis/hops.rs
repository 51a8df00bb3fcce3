//! The path from the pod to the LB, inside out (spec/scenarios.md S3): pod IP:targetPort ->
//! ClusterIP:port -> NodePort on each node -> the LB's probe. The first hop whose backends
//! fail while the hops before it pass is where to look. Each probe source walks its own path:
//! from the LB's address a NetworkPolicy may drop what the node's own address gets through.

use std::collections::BTreeSet;

use probesim_agent::event::{Hop, SourceMode};

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
/// LB's probe), per source in source order, each in path order.
pub fn hops(backends: &[&Backend<'_>]) -> Vec<HopReport> {
    let sources: BTreeSet<SourceMode> = backends.iter().map(|b| b.history.key.source).collect();
    let paths = sources
        .into_iter()
        .flat_map(|source| PATH.iter().map(move |hop| (source, *hop)));
    paths
        .filter_map(|(source, hop)| {
            let of_hop: Vec<&&Backend<'_>> = backends
                .iter()
                .filter(|b| {
                    let k = &b.history.key;
                    k.hop == hop && k.source == source && !k.version.what_if
                })
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
                source,
                backends: of_hop.len(),
                passing: states.iter().filter(|s| **s == Some(true)).count(),
                failing: states.iter().filter(|s| **s == Some(false)).count(),
                unknown: states.iter().filter(|s| s.is_none()).count(),
                reasons: reasons.into_iter().collect(),
            })
        })
        .collect()
}

/// The first hop of `source`'s path that fails while the ones before it pass.
pub fn first_failing(hops: &[HopReport], source: SourceMode) -> Option<&HopReport> {
    hops.iter().find(|h| h.source == source && h.failing > 0)
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
/// failing hop is pod → Service". The path of `primary` (`analysis::primary_source`) is told
/// first; every other source's path that fails elsewhere gets its own finding, naming its
/// source.
pub fn findings(
    service: &str,
    hops: &[HopReport],
    endpoints: Option<&Endpoints>,
    primary: Option<SourceMode>,
) -> Vec<Finding> {
    let no_endpoints = endpoints.filter(|e| e.ready == Some(0));
    let first = primary.and_then(|p| first_failing(hops, p));
    if let Some(e) = no_endpoints {
        return vec![no_endpoints_finding(service, e, first)];
    }
    let Some(primary) = primary else {
        return Vec::new();
    };
    let sources: BTreeSet<SourceMode> = hops.iter().map(|h| h.source).collect();
    let several = sources.len() > 1;
    let mut order: Vec<SourceMode> = vec![primary];
    order.extend(sources.into_iter().filter(|s| *s != primary));
    let mut told: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for source in order {
        let path: Vec<HopReport> = hops
            .iter()
            .filter(|h| h.source == source)
            .cloned()
            .collect();
        let Some(h) = first_failing(&path, source) else {
            continue;
        };
        // Another source failing at the same hop says nothing new.
        if told.contains(&h.hop) {
            continue;
        }
        told.push(h.hop.clone());
        out.extend(path_finding(&path, h, endpoints, several.then_some(source)));
    }
    out
}

fn no_endpoints_finding(service: &str, e: &Endpoints, first: Option<&HopReport>) -> Finding {
    let why = match (&e.selector, e.total) {
        (Some(sel), Some(0) | None) => format!("selector {sel} matches no pod"),
        (_, Some(total)) => format!("none of its {total} endpoints is ready"),
        (None, None) => "no pod backs it".to_owned(),
    };
    let mut message = format!("Service {service} has no ready endpoints: {why}");
    if let Some(h) = first {
        message.push_str(&format!("; the first failing hop is {}", edge(&h.hop)));
    }
    Finding {
        severity: Severity::Error,
        kind: FindingKind::NoReadyEndpoints,
        message,
        advice: first.and_then(|h| advice(h, Some(e))),
    }
}

/// The first failing hop `h` of one source's `hops`, named with its source when `source` is
/// given. With the LB's probe alone there is no path to walk: its backends out are said
/// elsewhere.
fn path_finding(
    hops: &[HopReport],
    h: &HopReport,
    endpoints: Option<&Endpoints>,
    source: Option<SourceMode>,
) -> Option<Finding> {
    if hops.len() < 2 {
        return None;
    }
    let passed: Vec<&str> = hops
        .iter()
        .take_while(|x| x.hop != h.hop)
        .map(|x| x.hop.as_str())
        .collect();
    let from = source
        .map(|s| format!("{}: ", words::source(s)))
        .unwrap_or_default();
    let mut message = format!(
        "{from}the first failing hop is {} ({} of {} failing",
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
    Some(Finding {
        severity: if h.failing == h.backends {
            Severity::Error
        } else {
            Severity::Warning
        },
        kind: FindingKind::FirstFailingHop,
        message,
        advice: advice(h, endpoints),
    })
}
