//! Classic Load Balancer instance health (spec/aws-elb.md section 3), with the states and
//! descriptions of `describe-instance-health`.
//!
//! - Registered: `OutOfService`, "Instance registration is still in progress."; `healthy_threshold`
//!   consecutive passes -> `InService`.
//! - `unhealthy_threshold` consecutive failures -> `OutOfService`, "Instance has failed at least
//!   the UnhealthyThreshold number of health checks consecutively." (also before the first
//!   `InService`); `healthy_threshold` consecutive passes bring it back.
//! - Deregistered with connection draining (the spec's `deregistration_delay_s`; the legacy
//!   provider leaves it off): AWS reports `InService`, "Instance deregistration currently in
//!   progress." while in-flight requests finish, and routes no new requests to it; then
//!   `OutOfService`, "Instance is not currently registered with the LoadBalancer.". AWS ends the
//!   drain early when no request is in flight; the emulation cannot see them, so it drains for the
//!   whole timeout, the longest the CLB would. Without draining, or for an instance already out of
//!   service, deregistration is immediate.

use std::time::Duration;

use super::settings::DEFAULT_CLB_CONNECTION_DRAINING;
use super::{ClbHealthSettings, Deregistration, LbState, Status, Transition, transition};
use crate::lb::verdict::{Reason, Verdict};
use crate::model::{LbKind, ProbeSpec};

const REGISTERING: Status = Status::new(
    LbState::OutOfService,
    Some(Reason::InstanceRegistrationInProgress),
);
const IN_SERVICE: Status = Status::new(LbState::InService, None);
const FAILED: Status = Status::new(
    LbState::OutOfService,
    Some(Reason::InstanceFailedHealthChecks),
);
const DRAINING: Status = Status::new(
    LbState::InService,
    Some(Reason::InstanceDeregistrationInProgress),
);
const NOT_REGISTERED: Status =
    Status::new(LbState::OutOfService, Some(Reason::InstanceNotRegistered));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClbMachine {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    connection_draining: Duration,
    propagation_lag: Duration,
    status: Status,
    passes: u32,
    failures: u32,
    deregistration: Option<Deregistration>,
}

impl ClbMachine {
    pub fn new(spec: &ProbeSpec, settings: &ClbHealthSettings) -> ClbMachine {
        ClbMachine {
            healthy_threshold: spec.healthy_threshold.max(1),
            unhealthy_threshold: spec.unhealthy_threshold.max(1),
            connection_draining: spec
                .deregistration_delay_s
                .map_or(DEFAULT_CLB_CONNECTION_DRAINING, |s| {
                    Duration::from_secs(u64::from(s))
                }),
            propagation_lag: settings.propagation_lag,
            status: REGISTERING,
            passes: 0,
            failures: 0,
            deregistration: None,
        }
    }

    /// Counts a verdict at `at`, after applying the deadlines `at` passed. A verdict that is not
    /// counted is not an input at all: it does not even let time pass.
    pub fn observe(&mut self, at: Duration, verdict: Verdict) -> Option<Transition> {
        if !verdict.is_counted() {
            return None;
        }
        let before = self.status;
        let deadline = self.settle(at);
        if deadline.is_some() || self.deregistration.is_some() {
            return transition(before, self.status, deadline.unwrap_or(at));
        }
        match verdict {
            Verdict::NotCounted { .. } => {}
            Verdict::Success => {
                self.failures = 0;
                self.passes = self.passes.saturating_add(1);
                if self.status.state == LbState::OutOfService
                    && self.passes >= self.healthy_threshold
                {
                    self.status = IN_SERVICE;
                }
            }
            Verdict::Failure { .. } => {
                self.passes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.unhealthy_threshold {
                    self.status = FAILED;
                }
            }
        }
        transition(before, self.status, at)
    }

    pub fn tick(&mut self, at: Duration) -> Option<Transition> {
        let before = self.status;
        let when = self.settle(at).unwrap_or(at);
        transition(before, self.status, when)
    }

    pub fn deregister(&mut self, at: Duration) -> Option<Transition> {
        if self.deregistration.is_some() {
            return None;
        }
        let before = self.status;
        self.deregistration = Some(Deregistration {
            at,
            before: before.state,
            lag: self.propagation_lag,
        });
        self.status = if before.state == LbState::InService && !self.connection_draining.is_zero() {
            DRAINING
        } else {
            NOT_REGISTERED
        };
        self.passes = 0;
        self.failures = 0;
        transition(before, self.status, at)
    }

    pub fn register(&mut self, at: Duration) -> Option<Transition> {
        self.deregistration?;
        let before = self.status;
        self.status = REGISTERING;
        self.deregistration = None;
        self.passes = 0;
        self.failures = 0;
        transition(before, self.status, at)
    }

    /// Ends a connection drain whose timeout passed by `at`; returns when it ended.
    fn settle(&mut self, at: Duration) -> Option<Duration> {
        let d = self.deregistration?;
        let done = d.at.saturating_add(self.connection_draining);
        (self.status == DRAINING && at >= done).then(|| {
            self.status = NOT_REGISTERED;
            done
        })
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn lb(&self) -> LbKind {
        LbKind::Clb
    }

    pub fn is_registered(&self) -> bool {
        self.deregistration.is_none()
    }

    /// A deregistering instance stays `InService` but gets no new requests.
    pub fn receives_new_flows(&self, at: Duration) -> bool {
        match self.deregistration {
            Some(d) => d.propagating(at) && d.before.in_rotation(),
            None => self.status.state.in_rotation(),
        }
    }

    pub fn routing_state(&self, at: Duration) -> LbState {
        match self.deregistration {
            Some(d) if d.propagating(at) => d.before,
            Some(_) => LbState::OutOfService,
            None => self.status.state,
        }
    }

    pub fn next_deadline(&self, now: Duration) -> Option<Duration> {
        let d = self.deregistration?;
        let drained =
            (self.status == DRAINING).then(|| d.at.saturating_add(self.connection_draining));
        let lag = d.before.in_rotation().then(|| d.lag_ends());
        [drained, lag]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

#[cfg(test)]
mod tests;
