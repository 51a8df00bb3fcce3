//! Registration (pod Ready -> the LB marks it healthy) and detection (backend stopped
//! answering -> the LB marks it down), per virtual prober.

use std::time::Duration;

use probesim_agent::event::Hop;
use probesim_agent::model::TargetKind;

use super::Backend;
use super::lifecycle::Moments;
use super::onset::onset;

/// Per prober: its first entry into rotation minus the pod's first Ready moment in the range.
/// A prober whose LB had the pod in rotation before Ready (a target registered on containers
/// ready) counts as zero.
pub fn registration(b: &Backend<'_>, moments: &Moments) -> Vec<Duration> {
    let key = &b.history.key;
    if key.hop != Hop::Lb || key.target_kind != TargetKind::Pod {
        return Vec::new();
    }
    let Some(ready) = key
        .pod
        .as_ref()
        .and_then(|p| moments.pods.get(p))
        .and_then(|p| p.ready.first().copied())
    else {
        return Vec::new();
    };
    b.probers
        .iter()
        .filter_map(|p| {
            let entry = p
                .changes
                .iter()
                .find(|c| !c.from.in_rotation() && c.to.in_rotation())?;
            Some(entry.at.duration_since(ready).unwrap_or_default())
        })
        .collect()
}

/// Per failure run that followed a success, per prober that had the backend in rotation when
/// it stopped answering: the prober's first health change out of rotation during the run minus
/// the run's onset. Probers that never took it out (it was deregistered first, or recovered
/// in time) give no sample.
pub fn detection(b: &Backend<'_>) -> Vec<Duration> {
    if b.history.key.hop != Hop::Lb {
        return Vec::new();
    }
    let mut samples = Vec::new();
    for run in b.runs.iter().filter(|r| r.after_success) {
        let start = onset(run, b.history);
        let end = run.end.map(super::onset::second);
        for p in &b.probers {
            if p.state_before(start.at).is_some_and(|s| !s.in_rotation()) {
                continue;
            }
            if let Some(c) = p.left_rotation_after(start.at)
                && end.is_none_or(|e| c.at < e)
            {
                samples.push(c.at.duration_since(start.at).unwrap_or_default());
            }
        }
    }
    samples
}
