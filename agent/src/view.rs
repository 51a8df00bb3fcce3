//! The LB's view of each target: every probe judged by the LB's success rule, and one state
//! machine per virtual prober. This is where measuring (the engine) meets deciding (the LB
//! semantics); it owns no I/O and no clock of its own: times come from the records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::engine::{ProbeRecord, TargetId};
use crate::lb::health::{EmulationSettings, HealthMachine, LbState, Transition};
use crate::lb::verdict::{self, Reason, Verdict};
use crate::model::ProbeSpec;

/// One probe, judged.
#[derive(Clone, Copy, Debug)]
pub struct Judged {
    pub verdict: Verdict,
    /// The change this probe caused in its virtual prober's LB state, if any.
    pub transition: Option<Transition>,
    /// When the probe's answer (or timeout) arrived, on the view's clock.
    pub at: Duration,
}

/// How the K virtual probers of one target see it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSummary {
    /// Virtual probers that have completed at least one probe; only they are summarised.
    pub probers: u32,
    /// Virtual probers of the target (K).
    pub configured: u32,
    /// Probers per state, most common first.
    pub states: Vec<(LbState, u32)>,
    /// The earliest and latest moment a prober entered its current state, per state.
    pub since: Vec<(LbState, Duration, Duration)>,
    /// Probers whose state flips often.
    pub flapping: u32,
}

impl TargetSummary {
    /// The one state all probers agree on, if they do.
    pub fn unanimous(&self) -> Option<LbState> {
        match self.states.as_slice() {
            [(state, n)] if *n == self.probers => Some(*state),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct TargetView {
    spec: Arc<ProbeSpec>,
    added: Duration,
    machines: Vec<HealthMachine>,
    /// When each prober entered its current state; `None` until its first probe.
    since: Vec<Option<Duration>>,
}

/// The LB view of all targets, on a clock that starts at `epoch`.
#[derive(Debug)]
pub struct LbView {
    epoch: Instant,
    epoch_wall: SystemTime,
    settings: EmulationSettings,
    targets: HashMap<TargetId, TargetView>,
}

impl LbView {
    pub fn new(settings: EmulationSettings) -> LbView {
        LbView {
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            settings,
            targets: HashMap::new(),
        }
    }

    /// The view's clock at `instant`.
    pub fn at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.epoch)
    }

    /// The wall-clock time of a moment on the view's clock.
    pub fn wall(&self, at: Duration) -> SystemTime {
        self.epoch_wall + at
    }

    /// A backend enters the LB now. Its machines start with its first probe result, when the
    /// number of virtual probers is known.
    pub fn add(&mut self, id: TargetId, spec: Arc<ProbeSpec>) {
        let added = self.at(Instant::now());
        self.targets.insert(
            id,
            TargetView {
                spec,
                added,
                machines: Vec::new(),
                since: Vec::new(),
            },
        );
    }

    pub fn remove(&mut self, id: TargetId) {
        self.targets.remove(&id);
    }

    pub fn spec(&self, id: TargetId) -> Option<&Arc<ProbeSpec>> {
        self.targets.get(&id).map(|t| &t.spec)
    }

    /// Judges one probe and feeds its virtual prober's machine. `None` for a target the view
    /// does not know (removed while its probe was in flight).
    pub fn observe(&mut self, record: &ProbeRecord) -> Option<Judged> {
        let completed = record.due + record.lateness + record.measurement.timings.total;
        let at = self.at(completed);
        let settings = &self.settings;
        let target = self.targets.get_mut(&record.target)?;
        if target.machines.len() != record.probers as usize {
            let machine = HealthMachine::for_spec(&target.spec, settings, target.added);
            target.machines = vec![machine; record.probers as usize];
            target.since = vec![None; record.probers as usize];
        }
        let verdict = verdict::judge(&target.spec, &record.measurement.outcome);
        let prober = record.prober as usize;
        let machine = target.machines.get_mut(prober)?;
        let transition = machine.observe(at, verdict);
        let since = &mut target.since[prober];
        match &transition {
            Some(t) => *since = Some(t.at),
            None if since.is_none() => *since = Some(target.added),
            None => {}
        }
        Some(Judged {
            verdict,
            transition,
            at,
        })
    }

    /// The backend leaves the LB at `at` (ALB/NLB: its drain starts): each prober's transition.
    pub fn deregister(&mut self, id: TargetId, at: Duration) -> Vec<(u32, Transition)> {
        self.each_machine(id, |m| m.deregister(at))
    }

    /// The backend enters the LB again at `at` after a deregistration.
    pub fn register(&mut self, id: TargetId, at: Duration) -> Vec<(u32, Transition)> {
        self.each_machine(id, |m| m.register(at))
    }

    /// Lets time pass to `at` for every backend: drains and registrations whose deadline
    /// passed end. Returns each change with its backend and prober.
    pub fn tick(&mut self, at: Duration) -> Vec<(TargetId, u32, Transition)> {
        let ids: Vec<TargetId> = self.targets.keys().copied().collect();
        let mut changes = Vec::new();
        for id in ids {
            for (prober, t) in self.each_machine(id, |m| m.tick(at)) {
                changes.push((id, prober, t));
            }
        }
        changes
    }

    /// Whether every prober of the backend has it out of the LB for good (`unused`), so that
    /// probing it can stop.
    pub fn fully_deregistered(&self, id: TargetId) -> bool {
        self.targets.get(&id).is_none_or(|t| {
            t.machines
                .iter()
                .all(|m| !m.is_registered() && m.state() == LbState::Unused)
        })
    }

    fn each_machine(
        &mut self,
        id: TargetId,
        mut f: impl FnMut(&mut HealthMachine) -> Option<Transition>,
    ) -> Vec<(u32, Transition)> {
        let Some(target) = self.targets.get_mut(&id) else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        for (prober, (machine, since)) in target
            .machines
            .iter_mut()
            .zip(&mut target.since)
            .enumerate()
        {
            if let Some(t) = f(machine) {
                *since = Some(t.at);
                changes.push((u32::try_from(prober).unwrap_or(u32::MAX), t));
            }
        }
        changes
    }

    /// One virtual prober's state and reason; `None` before its first probe.
    pub fn prober_status(&self, id: TargetId, prober: u32) -> Option<(LbState, Option<Reason>)> {
        let target = self.targets.get(&id)?;
        let machine = target.machines.get(prober as usize)?;
        Some((machine.state(), machine.reason()))
    }

    pub fn summary(&self, id: TargetId) -> Option<TargetSummary> {
        let target = self.targets.get(&id)?;
        let at = self.at(Instant::now());
        let mut states: Vec<(LbState, u32)> = Vec::new();
        let mut since: Vec<(LbState, Duration, Duration)> = Vec::new();
        let mut flapping = 0;
        for (machine, entered) in target.machines.iter().zip(&target.since) {
            let Some(entered) = entered else { continue };
            let state = machine.state();
            match states.iter_mut().find(|(s, _)| *s == state) {
                Some((_, n)) => *n += 1,
                None => states.push((state, 1)),
            }
            match since.iter_mut().find(|(s, _, _)| *s == state) {
                Some((_, lo, hi)) => {
                    *lo = (*lo).min(*entered);
                    *hi = (*hi).max(*entered);
                }
                None => since.push((state, *entered, *entered)),
            }
            flapping += u32::from(machine.is_flapping(at));
        }
        states.sort_by_key(|s| std::cmp::Reverse(s.1));
        Some(TargetSummary {
            probers: states.iter().map(|(_, n)| n).sum(),
            configured: u32::try_from(target.machines.len()).unwrap_or(u32::MAX),
            states,
            since,
            flapping,
        })
    }
}

#[cfg(test)]
mod tests;
