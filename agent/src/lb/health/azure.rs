//! Azure Load Balancer: a backend is `up` or `down` (spec/azure-lb.md section 2).
//!
//! - It starts down and the first successful probe marks it up.
//! - TCP: `probeThreshold` consecutive failures (timeout or RST) mark it down; once failures
//!   marked it down, `probeThreshold` consecutive successes bring it back
//!   ([`AzureHealthSettings`] makes both success counts configurable).
//! - HTTP(S): an explicit answer decides at once: 200 marks up, anything else (another status,
//!   a reset, a refused connection, a TLS failure, a malformed answer) marks down, and either
//!   resets the count. Only timeouts (no answer) count towards the threshold.
//!
//! Azure shows no reason for either state; the `down` reason here is the failure that caused it
//! (or [`Reason::AwaitingFirstSuccess`]) and stays until the backend is up again.

use std::time::Duration;

use super::{AzureHealthSettings, LbState, Status, Transition, transition};
use crate::lb::verdict::{Reason, Verdict};
use crate::model::{LbKind, ProbeSpec};

const INITIAL: Status = Status::new(LbState::Down, Some(Reason::AwaitingFirstSuccess));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AzureMachine {
    /// HTTP(S) rules (explicit answers decide at once) rather than TCP rules.
    http: bool,
    /// Consecutive counted failures that mark an up backend down.
    failures_to_down: u32,
    /// TCP: consecutive successes that end the initial down state.
    tcp_initial: u32,
    /// TCP: consecutive successes that end a down state caused by failures.
    tcp_recovery: u32,
    status: Status,
    /// Whether the backend was ever up, so that a down state was caused by failures.
    was_up: bool,
    successes: u32,
    /// Consecutive failures that count towards the threshold (HTTP: timeouts only).
    failures: u32,
}

impl AzureMachine {
    /// Azure has a single `probeThreshold`; the derivation puts it in both spec thresholds, and
    /// a hand-written spec may set them apart.
    pub fn new(spec: &ProbeSpec, settings: &AzureHealthSettings) -> AzureMachine {
        AzureMachine {
            http: spec.protocol.is_http_like(),
            failures_to_down: spec.unhealthy_threshold.max(1),
            tcp_initial: settings.tcp_initial_successes.count(spec.healthy_threshold),
            tcp_recovery: settings
                .tcp_recovery_successes
                .count(spec.healthy_threshold),
            status: INITIAL,
            was_up: false,
            successes: 0,
            failures: 0,
        }
    }

    pub fn observe(&mut self, at: Duration, verdict: Verdict) -> Option<Transition> {
        let before = self.status;
        match verdict {
            Verdict::NotCounted { .. } => return None,
            Verdict::Success => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.status.state == LbState::Down && self.successes >= self.successes_to_up() {
                    self.status = Status::new(LbState::Up, None);
                    self.was_up = true;
                }
            }
            Verdict::Failure { reason } => {
                self.successes = 0;
                if self.http && !reason.is_no_answer() {
                    self.failures = 0;
                    self.mark_down(reason);
                } else {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures >= self.failures_to_down {
                        self.mark_down(reason);
                    }
                }
            }
        }
        transition(before, self.status, at)
    }

    fn successes_to_up(&self) -> u32 {
        match (self.http, self.was_up) {
            (true, _) => 1,
            (false, false) => self.tcp_initial,
            (false, true) => self.tcp_recovery,
        }
    }

    fn mark_down(&mut self, reason: Reason) {
        if self.status.state == LbState::Up {
            self.status = Status::new(LbState::Down, Some(reason));
        }
    }

    /// Nothing in an Azure backend's state depends on time alone.
    pub fn tick(&mut self, _at: Duration) -> Option<Transition> {
        None
    }

    /// Azure backend pools have no deregistration states: a removed node is simply gone.
    pub fn deregister(&mut self, _at: Duration) -> Option<Transition> {
        None
    }

    pub fn register(&mut self, _at: Duration) -> Option<Transition> {
        None
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn lb(&self) -> LbKind {
        LbKind::AzureLb
    }

    pub fn is_registered(&self) -> bool {
        true
    }

    /// Down affects new flows only (established ones continue), and all-down means no new flows
    /// at all (`AllProbedDown`): up is exactly "receives new flows".
    pub fn receives_new_flows(&self, _at: Duration) -> bool {
        self.status.state == LbState::Up
    }

    pub fn routing_state(&self, _at: Duration) -> LbState {
        self.status.state
    }

    pub fn next_deadline(&self, _now: Duration) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests;
