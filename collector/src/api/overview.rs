//! `GET /api/v1/overview`: the current LB view of every backend, grouped the way an operator
//! reads it (web UI's overview): per LB rule (LB, object, Service, port, hop) and probe source,
//! one column per Kubernetes version (the cluster's and the what-if ones) with counts per state,
//! a verdict and compact members. Built from the in-memory view only: cheap with thousands of
//! backends.
//!
//! The source is part of the group: the same rule probed from the node's address and from the
//! LB's (or seen as the real LB's probes, `observed`) is two readings of one rule, and merging
//! them would call a rule `partial` whose LB-source probes all fail while the node's all pass
//! (a NetworkPolicy that drops only the LB's address, spec/scenarios.md S2).

use std::collections::BTreeMap;

use probesim_agent::event::SourceMode;
use serde::Serialize;

use crate::store::BackendNow;
use crate::store::codec::ms;
use crate::timeline::BackendRowId;

/// One backend, as the overview lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub id: BackendRowId,
    pub node: String,
    pub target: String,
    pub pod: Option<String>,
    /// The state all probers agree on; `mixed` when they disagree, `unknown` before any change.
    pub state: &'static str,
    /// `in`, `out`, `mixed` or `unknown`: whether the LB sends new flows.
    pub rotation: &'static str,
    pub probers: u32,
    pub states: Vec<(&'static str, u32)>,
    pub reasons: Vec<(&'static str, u32)>,
    pub since_ms: Option<i64>,
}

/// The backends of one rule under one Kubernetes version.
#[derive(Debug, Serialize)]
pub struct VersionColumn {
    pub version: String,
    pub what_if: bool,
    /// The version whose backends these are, when this what-if version derives the same probe
    /// (the agent probes it once and declares it `also_for` this one): same members, same
    /// verdict, its own column all the same, so every version asked for has one.
    pub shared_with: Option<String>,
    /// The probe in words (`http 80/healthz every 5s`).
    pub probe: String,
    /// `ok` (all in rotation), `fails` (none), `partial`, `unknown` (no state yet).
    pub verdict: &'static str,
    pub counts: BTreeMap<&'static str, u32>,
    pub members: Vec<Member>,
}

/// One LB rule, as probed from one source.
#[derive(Debug, Serialize)]
pub struct Group {
    pub lb: String,
    pub object: String,
    pub service: String,
    pub port: i32,
    pub hop: String,
    pub target_kind: String,
    /// Where the probes come from: `node`, `lb-source`, `syn`, or `observed` (the real LB's
    /// probes, what it really got). Groups of one rule follow each other, in that order.
    pub source: &'static str,
    pub versions: Vec<VersionColumn>,
}

/// The overview of the current backends (removed ones are counted apart).
#[derive(Debug, Serialize)]
pub struct Overview {
    pub groups: Vec<Group>,
    pub backends: usize,
    pub removed: usize,
}

type GroupKey = (String, String, String, i32, String, String, SourceMode);

pub fn overview(backends: &[BackendNow]) -> Overview {
    let mut groups: BTreeMap<GroupKey, BTreeMap<(bool, String), VersionColumn>> = BTreeMap::new();
    let mut removed = 0;
    for b in backends {
        let row = &b.backend;
        if row.removed_at.is_some() {
            removed += 1;
            continue;
        }
        let k = &row.key;
        let group = groups
            .entry((
                k.service.to_string(),
                k.object.to_string(),
                k.lb.as_str().to_owned(),
                k.port,
                k.hop.as_str().to_owned(),
                k.target_kind.as_str().to_owned(),
                k.source,
            ))
            .or_default();
        let now = &b.now;
        let (state, rotation) = match now.unanimous() {
            Some(s) if now.probers == row.probers => {
                (s.as_str(), if s.in_rotation() { "in" } else { "out" })
            }
            _ if now.probers == 0 => ("unknown", "unknown"),
            _ => {
                let any_in = now.states.iter().any(|(s, _)| s.in_rotation());
                let all_in = now.states.iter().all(|(s, _)| s.in_rotation());
                let rotation = match (any_in, all_in) {
                    (true, true) if now.probers == row.probers => "in",
                    (false, _) => "out",
                    _ => "mixed",
                };
                ("mixed", rotation)
            }
        };
        let member = Member {
            id: row.id,
            node: k.node.clone(),
            target: k.target.to_string(),
            pod: k.pod.clone(),
            state,
            rotation,
            probers: row.probers,
            states: now.states.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            reasons: now.reasons.clone(),
            since_ms: now.since.iter().map(|(_, since, _)| ms(*since)).min(),
        };
        let own = (k.version.what_if, k.version.version.clone(), None);
        let shared = row
            .also_for
            .iter()
            .map(|v| (true, v.clone(), Some(k.version.version.clone())));
        for (what_if, version, shared_with) in std::iter::once(own).chain(shared) {
            let column = group
                .entry((what_if, version.clone()))
                .or_insert_with(|| VersionColumn {
                    version,
                    what_if,
                    shared_with: shared_with.clone(),
                    probe: probe_words(&row.spec),
                    verdict: "unknown",
                    counts: BTreeMap::new(),
                    members: Vec::new(),
                });
            // Backends of its own beside shared ones (declared at other times): not shared.
            if column.shared_with != shared_with {
                column.shared_with = None;
            }
            *column.counts.entry(state).or_default() += 1;
            column.members.push(member.clone());
        }
    }
    let groups = groups
        .into_iter()
        .map(
            |((service, object, lb, port, hop, target_kind, source), columns)| Group {
                lb,
                object,
                service,
                port,
                hop,
                target_kind,
                source: source.as_str(),
                versions: columns
                    .into_values()
                    .map(|mut c| {
                        c.verdict = verdict(&c.members);
                        c.members.sort_by(|a, b| {
                            (&a.pod, &a.node, &a.target).cmp(&(&b.pod, &b.node, &b.target))
                        });
                        c
                    })
                    .collect(),
            },
        )
        .collect();
    Overview {
        groups,
        backends: backends.len() - removed,
        removed,
    }
}

/// The verdict of a version's backends: whether the LB would keep sending to them.
pub fn verdict(members: &[Member]) -> &'static str {
    let count = |r: &str| members.iter().filter(|m| m.rotation == r).count();
    let (inside, out, unknown) = (count("in"), count("out"), count("unknown"));
    if members.is_empty() || unknown == members.len() {
        "unknown"
    } else if inside == members.len() {
        "ok"
    } else if out + unknown == members.len() {
        "fails"
    } else {
        "partial"
    }
}

fn probe_words(s: &probesim_agent::model::ProbeSpec) -> String {
    format!(
        "{} :{} {} every {}s",
        s.protocol.as_str(),
        s.port,
        s.path.as_deref().unwrap_or(""),
        s.interval_s
    )
}

#[cfg(test)]
mod tests;
