//! ALB and NLB target health (spec/aws-elb.md sections 1, 2 and 5).
//!
//! - Registered: `initial` with `Elb.RegistrationInProgress`; once registration is done (after
//!   [`Elbv2HealthSettings::registration_delay`]) health checks count and the reason becomes
//!   `Elb.InitialHealthChecking`.
//! - `initial` -> `healthy` after [`Elbv2HealthSettings::initial_passes`] consecutive passes
//!   (ALB: one; NLB: configurable); `unhealthy_threshold` consecutive failures -> `unhealthy`
//!   with the reason of the failure that crossed the threshold.
//! - `healthy` -> `unhealthy` after `unhealthy_threshold` consecutive failures; `unhealthy` ->
//!   `healthy` after `healthy_threshold` consecutive passes. Any opposite verdict resets a count.
//! - Deregistered: `draining` (`Target.DeregistrationInProgress`) for exactly the deregistration
//!   delay, then `unused` (`Target.NotRegistered`). New requests keep arriving for the
//!   propagation lag after the deregistration started, if the target was routed to before.
//! - Without health checks: `unavailable` (`Target.HealthCheckDisabled`), routed to.

use std::time::Duration;

use super::settings::DEFAULT_DEREGISTRATION_DELAY;
use super::{Deregistration, Elbv2HealthSettings, LbState, Status, Transition, transition};
use crate::lb::verdict::{Reason, Verdict};
use crate::model::{LbKind, ProbeSpec};

const REGISTERING: Status = Status::new(LbState::Initial, Some(Reason::ElbRegistrationInProgress));
const CHECKING: Status = Status::new(LbState::Initial, Some(Reason::ElbInitialHealthChecking));
const HEALTHY: Status = Status::new(LbState::Healthy, None);
const DRAINING: Status = Status::new(
    LbState::Draining,
    Some(Reason::TargetDeregistrationInProgress),
);
const UNUSED: Status = Status::new(LbState::Unused, Some(Reason::TargetNotRegistered));
const UNAVAILABLE: Status = Status::new(
    LbState::Unavailable,
    Some(Reason::TargetHealthCheckDisabled),
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elbv2Machine {
    lb: LbKind,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    initial_passes: u32,
    registration_delay: Duration,
    deregistration_delay: Duration,
    propagation_lag: Duration,
    health_checks: bool,
    status: Status,
    passes: u32,
    failures: u32,
    registered_at: Duration,
    deregistration: Option<Deregistration>,
}

impl Elbv2Machine {
    /// A target registered at `at` in `spec`'s target group.
    pub fn new(spec: &ProbeSpec, settings: &Elbv2HealthSettings, at: Duration) -> Elbv2Machine {
        let healthy_threshold = spec.healthy_threshold.max(1);
        Elbv2Machine {
            lb: spec.lb,
            healthy_threshold,
            unhealthy_threshold: spec.unhealthy_threshold.max(1),
            initial_passes: settings.initial_passes.count(healthy_threshold),
            registration_delay: settings.registration_delay,
            deregistration_delay: spec
                .deregistration_delay_s
                .map_or(DEFAULT_DEREGISTRATION_DELAY, |s| {
                    Duration::from_secs(u64::from(s))
                }),
            propagation_lag: settings.propagation_lag,
            health_checks: true,
            status: REGISTERING,
            passes: 0,
            failures: 0,
            registered_at: at,
            deregistration: None,
        }
    }

    /// A target registered at `at` in a target group whose health checks are disabled.
    pub fn without_health_checks(
        spec: &ProbeSpec,
        settings: &Elbv2HealthSettings,
        at: Duration,
    ) -> Elbv2Machine {
        Elbv2Machine {
            health_checks: false,
            status: UNAVAILABLE,
            ..Elbv2Machine::new(spec, settings, at)
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
        let settled = self.status;
        self.count(verdict);
        let when = if self.status != settled {
            at
        } else {
            deadline.unwrap_or(at)
        };
        transition(before, self.status, when)
    }

    pub fn tick(&mut self, at: Duration) -> Option<Transition> {
        let before = self.status;
        let when = self.settle(at).unwrap_or(at);
        transition(before, self.status, when)
    }

    /// Starts draining a registered target. Draining or unused targets are not registered.
    pub fn deregister(&mut self, at: Duration) -> Option<Transition> {
        let before = self.status;
        if let Some(drained) = self.settle(at)
            && !self.status.state.is_registered_target()
        {
            return transition(before, self.status, drained);
        }
        if !self.status.state.is_registered_target() {
            return None;
        }
        self.deregistration = Some(Deregistration {
            at,
            before: self.status.state,
            lag: self.propagation_lag,
        });
        self.status = DRAINING;
        self.passes = 0;
        self.failures = 0;
        transition(before, self.status, at)
    }

    /// Registers a draining or unused target again: it starts over in `initial`.
    pub fn register(&mut self, at: Duration) -> Option<Transition> {
        self.deregistration?;
        let before = self.status;
        self.status = if self.health_checks {
            REGISTERING
        } else {
            UNAVAILABLE
        };
        self.registered_at = at;
        self.deregistration = None;
        self.passes = 0;
        self.failures = 0;
        transition(before, self.status, at)
    }

    /// Applies the deadlines passed by `at`; returns the deadline if one changed the status.
    fn settle(&mut self, at: Duration) -> Option<Duration> {
        if self.status == REGISTERING {
            let done = self.registered_at.saturating_add(self.registration_delay);
            if at >= done {
                self.status = CHECKING;
                return Some(done);
            }
        }
        if let (true, Some(d)) = (self.status == DRAINING, self.deregistration) {
            let done = d.at.saturating_add(self.deregistration_delay);
            if at >= done {
                self.status = UNUSED;
                return Some(done);
            }
        }
        None
    }

    /// Counts a verdict in the states where health checks count.
    fn count(&mut self, verdict: Verdict) {
        let state = self.status.state;
        let checking =
            self.status == CHECKING || matches!(state, LbState::Healthy | LbState::Unhealthy);
        if !checking {
            return;
        }
        match verdict {
            Verdict::NotCounted { .. } => {}
            Verdict::Success => {
                self.failures = 0;
                self.passes = self.passes.saturating_add(1);
                let needed = match state {
                    LbState::Initial => self.initial_passes,
                    LbState::Unhealthy => self.healthy_threshold,
                    _ => return,
                };
                if self.passes >= needed {
                    self.status = HEALTHY;
                }
            }
            Verdict::Failure { reason } => {
                self.passes = 0;
                self.failures = self.failures.saturating_add(1);
                if state != LbState::Unhealthy && self.failures >= self.unhealthy_threshold {
                    self.status = Status::new(LbState::Unhealthy, Some(reason));
                }
            }
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn lb(&self) -> LbKind {
        self.lb
    }

    pub fn is_registered(&self) -> bool {
        self.deregistration.is_none()
    }

    pub fn receives_new_flows(&self, at: Duration) -> bool {
        self.routing_state(at).in_rotation()
    }

    pub fn routing_state(&self, at: Duration) -> LbState {
        match self.deregistration {
            Some(d) if d.propagating(at) => d.before,
            _ => self.status_at(at).state,
        }
    }

    /// The status `tick(at)` would leave, without changing the machine.
    fn status_at(&self, at: Duration) -> Status {
        let mut later = *self;
        later.settle(at);
        later.status
    }

    pub fn next_deadline(&self, now: Duration) -> Option<Duration> {
        let registered = (self.status == REGISTERING)
            .then(|| self.registered_at.saturating_add(self.registration_delay));
        let drained = match self.deregistration {
            Some(d) if self.status == DRAINING => {
                Some(d.at.saturating_add(self.deregistration_delay))
            }
            _ => None,
        };
        let lag = self
            .deregistration
            .filter(|d| d.before.in_rotation())
            .map(|d| d.lag_ends());
        [registered, drained, lag]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

#[cfg(test)]
mod tests;
