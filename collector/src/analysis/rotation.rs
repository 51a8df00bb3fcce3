//! Each virtual prober's view of a backend: its LB state over time, and whether its LB sends new
//! requests (the propagation lag after a deregistration included).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use probesim_agent::event::StateChange;
use probesim_agent::lb::health::LbState;
use probesim_agent::model::LbKind;

use crate::model::{BackendHistory, History};

/// The state a new backend starts in before any probe counts (the agent's machines: Azure
/// starts down, ALB/NLB `initial`, CLB `OutOfService`).
pub fn initial_state(lb: LbKind) -> LbState {
    match lb {
        LbKind::AzureLb => LbState::Down,
        LbKind::Alb | LbKind::Nlb => LbState::Initial,
        LbKind::Clb => LbState::OutOfService,
    }
}

/// The state in which an LB of this kind routes to a backend.
pub fn serving_state(lb: LbKind) -> LbState {
    match lb {
        LbKind::AzureLb => LbState::Up,
        LbKind::Alb | LbKind::Nlb => LbState::Healthy,
        LbKind::Clb => LbState::InService,
    }
}

/// Whether a change takes a backend out of rotation because of its health (not a
/// deregistration).
pub fn is_health_exit(c: &StateChange) -> bool {
    c.from.in_rotation()
        && !c.to.in_rotation()
        && !matches!(c.to, LbState::Draining | LbState::Unused)
}

/// One virtual prober's changes, in time order, and the state it had before the first of them
/// when that is known.
#[derive(Clone, Debug)]
pub struct Prober<'a> {
    pub index: u32,
    pub changes: Vec<&'a StateChange>,
    /// The state before the first change: its `from`, else the machine's initial state for a
    /// backend first seen inside the range, else unknown.
    pub start: Option<LbState>,
}

/// The backend's virtual probers (`0..K`, plus any index a change names beyond K).
pub fn probers<'a>(b: &'a BackendHistory, history: &History) -> Vec<Prober<'a>> {
    let mut by_index: BTreeMap<u32, Vec<&'a StateChange>> =
        (0..b.probers).map(|i| (i, Vec::new())).collect();
    for c in &b.changes {
        by_index.entry(c.prober).or_default().push(c);
    }
    let seen_inside = history.from.is_none_or(|from| b.first_seen >= from);
    by_index
        .into_iter()
        .map(|(index, mut changes)| {
            changes.sort_by_key(|c| c.at);
            let start = match changes.first() {
                Some(c) => Some(c.from),
                None => seen_inside.then(|| initial_state(b.key.lb)),
            };
            Prober {
                index,
                changes,
                start,
            }
        })
        .collect()
}

/// A deregistration and the state the data plane keeps acting on during the propagation lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deregistered {
    pub at: SystemTime,
    pub before: LbState,
}

impl Prober<'_> {
    /// The state at `t`: after the last change at or before `t`.
    pub fn state_at(&self, t: SystemTime) -> Option<LbState> {
        match self.changes.iter().rev().find(|c| c.at <= t) {
            Some(c) => Some(c.to),
            None => self.start,
        }
    }

    /// The state just before `t`: after the last change strictly before `t`.
    pub fn state_before(&self, t: SystemTime) -> Option<LbState> {
        match self.changes.iter().rev().find(|c| c.at < t) {
            Some(c) => Some(c.to),
            None => self.start,
        }
    }

    pub fn last_state(&self) -> Option<LbState> {
        self.changes.last().map(|c| c.to).or(self.start)
    }

    /// The first change into rotation at or after `t`.
    pub fn entered_rotation_after(&self, t: SystemTime) -> Option<&StateChange> {
        self.changes
            .iter()
            .find(|c| c.at >= t && !c.from.in_rotation() && c.to.in_rotation())
            .copied()
    }

    /// The first health change out of rotation at or after `t`.
    pub fn left_rotation_after(&self, t: SystemTime) -> Option<&StateChange> {
        self.changes
            .iter()
            .find(|c| c.at >= t && is_health_exit(c))
            .copied()
    }

    /// The deregistration in force at `t`: the prober's own `draining` change, else `fallback`
    /// (when the LB deregistered the target although the agent's machine did not), unless the
    /// target was registered again after it.
    fn deregistered_at(&self, t: SystemTime, fallback: Option<SystemTime>) -> Option<Deregistered> {
        let own = self.changes.iter().any(|c| c.to == LbState::Draining);
        let mut fallback = fallback.filter(|_| !own);
        let mut state = self.start;
        let mut dereg = None;
        for c in self.changes.iter().filter(|c| c.at <= t) {
            if let Some(d) = fallback.filter(|d| *d <= c.at) {
                dereg = dereg.or(state.map(|before| Deregistered { at: d, before }));
                fallback = None;
            }
            if c.to == LbState::Draining {
                dereg = dereg.or(Some(Deregistered {
                    at: c.at,
                    before: c.from,
                }));
            } else if matches!(c.from, LbState::Draining | LbState::Unused)
                && c.to != LbState::Unused
            {
                dereg = None;
            }
            state = Some(c.to);
        }
        if let Some(d) = fallback.filter(|d| *d <= t) {
            dereg = dereg.or(state.map(|before| Deregistered { at: d, before }));
        }
        dereg
    }

    /// Whether this prober's LB sends new requests at `t`: during `lag` after a deregistration
    /// it keeps acting on the state before it. Fail-open (every target unhealthy) is not
    /// modelled here: it is a target group's matter and a rollout keeps healthy targets.
    pub fn routed_at(
        &self,
        t: SystemTime,
        lag: Duration,
        fallback: Option<SystemTime>,
    ) -> Option<bool> {
        match self.deregistered_at(t, fallback) {
            Some(d) => Some(t < d.at + lag && d.before.in_rotation()),
            None => self.state_at(t).map(LbState::in_rotation),
        }
    }

    /// When this prober's LB stops sending new requests, looking from `t` on: `t` itself if it
    /// does not send at `t`, `None` if it still sends at the end of what is known.
    pub fn routing_ends(
        &self,
        t: SystemTime,
        lag: Duration,
        fallback: Option<SystemTime>,
    ) -> Option<SystemTime> {
        if !self.routed_at(t, lag, fallback)? {
            return Some(t);
        }
        let mut candidates: Vec<SystemTime> = self.changes.iter().map(|c| c.at).collect();
        candidates.extend(fallback);
        let own = self.changes.iter().filter(|c| c.to == LbState::Draining);
        candidates.extend(own.map(|c| c.at + lag));
        candidates.extend(fallback.map(|d| d + lag));
        candidates.retain(|c| *c > t);
        candidates.sort();
        candidates
            .into_iter()
            .find(|c| self.routed_at(*c, lag, fallback) == Some(false))
    }
}

#[cfg(test)]
mod tests;
