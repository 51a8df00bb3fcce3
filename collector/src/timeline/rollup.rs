//! One backend's results of one second, counted as they arrive: fixed arrays indexed by outcome
//! kind and latency bucket, so that adding a result is a few increments and two rollups of the
//! same second merge by addition (in memory and in SQL).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use probesim_agent::event::ProbeResult;
use probesim_agent::lb::outcome::{LocalFailure, Outcome};
use probesim_agent::lb::verdict::Verdict;

use crate::model::{LATENCY_BUCKETS_MS, Rollup};

/// Number of outcome kinds ([`Outcome::KINDS`]).
pub const OUTCOME_SLOTS: usize = Outcome::KINDS.len();
/// Number of latency buckets: one per bound of [`LATENCY_BUCKETS_MS`] plus the overflow bucket.
pub const LATENCY_SLOTS: usize = LATENCY_BUCKETS_MS.len() + 1;

/// The counts of one (backend, second).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupAcc {
    pub successes: u64,
    pub failures: u64,
    pub not_counted: u64,
    /// Indexed like [`Outcome::KINDS`].
    pub outcomes: [u64; OUTCOME_SLOTS],
    /// Indexed like [`LATENCY_BUCKETS_MS`], then the overflow bucket.
    pub latency: [u64; LATENCY_SLOTS],
    /// Sum of the probes' durations in microseconds (for the `/metrics` histogram's `_sum`).
    pub latency_sum_us: u64,
}

impl Default for RollupAcc {
    fn default() -> Self {
        RollupAcc {
            successes: 0,
            failures: 0,
            not_counted: 0,
            outcomes: [0; OUTCOME_SLOTS],
            latency: [0; LATENCY_SLOTS],
            latency_sum_us: 0,
        }
    }
}

impl RollupAcc {
    pub fn add(&mut self, result: &ProbeResult) {
        match result.verdict {
            Verdict::Success => self.successes += 1,
            Verdict::Failure { .. } => self.failures += 1,
            Verdict::NotCounted { .. } => self.not_counted += 1,
        }
        self.outcomes[outcome_slot(result.measurement.outcome)] += 1;
        let total = result.measurement.timings.total;
        self.latency[latency_slot(total)] += 1;
        self.latency_sum_us = self
            .latency_sum_us
            .saturating_add(u64::try_from(total.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: &RollupAcc) {
        self.successes += other.successes;
        self.failures += other.failures;
        self.not_counted += other.not_counted;
        for (a, b) in self.outcomes.iter_mut().zip(&other.outcomes) {
            *a += b;
        }
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            *a += b;
        }
        self.latency_sum_us = self.latency_sum_us.saturating_add(other.latency_sum_us);
    }

    pub fn total(&self) -> u64 {
        self.successes + self.failures + self.not_counted
    }

    /// The model's view of these counts: outcomes by name, most common first (ties in the order
    /// of [`Outcome::KINDS`]), without zeros.
    pub fn to_rollup(&self, second: u64) -> Rollup {
        let mut outcomes: Vec<(String, u64)> = Outcome::KINDS
            .iter()
            .zip(&self.outcomes)
            .filter(|(_, n)| **n > 0)
            .map(|(kind, n)| ((*kind).to_owned(), *n))
            .collect();
        outcomes.sort_by_key(|o| std::cmp::Reverse(o.1));
        Rollup {
            second,
            successes: self.successes,
            failures: self.failures,
            not_counted: self.not_counted,
            outcomes,
            latency: self.latency.to_vec(),
        }
    }
}

/// The slot of an outcome's kind in [`Outcome::KINDS`], without comparing strings.
pub fn outcome_slot(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Connected => 0,
        Outcome::TlsEstablished => 1,
        Outcome::Refused => 2,
        Outcome::Reset { .. } => 3,
        Outcome::Closed => 4,
        Outcome::Timeout { .. } => 5,
        Outcome::Unreachable => 6,
        Outcome::HttpStatus(_) => 7,
        Outcome::TlsFailed => 8,
        Outcome::Malformed => 9,
        Outcome::GrpcStatus { .. } => 10,
        Outcome::Local(local) => match local {
            LocalFailure::EphemeralPortsExhausted => 11,
            LocalFailure::ProcessFdLimit => 12,
            LocalFailure::SystemFdLimit => 13,
            LocalFailure::NoRoute => 14,
            LocalFailure::Cancelled => 15,
            LocalFailure::Other => 16,
        },
    }
}

/// The bucket of a probe's duration: the first bound it does not exceed (Prometheus `le`).
pub fn latency_slot(duration: Duration) -> usize {
    let us = duration.as_micros();
    LATENCY_BUCKETS_MS
        .iter()
        .position(|&bound_ms| us <= u128::from(bound_ms) * 1000)
        .unwrap_or(LATENCY_BUCKETS_MS.len())
}

/// The whole second (since the epoch) a moment falls in; moments before the epoch fall in 0.
pub fn second_of(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_slot_points_at_the_outcomes_own_kind_name() {
        use probesim_agent::lb::outcome::Phase;
        let outcomes = [
            Outcome::Connected,
            Outcome::TlsEstablished,
            Outcome::Refused,
            Outcome::Reset {
                phase: Phase::Response,
            },
            Outcome::Closed,
            Outcome::Timeout {
                phase: Phase::Connect,
            },
            Outcome::Unreachable,
            Outcome::HttpStatus(503),
            Outcome::TlsFailed,
            Outcome::Malformed,
            Outcome::GrpcStatus { code: 0, http: 200 },
            Outcome::Local(LocalFailure::EphemeralPortsExhausted),
            Outcome::Local(LocalFailure::ProcessFdLimit),
            Outcome::Local(LocalFailure::SystemFdLimit),
            Outcome::Local(LocalFailure::NoRoute),
            Outcome::Local(LocalFailure::Cancelled),
            Outcome::Local(LocalFailure::Other),
        ];
        assert_eq!(outcomes.len(), OUTCOME_SLOTS);
        for outcome in outcomes {
            assert_eq!(Outcome::KINDS[outcome_slot(outcome)], outcome.kind());
        }
    }

    #[test]
    fn latency_slot_follows_prometheus_le_semantics_at_every_bound() {
        let table = [
            (Duration::ZERO, 0),
            (Duration::from_micros(1000), 0),
            (Duration::from_micros(1001), 1),
            (Duration::from_millis(5), 2),
            (Duration::from_millis(30_000), 13),
            (Duration::from_millis(30_001), 14),
            (Duration::from_secs(3600), 14),
        ];
        for (duration, slot) in table {
            assert_eq!(latency_slot(duration), slot, "{duration:?}");
        }
    }
}
