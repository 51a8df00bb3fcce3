//! Drain exposure of terminating pods behind ALB/NLB pod targets, and whether their preStop and
//! terminationGracePeriodSeconds cover it (spec/scenarios.md S4).
//!
//! - Terminating: the delete request ([`super::lifecycle`]).
//! - Stopped accepting: the onset of the first failure run of the pod's LB backend that starts
//!   at or after Terminating; without one, that of its `pod` hop backend.
//! - The LB stops sending new requests, per virtual prober: its own health change out of
//!   rotation, or the end of the propagation lag after the deregistration. The deregistration
//!   is the prober's `draining` change; when the agent's machine has none, it is the moment the
//!   pod's endpoint left (terminating, not ready, removed; else Terminating) plus the
//!   controller's reaction time ([`super::AnalysisConfig::deregistration_reaction`]).
//! - Exposure: stopped accepting -> the LB stops sending, zero when the LB stopped first.
//!
//! One drain per LB backend, so per pod and probe source; the `pod` hop fallback takes the
//! hop of the same source when there is one. Which drains make findings is the Service's
//! choice (`analysis::primary_source`): a pod probed from two sources is one pod.

use std::time::{Duration, SystemTime};

use probesim_agent::event::Hop;
use probesim_agent::model::{LbKind, TargetKind};

use super::lifecycle::{Moments, PodMoments};
use super::onset::{self, Onset};
use super::{AnalysisConfig, Backend};
use crate::report::{PodDrainReport, Stats};

/// One pod's drain, measured on one of its LB backends.
#[derive(Clone, Debug)]
pub struct Drain {
    pub report: PodDrainReport,
    /// Per prober: stopped accepting -> the LB stops sending.
    pub exposure: Vec<Duration>,
}

/// The drain of the pod behind `b`, when `b` is an ALB/NLB pod target whose pod went
/// Terminating in the range. `pod_hops` are the backends probing the same Service's pods
/// directly.
pub fn drain(
    b: &Backend<'_>,
    pod_hops: &[&Backend<'_>],
    moments: &Moments,
    config: &AnalysisConfig,
) -> Option<Drain> {
    let key = &b.history.key;
    let eligible = key.hop == Hop::Lb
        && key.target_kind == TargetKind::Pod
        && matches!(key.lb, LbKind::Alb | LbKind::Nlb);
    if !eligible {
        return None;
    }
    let name = key.pod.as_ref()?;
    let pod = moments.pods.get(name)?;
    let term = pod.terminating.as_ref()?;
    let stopped = stopped_accepting(b, term.at).or_else(|| {
        let mut mine: Vec<&Backend<'_>> = pod_hops
            .iter()
            .copied()
            .filter(|h| h.history.key.pod.as_ref() == Some(name))
            .collect();
        mine.sort_by_key(|h| h.history.key.source != key.source);
        mine.into_iter().find_map(|h| stopped_accepting(h, term.at))
    });
    let lag = config.propagation_lag(key.lb);
    let fallback = Some(deregistration(pod, term.at) + config.deregistration_reaction);
    let mut ends = Vec::new();
    let mut open = 0;
    for p in &b.probers {
        match p.routing_ends(term.at, lag, fallback) {
            Some(end) => ends.push(end),
            None => open += 1,
        }
    }
    let after_term = |t: SystemTime| t.duration_since(term.at).unwrap_or_default();
    let lb_stops = Stats::of(ends.iter().map(|e| after_term(*e)).collect());
    let exposure: Vec<Duration> = match stopped {
        Some(s) => ends
            .iter()
            .map(|e| e.duration_since(s.at).unwrap_or_default())
            .collect(),
        None => Vec::new(),
    };
    let exposure_stats = Stats::of(exposure.clone());
    let needed_pre_stop_s = lb_stops.map(|s| ceil_secs(s.max));
    let needed_grace_period_s = needed_pre_stop_s.map(|n| n + ceil_secs(config.shutdown_headroom));
    let grace_short_by = match (needed_grace_period_s, term.grace_period_s) {
        (Some(needed), Some(grace)) => {
            Some(Duration::from_secs(needed.saturating_sub(u64::from(grace))))
        }
        _ => None,
    };
    let mut notes = Vec::new();
    if stopped.is_none() {
        notes.push(format!(
            "no failed probe after Terminating before probing ended{}",
            b.history
                .removed_at
                .map(|t| format!(" at {}", crate::report::words::clock(t)))
                .unwrap_or_default()
        ));
    }
    if open > 0 {
        notes.push(format!(
            "{open} of {} probers still send new requests at the end of the range",
            b.probers.len()
        ));
    }
    let report = PodDrainReport {
        pod: name.clone(),
        node: pod.node.clone(),
        lb: key.lb,
        source: key.source,
        terminating_at: term.at,
        grace_period_s: term.grace_period_s,
        pre_stop: term.pre_stop.clone(),
        stopped_accepting_after: stopped.map(|s| after_term(s.at)),
        lb_stops_sending_after: lb_stops,
        exposure: exposure_stats,
        covered: exposure_stats
            .filter(|_| open == 0)
            .map(|s| s.max.is_zero()),
        pre_stop_short_by: exposure_stats.map(|s| s.max),
        grace_short_by,
        needed_pre_stop_s,
        needed_grace_period_s,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    };
    Some(Drain { report, exposure })
}

/// The onset of the first failure run starting at or after `term` (its second).
fn stopped_accepting(b: &Backend<'_>, term: SystemTime) -> Option<Onset> {
    let term_second = onset::second_of(term);
    b.runs
        .iter()
        .find(|r| r.start >= term_second)
        .map(|r| onset::onset(r, b.history))
        .map(|o| Onset {
            at: o.at.max(term),
            ..o
        })
}

/// When the LB controller sees the endpoint leave: the endpoint event, else Terminating.
fn deregistration(pod: &PodMoments, term: SystemTime) -> SystemTime {
    pod.endpoint_leaves.unwrap_or(term).max(term)
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
