//! The LB state machines: verdicts in, states and transitions with the cloud's reason codes out.
//!
//! One machine per LB family, each a pure value driven by explicit inputs (a verdict, a
//! deregistration, a tick) with the time of the input; nothing here reads a clock. Times are
//! [`Duration`]s since any origin the caller keeps fixed, and inputs must come in time order.
//!
//! - [`azure`]: Azure Load Balancer (`down`/`up`), spec/azure-lb.md section 2;
//! - [`elbv2`]: ALB and NLB target health (`initial`, `healthy`, `unhealthy`, `draining`,
//!   `unused`, `unavailable`), spec/aws-elb.md sections 1, 2 and 5;
//! - [`clb`]: Classic LB instance health (`InService`/`OutOfService`), spec/aws-elb.md section 3.
//!
//! [`HealthMachine`] wraps the three so the engine can hold one per virtual prober without
//! caring which LB it emulates. Every input returns at most one [`Transition`]: when an input
//! both passes a deadline and carries a verdict, the transition goes from the state before the
//! input to the state after it. A [`Verdict::NotCounted`] never changes anything.

pub mod azure;
pub mod clb;
pub mod elbv2;
pub mod flap;
pub mod settings;

use std::fmt;
use std::time::Duration;

pub use azure::AzureMachine;
pub use clb::ClbMachine;
pub use elbv2::Elbv2Machine;
pub use settings::*;

use crate::lb::verdict::{Reason, Verdict};
use crate::model::{LbKind, ProbeSpec};
use flap::FlapCounter;

/// A backend's state as its LB names it. The names are the clouds' own (Azure's up/down, AWS's
/// target health states, CLB's instance states), lowercase for the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LbState {
    /// Azure: not in rotation.
    Down,
    /// Azure: in rotation.
    Up,
    /// ALB/NLB: registered, not yet judged.
    Initial,
    Healthy,
    Unhealthy,
    /// ALB/NLB: deregistered, existing connections drain.
    Draining,
    /// ALB/NLB: not registered (any more).
    Unused,
    /// ALB/NLB: health checks are disabled; the target is routed to.
    Unavailable,
    /// CLB: in rotation (also while a deregistration drains, see [`ClbMachine`]).
    InService,
    OutOfService,
}

impl LbState {
    pub const ALL: [LbState; 10] = [
        LbState::Down,
        LbState::Up,
        LbState::Initial,
        LbState::Healthy,
        LbState::Unhealthy,
        LbState::Draining,
        LbState::Unused,
        LbState::Unavailable,
        LbState::InService,
        LbState::OutOfService,
    ];

    /// The stable name for the wire and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LbState::Down => "down",
            LbState::Up => "up",
            LbState::Initial => "initial",
            LbState::Healthy => "healthy",
            LbState::Unhealthy => "unhealthy",
            LbState::Draining => "draining",
            LbState::Unused => "unused",
            LbState::Unavailable => "unavailable",
            LbState::InService => "in-service",
            LbState::OutOfService => "out-of-service",
        }
    }

    /// Whether the state, taken alone, lets the LB send new flows to the backend. The machines
    /// refine this with what the state does not say (a CLB deregistration that drains while
    /// `InService`, the propagation lag): see [`HealthMachine::receives_new_flows`].
    pub fn in_rotation(self) -> bool {
        matches!(
            self,
            LbState::Up | LbState::Healthy | LbState::Unavailable | LbState::InService
        )
    }

    /// Whether an ALB/NLB target in this state is registered, so that it counts for fail-open.
    pub fn is_registered_target(self) -> bool {
        matches!(
            self,
            LbState::Initial | LbState::Healthy | LbState::Unhealthy | LbState::Unavailable
        )
    }

    /// Whether a backend in this state gets new flows, given whether its target group fails open
    /// ([`fail_open`]): then unhealthy targets are routed to as well.
    pub fn routed(self, fail_open: bool) -> bool {
        self.in_rotation() || (fail_open && self == LbState::Unhealthy)
    }
}

impl fmt::Display for LbState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ALB and NLB fail open: when every registered target of a target group is unhealthy, the LB
/// routes to all of them regardless of health (spec/aws-elb.md section 1; the NLB guide says the
/// same of targets failing in all zones). `initial`, `healthy` and `unavailable` targets prevent
/// it; draining and unused ones do not count; an empty group has nothing to route to. States of
/// other LBs are ignored: Azure (`AllProbedDown`) and CLB do not fail open.
pub fn fail_open(states: impl IntoIterator<Item = LbState>) -> bool {
    let mut unhealthy = false;
    for state in states {
        match state {
            LbState::Unhealthy => unhealthy = true,
            s if s.is_registered_target() => return false,
            _ => {}
        }
    }
    unhealthy
}

/// A state and the reason the cloud shows with it (none for `healthy`, `up`, `InService`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status {
    pub state: LbState,
    pub reason: Option<Reason>,
}

impl Status {
    pub const fn new(state: LbState, reason: Option<Reason>) -> Status {
        Status { state, reason }
    }
}

/// A change of a machine's status. `from` and `to` are equal when only the reason changed
/// (`initial`: `Elb.RegistrationInProgress` -> `Elb.InitialHealthChecking`; CLB `InService`
/// while deregistering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transition {
    pub from: LbState,
    pub to: LbState,
    /// The reason shown with the new state.
    pub reason: Option<Reason>,
    /// When the LB would make the change: the input's time, or the deadline an input passed.
    pub at: Duration,
}

/// The transition between two statuses, if they differ.
fn transition(before: Status, after: Status, at: Duration) -> Option<Transition> {
    (before != after).then_some(Transition {
        from: before.state,
        to: after.state,
        reason: after.reason,
        at,
    })
}

/// A deregistration in progress or done: when it started and what the data plane acted on
/// before it, which it keeps acting on for the propagation lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deregistration {
    at: Duration,
    before: LbState,
    lag: Duration,
}

impl Deregistration {
    fn lag_ends(&self) -> Duration {
        self.at.saturating_add(self.lag)
    }

    fn propagating(&self, at: Duration) -> bool {
        at < self.lag_ends()
    }
}

/// The state machine of one virtual prober, whichever LB it emulates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthMachine {
    machine: Machine,
    flips: FlapCounter,
    flapping: FlapSettings,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Machine {
    Azure(AzureMachine),
    Elbv2(Elbv2Machine),
    Clb(ClbMachine),
}

macro_rules! each {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            Machine::Azure($m) => $body,
            Machine::Elbv2($m) => $body,
            Machine::Clb($m) => $body,
        }
    };
}

impl HealthMachine {
    /// The machine of `spec`'s LB for a backend that enters the LB (pool or target group) at
    /// `at`.
    pub fn for_spec(spec: &ProbeSpec, settings: &EmulationSettings, at: Duration) -> HealthMachine {
        let machine = match spec.lb {
            LbKind::AzureLb => Machine::Azure(AzureMachine::new(spec, &settings.azure)),
            LbKind::Alb => Machine::Elbv2(Elbv2Machine::new(spec, &settings.alb, at)),
            LbKind::Nlb => Machine::Elbv2(Elbv2Machine::new(spec, &settings.nlb, at)),
            LbKind::Clb => Machine::Clb(ClbMachine::new(spec, &settings.clb)),
        };
        HealthMachine {
            machine,
            flips: FlapCounter::default(),
            flapping: settings.flapping,
        }
    }

    /// Counts one probe's verdict at `at`.
    pub fn observe(&mut self, at: Duration, verdict: Verdict) -> Option<Transition> {
        let t = each!(&mut self.machine, m => m.observe(at, verdict))?;
        // Only health moves a backend in and out of rotation here; deregistration is not a flap.
        if t.from.in_rotation() != t.to.in_rotation() && self.is_registered() {
            self.flips.record(t.at);
        }
        Some(t)
    }

    /// Lets time pass to `at`: ends drains and registrations whose deadline passed.
    pub fn tick(&mut self, at: Duration) -> Option<Transition> {
        each!(&mut self.machine, m => m.tick(at))
    }

    /// The backend leaves the LB at `at` (pod deleted, node removed). Azure backend pools have
    /// no deregistration states, so an Azure machine ignores it.
    pub fn deregister(&mut self, at: Duration) -> Option<Transition> {
        each!(&mut self.machine, m => m.deregister(at))
    }

    /// The backend enters the LB again at `at` after a deregistration.
    pub fn register(&mut self, at: Duration) -> Option<Transition> {
        each!(&mut self.machine, m => m.register(at))
    }

    pub fn status(&self) -> Status {
        each!(&self.machine, m => m.status())
    }

    pub fn state(&self) -> LbState {
        self.status().state
    }

    pub fn reason(&self) -> Option<Reason> {
        self.status().reason
    }

    pub fn lb(&self) -> LbKind {
        each!(&self.machine, m => m.lb())
    }

    /// Whether the backend is registered (not deregistering or deregistered).
    pub fn is_registered(&self) -> bool {
        each!(&self.machine, m => m.is_registered())
    }

    /// Whether the LB would still send new flows to the backend at `at`, the propagation lag
    /// after a deregistration included. Fail-open is a target group's matter: see
    /// [`HealthMachine::routed`].
    pub fn receives_new_flows(&self, at: Duration) -> bool {
        each!(&self.machine, m => m.receives_new_flows(at))
    }

    /// The state the LB's data plane acts on at `at`: during the propagation lag after a
    /// deregistration, the state before it. This is what a target group's [`fail_open`] is
    /// computed from.
    pub fn routing_state(&self, at: Duration) -> LbState {
        each!(&self.machine, m => m.routing_state(at))
    }

    /// Whether the backend gets new flows at `at`, given whether its target group fails open.
    pub fn routed(&self, at: Duration, fail_open: bool) -> bool {
        self.receives_new_flows(at) || (fail_open && self.routing_state(at) == LbState::Unhealthy)
    }

    /// The first time after `now` at which [`HealthMachine::tick`] or
    /// [`HealthMachine::receives_new_flows`] changes without any other input: a registration, a
    /// drain or a propagation lag ending. Call `tick(now)` first so that deadlines up to `now`
    /// are applied.
    pub fn next_deadline(&self, now: Duration) -> Option<Duration> {
        each!(&self.machine, m => m.next_deadline(now))
    }

    /// Health flips into or out of rotation within the flapping window up to `at`.
    pub fn flips(&self, at: Duration) -> u32 {
        self.flips.count(at, self.flapping.window)
    }

    /// Whether the backend flipped in and out of rotation often enough to call it flapping.
    pub fn is_flapping(&self, at: Duration) -> bool {
        self.flips.is_flapping(at, &self.flapping)
    }
}

impl From<Elbv2Machine> for HealthMachine {
    /// Wraps a machine built directly, e.g. [`Elbv2Machine::without_health_checks`], with the
    /// default flapping settings.
    fn from(machine: Elbv2Machine) -> HealthMachine {
        HealthMachine {
            machine: Machine::Elbv2(machine),
            flips: FlapCounter::default(),
            flapping: FlapSettings::default(),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
