//! What each Kubernetes version's LB probes do to a Service's backends: the cluster's own
//! version, and the what-if versions run beside it (spec/scenarios.md S1), per probe source:
//! the same rule probed from the node's and from the LB's address is two readings (S2: a
//! NetworkPolicy that drops only the LB's address fails one and passes the other), and the
//! real LB's observed probes are what it did, told apart from any emulation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use probesim_agent::event::{Hop, SourceMode};
use probesim_agent::explain::compare::path_fix;
use probesim_agent::lb::verdict::Reason;
use probesim_agent::model::{ProbeSpec, TargetKind};

use super::Backend;
use crate::report::{Finding, FindingKind, Rotation, Severity, VersionReport, words};

/// The health path ingress-nginx answers with 200 (its `/` answers 404: spec/scenarios.md S1).
pub const INGRESS_NGINX_HEALTH_PATH: &str = "/healthz";

/// The versions a backend's view stands for, as (what-if, version): its own, and the what-if
/// versions that derive the same probe, which the agent did not probe twice.
fn stands_for(b: &Backend<'_>) -> Vec<(bool, String)> {
    let k = &b.history.key;
    let mut versions = vec![(k.version.what_if, k.version.version.clone())];
    versions.extend(b.history.also_for.iter().map(|v| (true, v.clone())));
    versions
}

type VersionKey = (bool, String, String, i32, SourceMode);

/// One row per (version, LB, port, source) of the Service's LB backends.
pub fn versions(backends: &[&Backend<'_>]) -> Vec<VersionReport> {
    let mut groups: BTreeMap<VersionKey, Vec<&Backend<'_>>> = BTreeMap::new();
    for b in backends.iter().filter(|b| b.history.key.hop == Hop::Lb) {
        let k = &b.history.key;
        for (what_if, version) in stands_for(b) {
            groups
                .entry((what_if, version, k.lb.to_string(), k.port, k.source))
                .or_default()
                .push(b);
        }
    }
    groups
        .into_iter()
        .filter_map(|((what_if, version, _, _, source), group)| {
            let first = group.first()?;
            let key = &first.history.key;
            let spec = &first.history.spec;
            let rotations: Vec<Rotation> = group.iter().map(|b| b.rotation()).collect();
            let count = |r: Rotation| rotations.iter().filter(|x| **x == r).count();
            let out: Vec<&&Backend<'_>> = group
                .iter()
                .filter(|b| matches!(b.rotation(), Rotation::Out | Rotation::Mixed))
                .collect();
            let reasons: BTreeSet<String> = out.iter().filter_map(|b| out_reason(b)).collect();
            Some(VersionReport {
                version,
                what_if,
                lb: key.lb,
                port: key.port,
                source,
                probe: format!(
                    "{}, {}",
                    probesim_agent::explain::describe::what(spec),
                    probesim_agent::explain::describe::when(spec)
                ),
                target_kind: key.target_kind,
                backends: group.len(),
                in_rotation: count(Rotation::In),
                out_of_rotation: count(Rotation::Out),
                mixed: count(Rotation::Mixed),
                unknown: count(Rotation::Unknown),
                out_since: out.iter().filter_map(|b| b.out_since()).min(),
                reasons: reasons.into_iter().collect(),
            })
        })
        .collect()
}

/// Why a backend is out, with the probe: `HTTP 404 on GET /`.
pub fn out_reason(b: &Backend<'_>) -> Option<String> {
    let spec = &b.history.spec;
    let from_changes = b
        .probers
        .iter()
        .filter_map(|p| p.changes.last())
        .filter(|c| !c.to.in_rotation())
        .find_map(|c| c.reason.filter(|r| is_failure(*r)))
        .map(|r| words::reason(r, spec));
    let what = from_changes.or_else(|| {
        let run = b.runs.last().filter(|r| r.end.is_none())?;
        run.outcome.as_deref().map(words::outcome)
    })?;
    Some(format!("{what} on {}", words::probe(spec)))
}

/// Reasons that say a probe failed (not a registration or deregistration state).
fn is_failure(r: Reason) -> bool {
    !matches!(
        r,
        Reason::AwaitingFirstSuccess
            | Reason::ElbRegistrationInProgress
            | Reason::ElbInitialHealthChecking
            | Reason::TargetDeregistrationInProgress
            | Reason::TargetNotRegistered
            | Reason::TargetHealthCheckDisabled
            | Reason::InstanceRegistrationInProgress
            | Reason::InstanceDeregistrationInProgress
            | Reason::InstanceNotRegistered
    )
}

/// What one version does to the Service from one source, over its ports: targets out of all
/// targets.
struct Summary<'a> {
    version: String,
    source: SourceMode,
    spec: &'a ProbeSpec,
    kind: TargetKind,
    targets: BTreeSet<String>,
    out: BTreeSet<String>,
    since: Option<SystemTime>,
    reasons: BTreeSet<String>,
    status_mismatch: bool,
}

fn summaries<'a>(backends: &[&'a Backend<'a>], what_if: bool) -> Vec<Summary<'a>> {
    let mut by_version: BTreeMap<(String, SourceMode), Summary<'a>> = BTreeMap::new();
    let lb_views = backends.iter().filter(|b| b.history.key.hop == Hop::Lb);
    for (b, version) in lb_views.flat_map(|b| {
        stands_for(b)
            .into_iter()
            .filter(|(w, _)| *w == what_if)
            .map(move |(_, v)| (b, v))
    }) {
        let k = &b.history.key;
        let target = match k.target_kind {
            TargetKind::Node => k.node.clone(),
            TargetKind::Pod => k.pod.clone().unwrap_or_else(|| k.target.to_string()),
        };
        let s = by_version
            .entry((version.clone(), k.source))
            .or_insert_with(|| Summary {
                version,
                source: k.source,
                spec: &b.history.spec,
                kind: k.target_kind,
                targets: BTreeSet::new(),
                out: BTreeSet::new(),
                since: None,
                reasons: BTreeSet::new(),
                status_mismatch: false,
            });
        s.targets.insert(target.clone());
        if matches!(b.rotation(), Rotation::Out | Rotation::Mixed) {
            s.out.insert(target);
            s.since = match (s.since, b.out_since()) {
                (Some(a), Some(c)) => Some(a.min(c)),
                (a, c) => a.or(c),
            };
            if let Some(r) = out_reason(b) {
                s.status_mismatch |= r.starts_with("HTTP ") || r.starts_with("an HTTP status");
                s.reasons.insert(r);
            }
            if s.spec.protocol.is_http_like() {
                s.spec = &b.history.spec;
            }
        }
    }
    by_version.into_values().collect()
}

fn took_out(s: &Summary<'_>) -> String {
    let n = s.targets.len();
    let k = s.out.len();
    let which = if k == n && n > 1 {
        format!("all {n} {}", words::targets(s.kind, n))
    } else {
        format!("{k} of {n} {}", words::targets(s.kind, n))
    };
    let mut detail: Vec<String> = s.reasons.iter().cloned().collect();
    if let Some(since) = s.since {
        detail.push(format!("since {}", words::clock(since)));
    }
    if detail.is_empty() {
        format!("{which} out")
    } else {
        format!("{which} out ({})", detail.join(", "))
    }
}

/// S1 (a what-if version takes backends out) and the current version's backends out, per
/// source; S2 (the LB's address fails where the node's passes) in the advice.
pub fn findings(service: &str, backends: &[&Backend<'_>]) -> Vec<Finding> {
    let current = summaries(backends, false);
    let what_ifs = summaries(backends, true);
    let sources: BTreeSet<SourceMode> = current.iter().chain(&what_ifs).map(|s| s.source).collect();
    let several = sources.len() > 1;
    let mut out = Vec::new();
    for w in what_ifs.iter().filter(|s| !s.out.is_empty()) {
        let lb = words::lb_from(w.spec.lb, w.source, several);
        // Compared with the current probes from the same source, else with every current one.
        let same: Vec<&Summary<'_>> = current.iter().filter(|c| c.source == w.source).collect();
        let compared: Vec<&Summary<'_>> = if same.is_empty() {
            current.iter().collect()
        } else {
            same
        };
        let now = compared.iter().map(|c| {
            let from = if several && c.source != w.source {
                format!(" ({})", words::source(c.source))
            } else {
                String::new()
            };
            if c.out.is_empty() {
                format!("current {} probes healthy{from}", c.version)
            } else {
                format!("current {} probes take {}{from}", c.version, took_out(c))
            }
        });
        let mut message = format!("on {} {lb} would take {}", w.version, took_out(w));
        for n in now {
            message.push_str("; ");
            message.push_str(&n);
        }
        out.push(Finding {
            severity: Severity::Error,
            kind: FindingKind::WhatIfFailure,
            message,
            advice: path_advice(service, w),
        });
    }
    for c in current.iter().filter(|s| !s.out.is_empty()) {
        let all = c.out.len() == c.targets.len();
        let lb = words::lb_from(c.spec.lb, c.source, several);
        let verb = if c.source == SourceMode::Observed {
            "took"
        } else {
            "takes"
        };
        out.push(Finding {
            severity: if all {
                Severity::Error
            } else {
                Severity::Warning
            },
            kind: FindingKind::BackendsOut,
            message: format!("{lb} {verb} {}", took_out(c)),
            advice: source_note(c, &current)
                .or_else(|| local_policy_note(c))
                .or_else(|| path_advice(service, c)),
        });
    }
    out
}

/// S2: the LB's address fails on targets that pass from the node's own address, same version:
/// the probe is right, the path drops the LB's packets.
fn source_note(s: &Summary<'_>, all: &[Summary<'_>]) -> Option<String> {
    if s.source != SourceMode::LbSource {
        return None;
    }
    let node = all
        .iter()
        .find(|n| n.source == SourceMode::Node && n.version == s.version)?;
    let pass_from_node = s
        .out
        .iter()
        .any(|t| node.targets.contains(t) && !node.out.contains(t));
    pass_from_node.then(|| {
        "the same probes pass from the node's own address: a NetworkPolicy (or NSG / security \
         group) drops the LB's source address; allow it"
            .to_owned()
    })
}

/// Nodes out because kube-proxy's health-check node port answers 503 (externalTrafficPolicy
/// Local, no ready pod on the node) are out by design (spec/scenarios.md S3).
fn local_policy_note(s: &Summary<'_>) -> Option<String> {
    let local = s.kind == TargetKind::Node
        && s.reasons
            .iter()
            .any(|r| r.starts_with("HTTP 503 on GET /healthz"));
    local.then(|| {
        "expected with externalTrafficPolicy Local: a node without a ready pod of the Service \
         answers 503 on its health-check node port; spread the pods over more nodes to keep \
         more nodes in rotation"
            .to_owned()
    })
}

/// The fix for a probe path that answers with a status the LB rejects (the agent's own advice,
/// [`path_fix`]); `/healthz` where the Service looks like ingress-nginx.
fn path_advice(service: &str, s: &Summary<'_>) -> Option<String> {
    if !(s.status_mismatch && s.spec.protocol.is_http_like()) {
        return None;
    }
    let path = if service.contains("ingress-nginx") {
        INGRESS_NGINX_HEALTH_PATH
    } else {
        "<a path that answers 200>"
    };
    Some(format!("fix: {}", path_fix(s.spec.lb, path)))
}
