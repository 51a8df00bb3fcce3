//! Node targets (Azure, CLB, ALB/NLB instance mode): the windows in which a node stayed in
//! rotation while it could not serve (spec/scenarios.md S6).
//!
//! A node cannot serve from the onset of a failure run of its LB probe (with
//! externalTrafficPolicy Local the health-check node port answers 503 once no local pod is
//! ready), of its `node-port` hop (the traffic port itself), or from the node's deletion, until
//! that run ends. Per virtual prober, the window lasts until its LB stops sending new requests
//! (a health change out of rotation, or a deregistration's propagation lag), or until the node
//! can serve again; one still open at the end of the range is counted to the end and marked.
//!
//! Windows are per LB backend, so per probe source; a node's `node-port` hop counts for the LB
//! backends of its own source (the LB's address may be dropped where the node's passes), or
//! for every source when that source has no such hop (the real LB's observed probes).

use std::time::{Duration, SystemTime};

use probesim_agent::event::Hop;
use probesim_agent::model::TargetKind;

use super::Backend;
use super::onset::{onset, second};
use crate::report::{NodeWindowReport, Stats, words};

/// One interval in which the node could not serve.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Unable {
    from: SystemTime,
    to: Option<SystemTime>,
    cause: String,
}

pub fn windows(
    b: &Backend<'_>,
    node_ports: &[&Backend<'_>],
    node_deleted: Option<SystemTime>,
    lag: Duration,
    range_end: SystemTime,
) -> Vec<NodeWindowReport> {
    let key = &b.history.key;
    if key.hop != Hop::Lb || key.target_kind != TargetKind::Node {
        return Vec::new();
    }
    // The deletion first: at equal moments it is the cause to name.
    let mut unable: Vec<Unable> = node_deleted
        .map(|at| Unable {
            from: at,
            to: None,
            cause: "the node was deleted".to_owned(),
        })
        .into_iter()
        .collect();
    unable.extend(failing(b, "the LB probe"));
    let on_node: Vec<&&Backend<'_>> = node_ports
        .iter()
        .filter(|n| n.history.key.node == key.node)
        .collect();
    let same_source = on_node.iter().any(|n| n.history.key.source == key.source);
    for np in on_node
        .into_iter()
        .filter(|n| !same_source || n.history.key.source == key.source)
    {
        unable.extend(failing(np, "the NodePort"));
    }
    merge(unable)
        .into_iter()
        .filter_map(|u| window(b, u, lag, range_end))
        .collect()
}

fn failing(b: &Backend<'_>, what: &str) -> Vec<Unable> {
    b.runs
        .iter()
        .filter(|r| r.after_success)
        .map(|r| Unable {
            from: onset(r, b.history).at,
            to: r.end.map(second),
            cause: format!(
                "{what} fails ({})",
                words::outcome(r.outcome.as_deref().unwrap_or("failure"))
            ),
        })
        .collect()
}

/// Overlapping intervals become one, with the cause of the earliest.
fn merge(mut unable: Vec<Unable>) -> Vec<Unable> {
    unable.sort_by_key(|u| u.from);
    let mut merged: Vec<Unable> = Vec::new();
    for u in unable {
        match merged.last_mut() {
            Some(last) if last.to.is_none_or(|to| u.from <= to) => {
                last.to = match (last.to, u.to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            _ => merged.push(u),
        }
    }
    merged
}

fn window(
    b: &Backend<'_>,
    u: Unable,
    lag: Duration,
    range_end: SystemTime,
) -> Option<NodeWindowReport> {
    let mut samples = Vec::new();
    let mut open = false;
    for p in &b.probers {
        let end = match (p.routing_ends(u.from, lag, None), u.to) {
            (Some(end), Some(to)) => end.min(to),
            (Some(end), None) => end,
            (None, Some(to)) => to,
            (None, None) if p.routed_at(u.from, lag, None).is_none() => continue,
            (None, None) => {
                open = true;
                range_end
            }
        };
        samples.push(end.duration_since(u.from).unwrap_or_default());
    }
    let in_rotation = Stats::of(samples)?;
    (!in_rotation.max.is_zero()).then(|| NodeWindowReport {
        node: b.history.key.node.clone(),
        lb: b.history.key.lb,
        port: b.history.key.port,
        source: b.history.key.source,
        from: u.from,
        cause: u.cause,
        in_rotation,
        open,
    })
}
