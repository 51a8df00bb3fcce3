//! When a backend stopped answering: the first failed probe of a failure run.
//!
//! What is taken, precisely: the rollups say in which second the first failed probe of a run
//! started (a run is the counted rollups from the first one holding a failure up to the next
//! one holding none). That second is the moment, with a resolution of one second. A virtual
//! prober that leaves rotation inside the run sharpens it: its LB needed `n` consecutive
//! failures one interval apart (`n` is the unhealthy threshold; 1 for an Azure HTTP probe that
//! got an answer, since those decide at once), so its first failure was at
//! `change - (n - 1) * interval`; the earliest such estimate that falls inside the rollup's
//! second is taken, with a resolution of one probe period (interval / K). The backend really
//! stopped at most one probe period before its first failed probe.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use probesim_agent::model::{LbKind, ProbeSpec};

use super::rotation::is_health_exit;
use crate::model::{BackendHistory, Rollup};

/// Resolution of a moment taken from the rollups alone: they are per second.
pub const ROLLUP_RESOLUTION: Duration = Duration::from_secs(1);

/// Consecutive seconds holding failures, in the backend's rollups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The second of the first failed probe.
    pub start: u64,
    /// The first later second whose probes all passed; `None` while still failing.
    pub end: Option<u64>,
    /// Whether a passed probe came before (in an earlier second, or the same one): only then
    /// is `start` the moment the backend stopped, not the start of what is known.
    pub after_success: bool,
    /// The most common outcome kind of the failed probes' first second that is not a plain
    /// success kind.
    pub outcome: Option<String>,
}

/// A moment something stopped, and how precisely it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Onset {
    pub at: SystemTime,
    pub resolution: Duration,
}

/// Outcome kinds that only successes have (`Outcome::kind`).
const SUCCESS_KINDS: [&str; 2] = ["connected", "tls_established"];

pub fn second(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

pub fn second_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// The failure runs of `rollups` (in time order), in time order.
pub fn runs(rollups: &[Rollup]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut current: Option<Run> = None;
    let mut seen_success = false;
    for r in rollups.iter().filter(|r| r.successes + r.failures > 0) {
        match current.take() {
            None if r.failures > 0 => {
                current = Some(Run {
                    start: r.second,
                    end: None,
                    after_success: seen_success || r.successes > 0,
                    outcome: failure_outcome(r),
                });
            }
            None => {}
            Some(mut run) if r.failures == 0 => {
                run.end = Some(r.second);
                runs.push(run);
            }
            Some(run) => current = Some(run),
        }
        seen_success |= r.successes > 0;
    }
    runs.extend(current);
    runs
}

fn failure_outcome(r: &Rollup) -> Option<String> {
    r.outcomes
        .iter()
        .filter(|(kind, _)| !SUCCESS_KINDS.contains(&kind.as_str()))
        .max_by_key(|(_, n)| *n)
        .map(|(kind, _)| kind.clone())
}

/// Failures a prober of `spec` needed before leaving rotation with a change whose reason is
/// `no_answer` (a timeout) or not.
fn failures_needed(spec: &ProbeSpec, no_answer: bool) -> u32 {
    if spec.lb == LbKind::AzureLb && spec.protocol.is_http_like() && !no_answer {
        1
    } else {
        spec.unhealthy_threshold.max(1)
    }
}

/// The moment the run's first failed probe started (see the module's documentation).
pub fn onset(run: &Run, b: &BackendHistory) -> Onset {
    let start = second(run.start);
    let next = start + ROLLUP_RESOLUTION;
    let interval = Duration::from_secs(u64::from(b.spec.interval_s));
    let run_end = run.end.map(second);
    let estimate = b
        .changes
        .iter()
        .filter(|c| is_health_exit(c) && c.at >= start && run_end.is_none_or(|e| c.at < e))
        .filter_map(|c| {
            let no_answer = c.reason.is_some_and(|r| r.is_no_answer());
            let n = failures_needed(&b.spec, no_answer);
            c.at.checked_sub(interval * (n - 1))
        })
        .filter(|t| *t >= start && *t < next)
        .min();
    match estimate {
        Some(at) => Onset {
            at,
            resolution: probe_period(b),
        },
        None => Onset {
            at: start,
            resolution: ROLLUP_RESOLUTION,
        },
    }
}

/// The time between two probes of a backend: the interval spread over K virtual probers.
pub fn probe_period(b: &BackendHistory) -> Duration {
    Duration::from_secs(u64::from(b.spec.interval_s)) / b.probers.max(1)
}
